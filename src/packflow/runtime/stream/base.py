"""The broker-neutral stream interface: a ``Source`` of batches and a ``Sink`` for their results.

A stream driver (:class:`packflow.runtime.stream.driver.StreamDriver`) repeats::

    batch = source.read(max_records, block_ms)          # records + what to acknowledge
    results = runner.process_batch(batch.records)       # outputs or DeadLetters, in order
    sink.write_and_ack(batch, results, source)          # outputs, dead letters, then the ack

Adding a broker (Kafka, NATS JetStream, ...) means writing one Source and one Sink; the Runner and
the driver stay as they are. See ``docs/stream.md``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

from packflow.exceptions import PackflowError

__all__ = ["Batch", "Rejected", "Sink", "SinkCounts", "Source", "WriteFailedError"]


class WriteFailedError(PackflowError):
    """A sink could not write some results; the inputs they came from were not acknowledged.

    ``acknowledged`` / ``unacknowledged``: how many input entries (ack units) were / were not
    acknowledged. Unacknowledged entries are delivered again; results of them that were written
    are then written again (duplicates), which the message says.
    """

    def __init__(self, message: str, acknowledged: int = 0, unacknowledged: int = 0) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged
        self.unacknowledged = unacknowledged


@dataclass(frozen=True)
class Rejected:
    """An input that holds no usable record; the driver dead-letters it (never retries it)."""

    #: The original payload as it came (bytes, or the entry's fields as a dict), None if it is gone.
    payload: Any
    #: Why it was rejected, and how to fix the producer.
    reason: str
    #: The dead-letter step: ``decode`` (unreadable) or ``deliver`` (delivered too often without an ack).
    step: str = "decode"


@dataclass
class Batch:
    """Records read in one go, where each came from, and what to acknowledge once they are written."""

    #: Decoded records (dicts) or :class:`Rejected` markers, in read order.
    records: list[Any]
    #: Position of each record: the entry id, or ``"<entry id>#<index>"`` inside a batch-packed entry.
    sources: list[str]
    #: Broker ids to acknowledge once the results of every record are written.
    ack_ids: list[Any]
    #: Whether any record is a Rejected marker (lets the driver skip a scan on the hot path).
    has_rejected: bool = False
    #: Anything else a Source needs to acknowledge the batch (offsets, message handles, ...).
    token: Any = field(default=None, repr=False)
    #: The entries were delivered before (delivery count >= 2) without being acknowledged: one of
    #: them may have killed a consumer. The driver runs each record in its own backend call. A
    #: Source should return suspects one ack unit (entry) per batch, so that a crash on one leaves
    #: the others' delivery counts untouched and only the killer reaches the delivery limit.
    suspect: bool = False
    #: Per record, what the Source received for it (opaque), so dead letters can hold the record
    #: *as received* rather than the backend's possibly mutated copy; see :meth:`original`.
    received: list[Any] | None = field(default=None, repr=False)
    #: ``original_of(received[i], sources[i])`` -> record ``i`` as received (bytes or a JSON value).
    original_of: Callable[[Any, Any], Any] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.records)

    def original(self, index: int) -> Any:
        """Record ``index`` as the Source received it (None when the Source does not say)."""
        if self.received is None or self.original_of is None:
            return None
        return self.original_of(self.received[index], self.sources[index])

    def extend(self, other: Batch) -> None:
        """Append another batch read from the same source (used to fill a batch up to its size)."""
        shared = self.sources is self.ack_ids  # one entry per record: one list serves both
        self.records.extend(other.records)
        self.sources.extend(other.sources)
        if not shared:
            self.ack_ids.extend(other.ack_ids)
        if self.received is not None and other.received is not None:
            self.received.extend(other.received)
        else:
            self.received = None
        self.has_rejected = self.has_rejected or other.has_rejected
        if other.token is not None:
            self.token = other.token if self.token is None else [self.token, other.token]


@dataclass
class SinkCounts:
    """What one ``write_and_ack`` wrote."""

    outputs: int = 0
    dead_letters: int = 0
    #: Dead letters the sink created itself (outputs that could not be encoded), by step.
    encode_failures: int = 0


class Source(ABC):
    """Where records come from: reads batches and acknowledges them once their results are written."""

    #: Exceptions that mean "the broker is unreachable right now": the driver retries with backoff.
    transient_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

    def open(self) -> None:
        """Prepare to read (connect, create the consumer group); called once before the first read."""

    @abstractmethod
    def read(self, max_records: int, block_ms: int) -> Batch | None:
        """Up to ``max_records`` records, waiting at most ``block_ms`` for the first; None if there are none.

        Includes records another consumer read but never acknowledged (after a crash), when the
        broker supports reclaiming them.
        """

    @abstractmethod
    def ack(self, batch: Batch) -> None:
        """Acknowledge every entry of ``batch``: it will not be delivered again."""

    def recover(self) -> None:
        """Called after a transient error once the broker answers again (re-read unacknowledged input)."""

    def settled(self) -> bool:
        """False while the source cannot hand out records for a reason of its own (e.g. a consumer
        group rebalancing): the driver's idle clock (``exit_when_idle``) does not run meanwhile."""
        return True

    def stats(self) -> dict[str, Any]:
        """Broker-side gauges for status and metrics, e.g. ``{"lag": 10, "pending": 64}``."""
        return {}

    def trace_parents(self, batch: Batch) -> list[str]:
        """The W3C ``traceparent`` values ``batch``'s entries carry (asked only when tracing is on)."""
        return []

    def close(self) -> None:
        """Release connections."""


class Sink(ABC):
    """Where results go: outputs to one destination, dead letters to another."""

    transient_errors: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)

    def open(self) -> None:
        """Check the destinations can be written (called once before the first read)."""

    @abstractmethod
    def write(self, batch: Batch, results: list[Any]) -> SinkCounts:
        """Write the result of each record of ``batch`` (an output dict or a DeadLetter), durably."""

    def write_and_ack(self, batch: Batch, results: list[Any], source: Source) -> SinkCounts:
        """Write the results, then acknowledge the inputs.

        The default writes, then acks: a crash in between re-delivers the batch (at-least-once).
        Sinks that share a broker with their source override this to do both atomically (Redis:
        one MULTI/EXEC; Kafka: one producer transaction with ``send_offsets_to_transaction``).
        """
        counts = self.write(batch, results)
        source.ack(batch)
        return counts

    def close(self) -> None:
        """Flush and release connections."""
