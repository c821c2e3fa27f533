"""Backends only the Kafka tests run (loaded by file path: ``kafka_backends:Name``, cwd tests/kafka)."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from packflow import InferenceBackend


class Killer(InferenceBackend):
    """Kills its own process (SIGKILL: no clean-up, like a segfault) on a record with ``"kill": true``."""

    def execute(self, inputs: Any) -> Any:
        for record in inputs:
            if record.get("kill"):
                os.kill(os.getpid(), signal.SIGKILL)
        return [dict(record) for record in inputs]


class Echo(InferenceBackend):
    """Returns each record as it came, with what the driver put in its metadata field (if any)."""

    def execute(self, inputs: Any) -> Any:
        return [dict(record) for record in inputs]


class Gated(InferenceBackend):
    """Tags outputs with the pid; while the file named by ``PACKFLOW_TEST_GATE`` is missing, each batch
    first sleeps 0.2 s (so a test can have a second consumer join while work is left)."""

    def execute(self, inputs: Any) -> Any:
        gate = os.environ.get("PACKFLOW_TEST_GATE")
        if gate and not os.path.exists(gate):
            time.sleep(0.2)
        pid = os.getpid()
        return [{**record, "pid": pid} for record in inputs]
