"""Runner counters and the snapshot every driver reports from."""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

__all__ = ["RunnerCounters", "RunnerSnapshot"]

#: Upper bounds of the batch-size histogram buckets (the last bucket is "+Inf").
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


@dataclass
class RunnerSnapshot:
    """Counts and per-step latency statistics at one moment; ``to_dict()`` is JSON-ready."""

    records_in: int
    records_out: int
    dead_letters: int
    batches: int
    backend_calls: int
    isolation_calls: int
    batch_sizes: dict[str, int]
    steps: dict[str, dict[str, float]]
    uptime_s: float
    records_per_s: float
    queue_depth: int = 0
    in_flight: int = 0
    dead_letters_by_step: dict[str, int] = field(default_factory=dict)
    #: The backend's field-level data-quality counts (``DataQuality.model_dump()``), None without configured fields.
    data_quality: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)

    def _repr_html_(self) -> str:
        from packflow.backend.display import STAT_COLUMNS, html_table, statistics_rows

        dead = ", ".join(f"{k} {v:,}" for k, v in sorted(self.dead_letters_by_step.items())) or "none"
        caption = (f"{self.records_in:,} in, {self.records_out:,} out, {self.dead_letters:,} dead-lettered "
                   f"({dead}) in {self.batches:,} batches")
        return html_table(("step", *STAT_COLUMNS), statistics_rows(self.steps), caption)


class RunnerCounters:
    """Thread-safe counters; O(1) per batch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.records_in = 0
        self.records_out = 0
        self.dead_letters = 0
        self.batches = 0
        self.backend_calls = 0
        self.isolation_calls = 0
        self.dead_by_step: dict[str, int] = {}
        self.batch_hist = [0] * (len(BATCH_SIZE_BUCKETS) + 1)

    def batch_done(self, size: int, outputs: int, dead_steps: Iterable[str], calls: int) -> None:
        """Account one batch of ``size`` records that made ``calls`` backend calls."""
        bucket = bisect.bisect_left(BATCH_SIZE_BUCKETS, size)
        with self._lock:
            self.records_in += size
            self.records_out += outputs
            self.batches += 1
            self.backend_calls += calls
            self.isolation_calls += calls - 1
            self.batch_hist[bucket] += 1
            for step in dead_steps:
                self.dead_letters += 1
                self.dead_by_step[step] = self.dead_by_step.get(step, 0) + 1

    def extra_dead(self, step: str, count: int = 1) -> None:
        """Account records a driver dead-lettered itself.

        ``encode`` failures happen after the backend produced an output, so those records move from
        out to dead; records failing any other driver step (``decode``) never reached the backend and
        count as in and dead.
        """
        with self._lock:
            if step == "encode":
                self.records_out -= count
            else:
                self.records_in += count
            self.dead_letters += count
            self.dead_by_step[step] = self.dead_by_step.get(step, 0) + count

    def snapshot(self, steps: dict[str, dict[str, float]], queue_depth: int = 0, in_flight: int = 0) -> RunnerSnapshot:
        with self._lock:
            uptime = time.monotonic() - self.started
            labels = [str(b) for b in BATCH_SIZE_BUCKETS] + ["+Inf"]
            return RunnerSnapshot(
                records_in=self.records_in,
                records_out=self.records_out,
                dead_letters=self.dead_letters,
                batches=self.batches,
                backend_calls=self.backend_calls,
                isolation_calls=self.isolation_calls,
                batch_sizes=dict(zip(labels, self.batch_hist)),
                steps=steps,
                uptime_s=uptime,
                records_per_s=(self.records_in / uptime) if uptime > 0 else 0.0,
                queue_depth=queue_depth,
                in_flight=in_flight,
                dead_letters_by_step=dict(self.dead_by_step),
            )
