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
from packflow.runtime import tracing as _tracing
from packflow.runtime.deadletter import DeadLetter, dead_letter

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
    """Queue of submissions; the backend thread takes the next batch as soon as the last one ends.

    The event loop only appends submissions (under a lock) and resolves futures; the backend
    thread forms each batch itself from what is queued when it becomes free, so back-to-back
    batches under load cost no extra round trip through the loop. Options are fixed at
    construction (``Runner.start_async``).
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
        self._pending: collections.deque[tuple[list, asyncio.Future, Any]] = collections.deque()
        self._running: list[Slice] = []
        self._parents: list = []  # trace contexts of the submissions in the batch being formed (tracing on)
        self._lock = threading.Lock()
        self._wake: queue.SimpleQueue[None] = queue.SimpleQueue()  # C-level: cheaper than a Condition
        self._sleeping = False  # the backend thread waits on _wake
        self._kicking = False  # a _kick is scheduled on the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False
        self._progress = 0.0  # clock of the running batch's start or last cleared segment; 0 when idle
        self._idle: asyncio.Event | None = None
        self._closing = self._stopped = self._started = False

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
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        observer = _tracing.OBSERVER
        parent = observer.capture() if observer is not None else None  # the request's span (tracing on)
        with self._lock:
            if self._closing:
                raise RunnerClosedError("The runner is shutting down and accepts no new records; retry on another instance.")
            if self.queue_depth + len(records) > self.max_queue:
                raise RunnerOverloadedError(
                    f"{self.queue_depth} records are already queued (max_queue={self.max_queue}); retry later."
                )
            self._pending.append((records, future, parent))
            self.queue_depth += len(records)
            kick = self._sleeping and not self._kicking
            self._kicking = self._kicking or kick
        if kick:  # wake the thread once per loop iteration: submissions of this iteration share a batch
            loop.call_soon(self._kick)
        if not self._started:
            self._started = True
            threading.Thread(target=self._serve, name="packflow-backend", daemon=True).start()
        return future

    def _kick(self) -> None:
        with self._lock:
            self._kicking = False
            self._notify()

    # -- the backend thread ---------------------------------------------------------------------

    def _serve(self) -> None:
        """The backend thread: take a batch, run it, hand its results to the loop; repeat."""
        loop = self._loop
        assert loop is not None
        while (job := self._next_batch()) is not None:
            records, slices = job
            try:
                results, exc = self._run(records, slices), None
            except BaseException as error:  # noqa: BLE001 - delivered to the waiting submitters
                results, exc = None, error
            try:
                loop.call_soon_threadsafe(self._finish, slices, results, exc)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def _next_batch(self) -> tuple[list, list[Slice]] | None:
        with self._lock:
            self._running = []
            while True:
                if self._pending and self._fill_wait():
                    records, slices = self._take()
                    if records:
                        break
                    continue
                self._go_idle()
                if self._stopped:
                    return None
                self._sleep(None)
            self._busy = True
            self._last_batch = self.in_flight = len(records)
            self._running = slices
            self._progress = _clock()
            return records, slices

    def _fill_wait(self) -> bool:
        """Right after a batch, let the next fill up for ``fill_wait_ms`` (lock held); True when it may go."""
        wait = self.fill_wait_ms
        if wait <= 0 or not self._busy or self._last_batch <= 1 or self._closing:  # never when idle
            return True
        target = min(self._last_batch, self.runner.max_batch_size)
        deadline = _clock() + wait / 1000.0
        while self.queue_depth < target and not self._closing and (left := deadline - _clock()) > 0:
            self._sleep(left)
        return True

    def _sleep(self, timeout: float | None) -> None:
        """Wait (lock held on entry and exit) until :meth:`_notify` or ``timeout``; may wake spuriously."""
        self._sleeping = True
        self._lock.release()
        try:
            self._wake.get(timeout=timeout)
        except queue.Empty:
            pass
        finally:
            self._lock.acquire()
            self._sleeping = False

    def _notify(self) -> None:
        """Wake the backend thread if it sleeps (lock held)."""
        if self._sleeping:
            self._sleeping = False
            self._wake.put(None)

    def _go_idle(self) -> None:
        was_busy, self._busy = self._busy, False
        self.in_flight = 0
        self._progress = 0.0
        if was_busy and self._idle is not None:
            try:
                self._loop.call_soon_threadsafe(self._idle.set)  # type: ignore[union-attr]
            except RuntimeError:  # the loop is closed: nobody is draining any more
                pass

    def _take(self) -> tuple[list, list[Slice]]:
        limit = self.runner.max_batch_size
        records: list = []
        slices = []
        parents = self._parents = []
        pending = self._pending
        while pending and (not records or len(records) + len(pending[0][0]) <= limit):
            batch, future, parent = pending.popleft()
            self.queue_depth -= len(batch)
            if future.done():  # timed out or cancelled while queued: do not compute it
                continue
            slices.append((len(records), len(records) + len(batch), future))
            records.extend(batch)
            if parent is not None:
                parents.append(parent)
        return records, slices

    def _run(self, records: list, slices: list[Slice]) -> list:
        """The batch's results, released per submission as isolation clears them."""
        release = _Release(slices, len(records), self) if len(slices) > 1 else None
        try:
            from packflow.runtime.codec import snapshot  # here: importing aio pulls in no JSON library

            # fresh: retries and dead letters of a failed batch use the records as received (item 10)
            results = self.runner.process_batch_counted(
                records, on_segment=release, fresh=snapshot(records), parents=self._parents or None
            )[0]
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

    # -- the event loop -------------------------------------------------------------------------

    @staticmethod
    def _finish(slices: list[Slice], results: list | None, exc: BaseException | None) -> None:
        """Deliver what was not released early."""
        for start, end, future in slices:
            if future.done():
                continue
            if results is None:
                future.set_exception(exc)  # type: ignore[arg-type]
            else:
                future.set_result(results[start:end])

    def close(self) -> None:
        """Refuse new submissions; queued and running ones still finish."""
        with self._lock:
            self._closing = True
            self._notify()

    def abort(self, error: BaseException) -> int:
        """Fail every queued and running submission with ``error`` (a drain cut short); how many."""
        with self._lock:
            self._closing = True
            waiting = [future for _, future, _ in self._pending] + [future for _, _, future in self._running]
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
            with self._lock:
                busy = self._busy or bool(self._pending)
                if busy:
                    self._idle = asyncio.Event()
            if busy:
                await asyncio.wait_for(self._idle.wait(), timeout)  # type: ignore[union-attr]
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                self._stopped = True
                self._notify()


class _Release:
    """``on_segment`` hook: resolve each submission once every record of it is cleared.

    Built per batch but does its bookkeeping only on the first segment, so a clean batch (no
    segments) costs one small object.
    """

    __slots__ = ("slices", "size", "batcher", "starts", "left", "values")

    def __init__(self, slices: list[Slice], size: int, batcher: AsyncBatcher) -> None:
        self.slices, self.size, self.batcher = slices, size, batcher
        self.starts: list[int] = []
        self.left: list[int] = []
        self.values: list = []

    def __call__(self, lo: int, hi: int, results: list) -> None:
        if not self.values:
            self.starts = [start for start, _, _ in self.slices]
            self.left = [end - start for start, end, _ in self.slices]
            self.values = [None] * self.size
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
    return dead_letter(record, "execute", exc, message=message)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())
