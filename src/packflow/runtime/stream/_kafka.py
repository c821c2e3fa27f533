"""Shared Kafka plumbing: the lazily required client, typed errors and how librdkafka errors are classified."""

from __future__ import annotations

import logging
from typing import Any

from packflow.exceptions import PackflowError

try:
    import confluent_kafka as ck
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError("packflow's Kafka driver needs confluent-kafka: pip install 'packflow[kafka]'") from exc

__all__ = [
    "KafkaStartError",
    "KafkaStreamError",
    "KafkaTransientError",
    "ck",
    "is_rebalance_error",
    "raise_for",
]

log = logging.getLogger("packflow.stream")


class KafkaStartError(PackflowError):
    """The cluster cannot be used at start-up (unreachable, topic missing, bad librdkafka setting)."""


class KafkaStreamError(PackflowError):
    """A non-retriable Kafka error while running (fenced producer, authorisation, fatal client error)."""


class KafkaTransientError(ConnectionError):
    """The cluster is unreachable or busy right now: the driver retries with backoff."""


_TRANSIENT_CODES = frozenset(
    getattr(ck.KafkaError, name)
    for name in (
        "_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_TIMED_OUT_QUEUE", "_MSG_TIMED_OUT", "_WAIT_COORD",
        "REQUEST_TIMED_OUT", "NETWORK_EXCEPTION", "COORDINATOR_NOT_AVAILABLE", "NOT_COORDINATOR",
        "COORDINATOR_LOAD_IN_PROGRESS", "LEADER_NOT_AVAILABLE", "NOT_LEADER_FOR_PARTITION",
        "_RESOLVE", "_QUEUE_FULL", "CONCURRENT_TRANSACTIONS",
    )
    if hasattr(ck.KafkaError, name)
)  # fmt: skip

#: Commit errors meaning "the partition moved to another consumer": skip the commit, never retry it.
_REBALANCE_CODES = frozenset(
    getattr(ck.KafkaError, name)
    for name in ("REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "_ASSIGNMENT_LOST", "FENCED_INSTANCE_ID")
    if hasattr(ck.KafkaError, name)
)


def _error_of(exc: BaseException) -> Any:
    return exc.args[0] if exc.args and isinstance(exc.args[0], ck.KafkaError) else None


def is_rebalance_error(exc: BaseException) -> bool:
    """True when a commit failed because the group rebalanced (the records will be re-read elsewhere)."""
    err = _error_of(exc)
    return err is not None and err.code() in _REBALANCE_CODES


def raise_for(exc: BaseException, doing: str) -> None:
    """Re-raise a librdkafka error as transient (retried) or as :class:`KafkaStreamError` (fatal)."""
    err = _error_of(exc)
    if err is None:
        raise exc
    if err.code() in _TRANSIENT_CODES or (err.retriable() and not err.fatal()):
        raise KafkaTransientError(f"{doing}: {err.str()}") from exc
    raise KafkaStreamError(f"{doing} failed: {err.str()} ({err.name()})") from exc
