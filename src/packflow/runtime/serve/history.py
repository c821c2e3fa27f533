"""``GET /stats/history``: the last minutes of every model's snapshot, so the status page opens with charts.

While the server runs, one task on its event loop takes each model's ``Runner.snapshot()`` once a
second and keeps a compact sample (counters, queue depth, per-step p50/p95/p99) in a bounded ring
of 300 samples per model (about 0.4 MiB), overwritten oldest first. A sample costs one snapshot,
about 1 ms per model, dominated by the rolling percentiles (``benchmarks/status_history_bench.py``):
about 0.1 % of a core per model; models are sampled one at a time, so the event loop serves
requests in between. With several workers each keeps its own history; the page shows the one
that answered.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import time
from typing import Any, AsyncIterator, Callable, Dict, Optional

import orjson
from starlette.requests import Request
from starlette.responses import Response

from packflow.logger import get_logger

__all__ = ["PERIOD_S", "SAMPLES", "StatsHistory", "compact_sample"]

logger = get_logger("serve")
#: Seconds between two samples.
PERIOD_S = 1.0
#: Samples kept per model (5 minutes at one a second).
SAMPLES = 300
_COUNTERS = ("uptime_s", "records_in", "records_out", "dead_letters", "batches", "queue_depth", "in_flight")
_PERCENTILES = ("p50_ms", "p95_ms", "p99_ms")

#: Model name -> a function answering its snapshot dict (None while it loads).
Snapshots = Dict[str, Callable[[], Optional[Dict[str, Any]]]]


def compact_sample(now: float, snapshot: dict[str, Any]) -> dict[str, Any]:
    """The part of a ``Runner.snapshot().to_dict()`` the page charts, stamped with ``now`` (Unix time)."""
    sample: dict[str, Any] = {"t": round(now, 3)}
    for key in _COUNTERS:
        sample[key] = snapshot.get(key, 0)
    steps = snapshot.get("steps") or {}
    sample["steps"] = {step: {p: stat.get(p, 0.0) for p in _PERCENTILES} for step, stat in steps.items()}
    return sample


class StatsHistory:
    """Each model's recent samples; :meth:`running` samples in the background while the server is up."""

    def __init__(self, snapshots: Snapshots, period_s: float = PERIOD_S, keep: int = SAMPLES) -> None:
        """``snapshots``: ``{model name: function answering its snapshot dict, or None while it loads}``."""
        self.snapshots = snapshots
        self.period_s = period_s
        self.keep = keep
        self._samples: dict[str, collections.deque] = {}

    def sample(self, now: float | None = None) -> None:
        """Record one sample of every loaded model."""
        for name in self.snapshots:
            self.sample_model(name, now)

    def sample_model(self, name: str, now: float | None = None) -> None:
        """Record one sample of model ``name`` (nothing while it loads)."""
        snapshot = self.snapshots[name]()
        if snapshot is not None:
            ring = self._samples.setdefault(name, collections.deque(maxlen=self.keep))
            ring.append(compact_sample(time.time() if now is None else now, snapshot))

    def to_dict(self) -> dict[str, Any]:
        """``{"now", "period_s", "pid", "models": {name: [samples, oldest first]}}``."""
        models = {name: list(ring) for name, ring in self._samples.items()}
        return {"now": time.time(), "period_s": self.period_s, "pid": os.getpid(), "models": models}

    async def endpoint(self, _: Request) -> Response:
        headers = {"X-Packflow-Worker": str(os.getpid()), "Cache-Control": "no-store"}
        return Response(orjson.dumps(self.to_dict()), media_type="application/json", headers=headers)

    @contextlib.asynccontextmanager
    async def running(self, inner: Any) -> AsyncIterator[None]:
        """``inner`` (the app's own lifespan) with the sampling task beside it."""
        async with inner:
            task = asyncio.get_running_loop().create_task(self._run(), name="packflow-stats-history")
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _run(self) -> None:
        while True:
            for name in self.snapshots:  # one model at a time: requests are served in between
                try:
                    self.sample_model(name)
                except Exception:  # noqa: BLE001 - a failed sample must not stop the history
                    logger.exception("Could not sample the stats history of %s", name)
                await asyncio.sleep(0)
            await asyncio.sleep(self.period_s)
