"""The asyncio front end of a Runner: concurrent submissions merged into batches.

Batching is continuous: when the backend is idle a submission is dispatched at once (no batch
window is waited out at low load); while a batch runs, new submissions queue up and the next
batch takes all of them, up to ``max_batch_size`` records. The backend runs on one worker
thread, so the event loop keeps accepting requests while it computes.
"""

from __future__ import annotations

import asyncio
import collections
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from packflow.exceptions import PackflowError

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.runner import Runner

__all__ = ["AsyncBatcher", "RunnerClosedError", "RunnerOverloadedError"]


class RunnerClosedError(PackflowError):
    """The runner is draining or closed and accepts no new records."""


class RunnerOverloadedError(PackflowError):
    """More records are queued than ``max_queue`` allows; retry later."""


class AsyncBatcher:
    """Queue of submissions plus one dispatcher task per event loop."""

    def __init__(self, runner: Runner, max_queue: int = 100_000) -> None:
        self.runner = runner
        self.max_queue = max_queue
        self.queue_depth = 0
        self.in_flight = 0
        self._pending: collections.deque[tuple[list, asyncio.Future]] = collections.deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="packflow-backend")
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._closing = False

    async def submit(self, records: list) -> list[Any]:
        """Results for ``records`` in order, once the batch holding them has run."""
        if self._closing:
            raise RunnerClosedError("The runner is shutting down and accepts no new records.")
        if self.queue_depth + len(records) > self.max_queue:
            raise RunnerOverloadedError(
                f"{self.queue_depth} records are already queued (max_queue={self.max_queue}); retry later."
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending.append((records, future))
        self.queue_depth += len(records)
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._dispatch(), name="packflow-runner-dispatch")
        assert self._wake is not None
        self._wake.set()
        return await future

    def _take(self) -> tuple[list, list[tuple[int, int, asyncio.Future]]]:
        limit = self.runner.max_batch_size
        records: list = []
        slices = []
        while self._pending and (not records or len(records) + len(self._pending[0][0]) <= limit):
            batch, future = self._pending.popleft()
            slices.append((len(records), len(records) + len(batch), future))
            records.extend(batch)
        self.queue_depth -= len(records)
        return records, slices

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        wake = self._wake
        assert wake is not None
        while True:
            if not self._pending:
                if self._closing:
                    return
                wake.clear()
                await wake.wait()
                continue
            records, slices = self._take()
            self.in_flight = len(records)
            try:
                results = await loop.run_in_executor(self._executor, self.runner.process_batch, records)
            except Exception as exc:  # noqa: BLE001 - delivered to every waiting submitter
                for _, _, future in slices:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for start, end, future in slices:
                    if not future.done():
                        future.set_result(results[start:end])
            finally:
                self.in_flight = 0

    async def drain(self, timeout: float | None = None) -> bool:
        """Refuse new submissions, finish everything queued; False if ``timeout`` expired first."""
        self._closing = True
        if self._task is None:
            return True
        assert self._wake is not None
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            self._executor.shutdown(wait=False)
        return True
