"""``Runner``: the one runtime every driver uses — micro-batching, isolation, counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal

from packflow.backend.base import InferenceBackend
from packflow.runtime.batching import iter_batches
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.isolation import Fresh, SegmentHook, call_isolated, call_or_fail
from packflow.runtime.stats import RunnerCounters, RunnerSnapshot, RunObserver, timed_calls

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.aio import AsyncBatcher, BatchObserver

__all__ = ["Runner"]

OnError = Literal["isolate", "fail"]


class Runner:
    """Drive an ``InferenceBackend`` with micro-batches and per-record error isolation.

    Every input produces exactly one result, in input order: the output record (a dict) or a
    :class:`DeadLetter`. ``on_error="isolate"`` (default) bisects failing batches so only the bad
    records are dead-lettered; ``on_error="fail"`` raises :class:`BatchFailedError` instead.

    Synchronous use: :meth:`process_batch` and :meth:`map`. Asyncio use: :meth:`submit` and
    :meth:`submit_many` (see :mod:`packflow.runtime.aio`), which run the backend on a worker
    thread, off the event loop.
    """

    def __init__(
        self,
        backend: InferenceBackend,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 5.0,
        on_error: OnError = "isolate",
        observer: RunObserver | None = None,
    ) -> None:
        """``observer`` also hears every batch, backend call and dead letter (a driver's own metrics)."""
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size!r}")
        if not 0 <= max_wait_ms < float("inf"):  # also refuses NaN
            raise ValueError(f"max_wait_ms must be a finite number >= 0 (milliseconds), got {max_wait_ms!r}")
        if on_error not in ("isolate", "fail"):
            raise ValueError(f"on_error must be 'isolate' or 'fail', got {on_error!r}")
        self.backend = backend
        self.max_batch_size = max_batch_size
        self.max_wait_ms = max_wait_ms
        self.on_error = on_error
        self.counters = RunnerCounters(observer)
        self._call = call_isolated if on_error == "isolate" else call_or_fail
        # The backend's pipeline without its per-record output check: isolation checks each output
        # itself, so one non-dict output costs one dead letter, not a bisection. Each successful call
        # reports its step times to the counters (the step-latency histograms).
        self._invoke = timed_calls(backend, self.counters)
        self._aio: AsyncBatcher | None = None

    def __repr__(self) -> str:
        return (
            f"Runner({type(self.backend).__name__}, max_batch_size={self.max_batch_size}, "
            f"max_wait_ms={self.max_wait_ms}, on_error={self.on_error!r})"
        )

    # -- synchronous ----------------------------------------------------------------------------

    def process_batch(self, records: list, *, on_segment: SegmentHook | None = None) -> list[Any]:
        """Results for ``records`` (chunked by ``max_batch_size``), one per input, in order.

        ``on_segment(lo, hi, results)`` is called as parts of a failing batch are cleared by
        isolation, so a driver can release those results early (see :mod:`packflow.runtime.isolation`).
        """
        return self.process_batch_counted(records, on_segment=on_segment)[0]

    def process_batch_counted(
        self, records: list, *, known_dicts: bool = False, fresh: Fresh | None = None,
        on_segment: SegmentHook | None = None,
    ) -> tuple[list[Any], int]:
        """Like :meth:`process_batch`, plus how many results are dead letters (0 on the clean path),
        so drivers can skip scanning the results of clean batches.

        ``known_dicts=True`` promises every input is a dict (a driver that decoded them checked
        already): a backend that returns its input list unchanged then skips the output type check.
        ``fresh(lo, hi)`` gives new copies of ``records[lo:hi]`` as the driver received them; with it,
        retries and dead letters of a failed batch use those, not records the backend mutated
        (see :data:`packflow.runtime.isolation.Fresh`). Without it, a dead letter holds the very
        object that was passed in.
        """
        size = self.max_batch_size
        if len(records) <= size:
            return self._process_chunk(records, known_dicts, fresh, on_segment)
        results: list[Any] = []
        dead = 0
        for start in range(0, len(records), size):
            part = None if fresh is None else _offset(fresh, start)
            hook = None if on_segment is None else _shifted(on_segment, start)
            chunk, chunk_dead = self._process_chunk(records[start : start + size], known_dicts, part, hook)
            results.extend(chunk)
            dead += chunk_dead
        return results, dead

    def _process_chunk(
        self, records: list, known_dicts: bool = False, fresh: Fresh | None = None, on_segment: SegmentHook | None = None
    ) -> tuple[list[Any], int]:
        if not records:
            return [], 0
        results, calls, dead = self._call(self._invoke, records, known_dicts, fresh, on_segment)
        if not dead:  # the clean path: no per-record Python
            self.counters.batch_done(len(records), len(records), (), calls)
            return results, 0
        steps = [r.step for r in results if type(r) is DeadLetter]
        self.counters.batch_done(len(records), len(records) - dead, steps, calls)
        return results, dead

    def process(self, record: dict) -> Any:
        """The result for a single record."""
        return self._process_chunk([record])[0][0]

    def map(self, records: Iterable[Any]) -> Iterator[Any]:
        """Results for a (possibly endless) iterable, in order, with bounded memory.

        Batches are flushed when full, when the input ends, or — for inputs that block, such as
        a pipe — when ``max_wait_ms`` passes with a partial batch waiting.
        """
        for batch in iter_batches(records, self.max_batch_size, self.max_wait_ms):
            yield from self.process_batch(batch)

    # -- asyncio --------------------------------------------------------------------------------

    def start_async(
        self, *, max_queue: int = 100_000, fill_wait_ms: float = 0.0, on_batch: BatchObserver | None = None
    ) -> AsyncBatcher:
        """Create the asyncio front end with its options (once, before the first submission)."""
        if self._aio is not None:
            raise RuntimeError(f"{self!r} already has its asyncio front end; call start_async() once, before submitting")
        from packflow.runtime.aio import AsyncBatcher

        self._aio = AsyncBatcher(self, max_queue=max_queue, fill_wait_ms=fill_wait_ms, on_batch=on_batch)
        return self._aio

    @property
    def aio(self) -> AsyncBatcher:
        """The asyncio front end: the one :meth:`start_async` made, else one with default options."""
        if self._aio is None:
            return self.start_async()
        return self._aio

    async def submit(self, record: dict) -> Any:
        """Await the result of one record; concurrent submissions are merged into batches."""
        return (await self.aio.submit([record]))[0]

    async def submit_many(self, records: list) -> list[Any]:
        """Await the results of several records, in order."""
        return await self.aio.submit(records)

    async def drain(self, timeout: float | None = None) -> bool:
        """Stop accepting submissions and wait for queued and in-flight batches; False on timeout."""
        if self._aio is None:
            return True
        return await self._aio.drain(timeout)

    # -- metrics --------------------------------------------------------------------------------

    def record_dead_letter(self, step: str, count: int = 1) -> None:
        """Count records a driver dead-lettered itself.

        ``step="encode"`` (output that could not be serialised) moves records the Runner already
        counted as out to dead; any other step (e.g. ``decode``) counts records that never reached
        the Runner as both in and dead.
        """
        self.counters.extra_dead(step, count)

    def snapshot(self) -> RunnerSnapshot:
        """Counts, batch-size distribution and the backend's rolling per-step statistics."""
        steps = {name: stat.model_dump() for name, stat in self.backend.get_statistics().items()}
        depth, in_flight = (self._aio.queue_depth, self._aio.in_flight) if self._aio is not None else (0, 0)
        snapshot = self.counters.snapshot(steps, depth, in_flight)
        quality = getattr(self.backend, "get_data_quality", None)
        counts = quality() if callable(quality) else None
        snapshot.data_quality = counts.model_dump() if counts is not None else None
        return snapshot


def _offset(fresh: Fresh, start: int) -> Fresh:
    """``fresh`` for the chunk of a larger batch that starts at ``start``."""
    return lambda lo, hi: fresh(lo + start, hi + start)


def _shifted(hook: SegmentHook, offset: int) -> SegmentHook:
    """``hook`` for one chunk of a larger batch: positions are moved by the chunk's offset."""
    return lambda lo, hi, results: hook(lo + offset, hi + offset, results)
