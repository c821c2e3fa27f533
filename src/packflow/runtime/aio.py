"""The asyncio front end of a Runner: concurrent submissions merged into batches.

Batching is continuous: when the backend is idle a submission is dispatched at once (no batch
window is waited out at low load); while a batch runs, new submissions queue up and the next
batch takes all of them, up to ``max_batch_size`` records. The backend runs on one worker
thread, so the event loop keeps accepting requests while it computes.

``fill_wait_ms`` (default 0) optionally lets a batch wait a little to fill up, but only under
load: the wait ends as soon as as many records are queued as the previous batch held, so a
lone client (previous batch of one) never waits.

Fast backends run on the event loop itself: once the last ``INLINE_STREAK`` batches each took
less than ``inline_below_ms`` (default 0.5 ms), the next batch is run from an event-loop
callback instead of the backend thread, because a thread hop would cost more than the call.
Submissions that arrive in the same loop iteration still share that batch. The first slower
batch moves work back to the backend thread, so a slow or GIL-releasing backend never blocks
the loop for long.
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable

from packflow.exceptions import PackflowError

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.runner import Runner

__all__ = ["AsyncBatcher", "RunnerClosedError", "RunnerOverloadedError"]

#: Called on the backend thread after every batch: ``on_batch(records, results)``.
BatchObserver = Callable[[list, list], None]


#: Consecutive fast batches needed before batches run on the event loop.
INLINE_STREAK = 16
_clock = time.perf_counter


class RunnerClosedError(PackflowError):
    """The runner is draining or closed and accepts no new records."""


class RunnerOverloadedError(PackflowError):
    """More records are queued than ``max_queue`` allows; retry later."""


class AsyncBatcher:
    """Queue of submissions; at most one batch runs at a time, the next starts when it finishes.

    Dispatch is callback-driven (no dispatcher task): a submission to an idle batcher goes to the
    backend thread at once, and a finished batch hands out its results and starts the next batch
    in one event-loop callback. This keeps the added latency at concurrency 1 to one thread hop.
    """

    def __init__(
        self,
        runner: Runner,
        max_queue: int = 100_000,
        *,
        fill_wait_ms: float = 0.0,
        on_batch: BatchObserver | None = None,
        inline_below_ms: float = 0.5,
    ) -> None:
        self.runner = runner
        self.max_queue = max_queue
        self.fill_wait_ms = fill_wait_ms
        #: Optional observer run on the backend thread after each batch (metrics, logging).
        self.on_batch = on_batch
        #: Batches faster than this run on the event loop once INLINE_STREAK in a row were (0: never).
        self.inline_below_ms = inline_below_ms
        self._fast_streak = 0
        self.queue_depth = 0
        self.in_flight = 0
        self._last_batch = 1
        self._pending: collections.deque[tuple[list, asyncio.Future]] = collections.deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="packflow-backend")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False
        self._fill_timer: asyncio.TimerHandle | None = None
        self._idle: asyncio.Event | None = None
        self._closing = False

    @property
    def closing(self) -> bool:
        """True once :meth:`drain` was called."""
        return self._closing

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
            raise RunnerClosedError("The runner is shutting down and accepts no new records.")
        if self.queue_depth + len(records) > self.max_queue:
            raise RunnerOverloadedError(
                f"{self.queue_depth} records are already queued (max_queue={self.max_queue}); retry later."
            )
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((records, future))
        self.queue_depth += len(records)
        if not self._busy:
            self._start_next()
        elif self._fill_timer is not None and self.queue_depth >= self._fill_target():
            self._fill_timer.cancel()
            self._fill_timer = None
            self._busy = False
            self._start_next()
        return future

    def _fill_target(self) -> int:
        return min(self._last_batch, self.runner.max_batch_size)

    def _take(self) -> tuple[list, list[tuple[int, int, asyncio.Future]]]:
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
        """Start the next batch (caller ensures none is running): on the loop if fast, else the thread."""
        pending = self._pending
        if self._fast_streak >= INLINE_STREAK and pending and len(pending[0][0]) <= self.runner.max_batch_size:
            self._busy = True
            self._loop.call_soon(self._run_on_loop)  # type: ignore[union-attr]
            return
        records, slices = self._take()
        if not records:
            self._set_idle()
            return
        self._busy = True
        self._last_batch = self.in_flight = len(records)
        loop = self._loop
        assert loop is not None
        job = self._executor.submit(self._run, records)
        job.add_done_callback(lambda done: loop.call_soon_threadsafe(self._finish, done, slices))

    def _set_idle(self) -> None:
        self._busy = False
        self.in_flight = 0
        if self._idle is not None:
            self._idle.set()

    def _run_on_loop(self) -> None:
        records, slices = self._take()
        if not records:
            self._set_idle()
            return
        self._last_batch = self.in_flight = len(records)
        try:
            results = self._run(records)
        except Exception as exc:  # noqa: BLE001 - delivered to every waiting submitter
            self._deliver(slices, None, exc)
        else:
            self._deliver(slices, results, None)
        self._next_after_batch()

    def _finish(self, job: Any, slices: list[tuple[int, int, asyncio.Future]]) -> None:
        exc = job.exception()
        self._deliver(slices, None if exc is not None else job.result(), exc)
        self._next_after_batch()

    @staticmethod
    def _deliver(slices: list[tuple[int, int, asyncio.Future]], results: list | None, exc: BaseException | None) -> None:
        if results is None:
            for _, _, future in slices:
                if not future.done():
                    future.set_exception(exc)  # type: ignore[arg-type]
            return
        for start, end, future in slices:
            if not future.done():
                future.set_result(results[start:end])

    def _next_after_batch(self) -> None:
        wait = self.fill_wait_ms
        if wait > 0 and self._last_batch > 1 and not self._closing and 0 < self.queue_depth < self._fill_target():
            # Under load: give the batch a moment to fill up; _enqueue ends the wait once it has.
            self.in_flight = 0
            self._fill_timer = self._loop.call_later(wait / 1000.0, self._fill_expired)  # type: ignore[union-attr]
            return
        self._start_next()

    def _fill_expired(self) -> None:
        self._fill_timer = None
        self._start_next()

    def _run(self, records: list) -> list:
        start = _clock()
        results = self.runner.process_batch(records)
        if (_clock() - start) * 1000.0 < self.inline_below_ms:
            self._fast_streak += 1
        else:
            self._fast_streak = 0
        observer = self.on_batch
        if observer is not None:
            try:
                observer(records, results)
            except Exception:  # noqa: BLE001 - an observer must never lose results
                from packflow.logger import get_logger

                get_logger("runtime").exception("on_batch observer failed")
        return results

    async def drain(self, timeout: float | None = None) -> bool:
        """Refuse new submissions, finish everything queued; False if ``timeout`` expired first."""
        self._closing = True
        try:
            if self._fill_timer is not None:
                self._fill_timer.cancel()
                self._fill_timer = None
                self._start_next()
            if not self._busy:
                return True
            self._idle = asyncio.Event()
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._executor.shutdown(wait=False)


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(asyncio.TimeoutError())
