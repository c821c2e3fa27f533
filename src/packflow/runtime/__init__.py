"""The runtime every driver shares: the Runner, dead letters, and the drivers built on them."""

from packflow.runtime.aio import RunnerClosedError, RunnerOverloadedError
from packflow.runtime.deadletter import DeadLetter, is_dead_letter
from packflow.runtime.isolation import BatchFailedError
from packflow.runtime.runner import Runner
from packflow.runtime.stats import RunnerSnapshot

__all__ = [
    "BatchFailedError",
    "DeadLetter",
    "Runner",
    "RunnerClosedError",
    "RunnerOverloadedError",
    "RunnerSnapshot",
    "is_dead_letter",
]
