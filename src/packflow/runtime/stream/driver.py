"""``StreamDriver``: the loop tying a Source, the Runner and a Sink together, broker-neutral.

One batch at a time: read → process → write results and acknowledge inputs. Only then is the
next batch read, so at most ``min(batch_size, max_pending)`` records are in flight, a crash loses
nothing acknowledged-but-unwritten, and a stop request finishes the current batch first.
Transient broker errors are retried with exponential backoff; the source then re-reads what it
had read but not acknowledged (``Source.recover``).

Suspects: a batch the source marks ``suspect`` (entries delivered before without an ack, e.g. left
by a consumer that died) is run one record per backend call and committed before the next read,
so a record that kills the process takes only itself down: the others are written and
acknowledged one by one, and only the killer's delivery count grows until ``max_deliveries``
dead-letters it (step ``deliver``). Cost: one backend call and one commit per suspect entry, paid
only for entries that were pending when a consumer died (at most ``max_pending`` per death).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from packflow.exceptions import PackflowError
from packflow.runtime import tracing as _tracing
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.runner import Runner
from packflow.runtime.stream.base import Batch, Rejected, Sink, SinkCounts, Source

__all__ = ["DriverOptions", "DriverStats", "StreamDriver", "StreamUnavailableError"]

log = logging.getLogger("packflow.stream")

_ERROR_TYPES = {"decode": "DecodeError", "deliver": "DeliveryLimitError"}


class StreamUnavailableError(PackflowError):
    """The broker stayed unreachable after a stop was requested; unacknowledged input will be re-delivered."""


@dataclass
class DriverOptions:
    """How the driver batches, waits, retries and stops."""

    batch_size: int = 1000
    #: After the first record of a batch arrives, wait at most this long for the batch to fill.
    max_wait_ms: float = 5.0
    #: At most this many records read but not yet acknowledged.
    max_pending: int = 10_000
    #: Longest single blocking read (bounds how quickly a stop request is noticed when idle).
    poll_ms: int = 500
    #: Stop once no record has arrived for this many seconds (None: run until stopped).
    exit_when_idle: float | None = None
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 5.0
    #: After a stop request, keep retrying an unreachable broker this long before giving up.
    stop_grace_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_pending", "poll_ms"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {self.max_wait_ms!r}")


@dataclass
class DriverStats:
    """Running totals of one driver (read by the status line and the metrics endpoint)."""

    started: float = field(default_factory=time.monotonic)
    records: int = 0
    outputs: int = 0
    dead_letters: int = 0
    batches: int = 0
    retries: int = 0
    stopped_by: str = ""


class StreamDriver:
    """Run ``runner`` over everything ``source`` delivers, writing results to ``sink``."""

    def __init__(
        self,
        runner: Runner,
        source: Source,
        sink: Sink,
        options: DriverOptions | None = None,
        on_batch: Callable[[Batch, SinkCounts], None] | None = None,
    ) -> None:
        self.runner = runner
        self.source = source
        self.sink = sink
        self.options = options or DriverOptions()
        self.on_batch = on_batch
        self.stats = DriverStats()
        self._stop = threading.Event()
        self._stop_at: float | None = None
        self._transient = tuple({*source.transient_errors, *sink.transient_errors})
        self._needs_recovery = False
        self._carry: Batch | None = None  # a batch read while filling another that cannot join it

    def request_stop(self, reason: str = "stop requested") -> None:
        """Finish and acknowledge the current batch, then return from :meth:`run` (signal-safe)."""
        if not self._stop.is_set():
            self.stats.stopped_by = reason
            self._stop_at = time.monotonic()
            self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> DriverStats:
        """Process batches until a stop is requested or the input stays idle; returns the totals."""
        self._retry(self.source.open)
        self._retry(self.sink.open)
        last_record = time.monotonic()
        while not self._stop.is_set():
            batch = self._retry(self._read_batch, abandon_on_stop=True)
            if batch is None or not len(batch):
                if not self.source.settled():  # e.g. a rebalance: the input may be handed to us next
                    last_record = time.monotonic()
                    continue
                idle = self.options.exit_when_idle
                if idle is not None and time.monotonic() - last_record >= idle:
                    self.request_stop(f"idle for {idle:g}s")
                continue
            self._run_batch(batch)
            last_record = time.monotonic()
        return self.stats

    def _run_batch(self, batch: Batch) -> None:
        results = self._process(batch)
        counts = self._retry(lambda: self.sink.write_and_ack(batch, results, self.source))
        if counts.encode_failures:
            self.runner.record_dead_letter("encode", counts.encode_failures)
        stats = self.stats
        stats.records += len(batch)
        stats.outputs += counts.outputs
        stats.dead_letters += counts.dead_letters
        stats.batches += 1
        if self.on_batch is not None:
            self.on_batch(batch, counts)

    # -- reading --------------------------------------------------------------------------------

    def _read_batch(self) -> Batch | None:
        if self._carry is not None:
            carried, self._carry = self._carry, None
            return carried
        opts = self.options
        want = min(opts.batch_size, opts.max_pending)
        batch = self.source.read(want, opts.poll_ms)
        if batch is None or batch.suspect or len(batch) >= want or opts.max_wait_ms <= 0:
            return batch
        deadline = time.monotonic() + opts.max_wait_ms / 1000.0
        while len(batch) < want and not self._stop.is_set():
            left_ms = int((deadline - time.monotonic()) * 1000)
            more = self.source.read(want - len(batch), max(left_ms, 0)) if left_ms > 0 else None
            if not more:
                break
            if more.suspect:  # never mixed with fresh records: it runs alone, next
                self._carry = more
                break
            batch.extend(more)
        return batch

    # -- processing -----------------------------------------------------------------------------

    def _process(self, batch: Batch) -> list[Any]:
        parents = self.source.trace_parents(batch) if _tracing.OBSERVER is not None else None
        if not batch.has_rejected and not batch.suspect:  # every record is a dict the source decoded
            clean, dead = self.runner.process_batch_counted(
                batch.records, known_dicts=True, fresh=_fresh(batch, range(len(batch))), parents=parents
            )
            return self._as_received(batch, clean) if dead else clean
        records = batch.records
        keep = [i for i, r in enumerate(records) if type(r) is not Rejected]
        results: list[Any] = [None] * len(records)
        for i, out in zip(keep, self._run_records(batch, keep, parents)):
            results[i] = out
        self._as_received(batch, results)
        from packflow.runtime.codec import dead_letter  # lazily: the interface imports no JSON library

        rejected_steps: dict[str, int] = {}
        for i, r in enumerate(records):
            if type(r) is Rejected:
                error_type = _ERROR_TYPES.get(r.step, "RejectedError")
                results[i] = dead_letter(r.payload, r.step, error_type, message=r.reason, source=batch.sources[i])
                rejected_steps[r.step] = rejected_steps.get(r.step, 0) + 1
        for step, count in rejected_steps.items():
            self.runner.record_dead_letter(step, count)
        return results

    def _run_records(self, batch: Batch, keep: list[int], parents: list[str] | None) -> list[Any]:
        """The Runner's results for records ``keep``; a suspect batch one record per backend call."""
        run = self.runner.process_batch_counted
        if not batch.suspect:
            return run([batch.records[i] for i in keep], known_dicts=True, fresh=_fresh(batch, keep), parents=parents)[0]
        results: list[Any] = []
        for i in keep:
            results.extend(run([batch.records[i]], known_dicts=True, fresh=_fresh(batch, [i]), parents=parents)[0])
        return results

    @staticmethod
    def _as_received(batch: Batch, results: list[Any]) -> list[Any]:
        """Give each of the Runner's dead letters the record as the source received it."""
        if batch.received is None:
            return results
        from packflow.runtime.codec import dead_letter

        for i, result in enumerate(results):
            if type(result) is DeadLetter:
                original = batch.original(i)
                if original is not None:
                    results[i] = dead_letter(original, result.step, result, source=result.source)
        return results

    # -- retrying -------------------------------------------------------------------------------

    def _retry(self, call: Callable[[], Any], abandon_on_stop: bool = False) -> Any:
        """``call()``, retried with exponential backoff while the broker is unreachable.

        ``abandon_on_stop``: give up at once (returning None) when a stop is requested — for reads,
        which hold nothing that still needs writing.
        """
        delay = self.options.backoff_initial_s
        while True:
            try:
                if self._needs_recovery:
                    self.source.recover()
                    self._needs_recovery = False
                return call()
            except self._transient as exc:
                if abandon_on_stop and self._stop.is_set():
                    return None
                self._give_up_if_stopping(exc)
                self.stats.retries += 1
                self._needs_recovery = True
                log.warning("broker unavailable (%s: %s); retrying in %.2fs", type(exc).__name__, exc, delay)
                self._stop.wait(delay) if not self._stop.is_set() else time.sleep(delay)
                delay = min(delay * 2, self.options.backoff_max_s)

    def _give_up_if_stopping(self, exc: BaseException) -> None:
        if self._stop_at is not None and time.monotonic() - self._stop_at > self.options.stop_grace_s:
            raise StreamUnavailableError(
                f"The broker stayed unreachable for {self.options.stop_grace_s:g}s after the stop request "
                f"({type(exc).__name__}: {exc}); entries read but not acknowledged will be re-delivered."
            ) from exc


def _fresh(batch: Batch, indices: Any) -> Callable[[int, int], list] | None:
    """The Runner's ``fresh``: new copies of the records at ``indices[lo:hi]``, decoded again from what
    the source received, so a backend that changes its input dicts changes neither retries nor dead
    letters. None when the source keeps nothing to decode again (the Runner then reuses the dicts)."""
    if batch.received is None or batch.original_of is None:
        return None

    def fresh(lo: int, hi: int) -> list:
        return [_as_record(batch.original(i), batch.records[i]) for i in indices[lo:hi]]

    return fresh


def _as_record(original: Any, record: Any) -> Any:
    from packflow.runtime.codec import DecodeError, decode

    if isinstance(original, (bytes, str)):
        try:
            return decode(original)
        except DecodeError:
            return record
    return original if isinstance(original, dict) else record
