"""The asyncio front end of a Runner: concurrent submissions merged into batches.

Batching is continuous: when the backend is idle a submission is dispatched at once (no batch
window is waited out at low load); while a batch runs, new submissions queue up and the next
batch takes all of them, up to ``max_batch_size`` records.

The backend always runs on one dedicated (daemon) thread, never on the event loop: however long
a backend call takes, the loop keeps answering probes, timing requests out and accepting new
ones. (Running fast batches on the loop saved a thread hop, but one slow record then froze the
whole process; a blocking call on the loop cannot be pre-empted, so that mode is gone.)

``fill_wait_ms`` (default 0) optionally lets a batch wait a little to fill up, but only under
load: the wait ends as soon as as many records are queued as the previous batch held, so a
lone client (previous batch of one) never waits.

While a failing batch is bisected, each submission's results are released as soon as all its
records are cleared (``Runner.process_batch(on_segment=...)``), not when the bisection ends.
Anything the backend raises — even ``SystemExit`` or ``KeyboardInterrupt`` — stays on the backend
thread and becomes per-record dead letters.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from packflow.exceptions import PackflowError
from packflow.runtime.deadletter import DeadLetter

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.runner import Runner

__all__ = ["AsyncBatcher", "BatchObserver", "RunnerClosedError", "RunnerOverloadedError"]

#: Called on the backend thread after every batch: ``on_batch(records, results)``.
BatchObserver = Callable[[list, list], None]
#: One queued submission's place in a batch: ``(start, end, future)``.
Slice = tuple[int, int, asyncio.Future]
_clock = time.perf_counter


class RunnerClosedError(PackflowError):
    """The runner is draining or closed and accepts no new records."""


class RunnerOverloadedError(PackflowError):
    """More records are queued than ``max_queue`` allows; retry later."""


class AsyncBatcher:
    """Queue of submissions; at most one batch runs at a time, the next starts when it finishes.

    Dispatch is callback-driven (no dispatcher task): a submission to an idle batcher goes to the
    backend thread at once, and a finished batch hands out its results and starts the next batch
    in one event-loop callback. Options are fixed at construction (``Runner.start_async``).
    """

    def __init__(
        self,
        runner: Runner,
        *,
        max_queue: int = 100_000,
        fill_wait_ms: float = 0.0,
        on_batch: BatchObserver | None = None,
    ) -> None:
        self.runner = runner
        self.max_queue = max_queue
        self.fill_wait_ms = fill_wait_ms
        #: Optional observer run on the backend thread after each batch (metrics, logging).
        self.on_batch = on_batch
        self.queue_depth = 0
        self.in_flight = 0
        self._last_batch = 1
        self._pending: collections.deque[tuple[list, asyncio.Future]] = collections.deque()
        self._running: list[Slice] = []
        self._thread: _BackendThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False
        self._progress = 0.0  # clock of the running batch's start or last cleared segment; 0 when idle
        self._fill_timer: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        self._closing = False

    @property
    def closing(self) -> bool:
        """True once :meth:`close` or :meth:`drain` was called."""
        return self._closing

    def stalled_s(self) -> float:
        """Seconds the running batch has gone without producing a result (0.0 when idle)."""
        progress = self._progress
        return _clock() - progress if progress else 0.0

    async def submit(self, records: list, timeout: float | None = None) -> list[Any]:
        """Results for ``records`` in order, once the batch holding them has run.

        With ``timeout`` (seconds) an ``asyncio.TimeoutError`` is raised if the results take longer;
        records still queued at that moment are dropped from the queue, not computed.
        """
        future = self._enqueue(records)
        if timeout is None:
            return await future
        handle = future.get_loop().call_later(timeout, _expire, future)
        try:
            return await future
        finally:
            handle.cancel()

    def _enqueue(self, records: list) -> asyncio.Future:
        if self._closing:
            raise RunnerClosedError("The runner is shutting down and accepts no new records; retry on another instance.")
        if self.queue_depth + len(records) > self.max_queue:
            raise RunnerOverloadedError(
                f"{self.queue_depth} records are already queued (max_queue={self.max_queue}); retry later."
            )
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
            self._thread = _BackendThread(loop, self._run, self._finish)
        future: asyncio.Future = loop.create_future()
        self._pending.append((records, future))
        self.queue_depth += len(records)
        if not self._busy:
            self._start_next()
        elif self._fill_timer is not None and self.queue_depth >= self._fill_target():
            self._fill_timer.cancel()
            self._fill_timer = None
            self._start_next()
        return future

    def _fill_target(self) -> int:
        return min(self._last_batch, self.runner.max_batch_size)

    def _take(self) -> tuple[list, list[Slice]]:
        limit = self.runner.max_batch_size
        records: list = []
        slices = []
        pending = self._pending
        while pending and (not records or len(records) + len(pending[0][0]) <= limit):
            batch, future = pending.popleft()
            self.queue_depth -= len(batch)
            if future.done():  # timed out or cancelled while queued: do not compute it
                continue
            slices.append((len(records), len(records) + len(batch), future))
            records.extend(batch)
        return records, slices

    def _start_next(self) -> None:
        """Hand the next batch to the backend thread (the caller ensures none is running)."""
        records, slices = self._take()
        if not records:
            self._set_idle()
            return
        self._busy = True
        self._last_batch = self.in_flight = len(records)
        self._running = slices
        self._progress = _clock()
        self._thread.submit(records, slices)  # type: ignore[union-attr]

    def _set_idle(self) -> None:
        self._busy = False
        self.in_flight = 0
        self._progress = 0.0
        if self._idle is not None:
            self._idle.set()

    def _run(self, records: list, slices: list[Slice]) -> list:
        """On the backend thread: the batch's results, released per submission as they are known."""
        release = _Release(slices, len(records), self) if len(slices) > 1 else None
        try:
            results = self.runner.process_batch(records, on_segment=release)
        except Exception:
            raise  # a Runner failure: every waiting submitter gets it
        except BaseException as exc:  # noqa: BLE001 - SystemExit & co. from backend code: per-record errors
            results = [_contained(record, exc) for record in records]
        observer = self.on_batch
        if observer is not None:
            try:
                observer(records, results)
            except BaseException:  # noqa: BLE001 - an observer must never lose results
                from packflow.logger import get_logger

                get_logger("runtime").exception("on_batch observer failed")
        return results

    def _finish(self, slices: list[Slice], results: list | None, exc: BaseException | None) -> None:
        """On the loop: deliver what was not released early, then start the next batch."""
        self._running = []
        self._progress = 0.0
        for start, end, future in slices:
            if future.done():
                continue
            if results is None:
                future.set_exception(exc)  # type: ignore[arg-type]
            else:
                future.set_result(results[start:end])
        self._next_after_batch()

    def _next_after_batch(self) -> None:
        wait = self.fill_wait_ms
        if wait > 0 and self._last_batch > 1 and not self._closing and 0 < self.queue_depth < self._fill_target():
            # Under load: give the batch a moment to fill up; _enqueue ends the wait once it has.
            self.in_flight = 0
            self._fill_timer = self._loop.call_later(wait / 1000.0, self._fill_expired)  # type: ignore[union-attr]
            return
        self._busy = False
        self._start_next()

    def _fill_expired(self) -> None:
        self._fill_timer = None
        self._busy = False
        self._start_next()

    def close(self) -> None:
        """Refuse new submissions; queued and running ones still finish."""
        self._closing = True
        if self._fill_timer is not None:
            self._fill_timer.cancel()
            self._fill_timer = None
            self._busy = False
            self._start_next()

    def abort(self, error: BaseException) -> int:
        """Fail every queued and running submission with ``error`` (a drain cut short); how many."""
        self.close()
        waiting = [future for _, future in self._pending] + [future for _, _, future in self._running]
        self._pending.clear()
        self.queue_depth = 0
        cut = 0
        for future in waiting:
            if not future.done():
                future.set_exception(error)
                cut += 1
        return cut

    async def drain(self, timeout: float | None = None) -> bool:
        """Refuse new submissions, finish everything queued; False if ``timeout`` expired first."""
        self.close()
        try:
            if self._busy:
                self._idle = asyncio.Event()
                await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            if self._thread is not None:
                self._thread.stop()


class _BackendThread:
    """The one daemon thread that calls the backend; a hung call never blocks interpreter exit."""

    def __init__(self, loop: asyncio.AbstractEventLoop, run: Callable[[list, list], list], done: Callable) -> None:
        self._jobs: queue.SimpleQueue[tuple[list, list] | None] = queue.SimpleQueue()
        self._loop, self._run, self._done = loop, run, done
        threading.Thread(target=self._serve, name="packflow-backend", daemon=True).start()

    def submit(self, records: list, slices: list) -> None:
        self._jobs.put((records, slices))

    def stop(self) -> None:
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            records, slices = job
            try:
                results, exc = self._run(records, slices), None
            except BaseException as error:  # noqa: BLE001 - delivered to the waiting submitters
                results, exc = None, error
            try:
                self._loop.call_soon_threadsafe(self._done, slices, results, exc)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return


class _Release:
    """``on_segment`` hook: resolve each submission once every record of it is cleared."""

    def __init__(self, slices: list[Slice], size: int, batcher: AsyncBatcher) -> None:
        self.slices = slices
        self.starts = [start for start, _, _ in slices]
        self.left = [end - start for start, end, _ in slices]
        self.values: list = [None] * size
        self.batcher = batcher

    def __call__(self, lo: int, hi: int, results: list) -> None:
        self.values[lo:hi] = results
        self.batcher._progress = _clock()
        index = max(bisect.bisect_right(self.starts, lo) - 1, 0)
        while index < len(self.slices) and self.slices[index][0] < hi:
            start, end, future = self.slices[index]
            self.left[index] -= max(0, min(hi, end) - max(lo, start))
            if self.left[index] == 0:
                future.get_loop().call_soon_threadsafe(_resolve, future, self.values[start:end])
            index += 1


def _resolve(future: asyncio.Future, results: list) -> None:
    if not future.done():
        future.set_result(results)


def _contained(record: Any, exc: BaseException) -> DeadLetter:
    message = (
        f"the backend raised {type(exc).__name__}({exc!s}) during this batch; backend code must raise an "
        "exception, not exit or interrupt — it was contained and the server keeps running"
    )
    return DeadLetter(record, "execute", type(exc).__name__, message)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())
