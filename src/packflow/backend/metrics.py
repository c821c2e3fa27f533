"""Per-call metrics (``ExecutionMetrics``) and the rolling per-step statistics."""

from __future__ import annotations

import math
import threading
from typing import Optional

from pydantic import BaseModel, model_validator

__all__ = ["ExecutionMetrics", "ExecutionTimes", "RollingStats", "StepStatistics"]


class ExecutionTimes(BaseModel):
    """Milliseconds spent in each step of one call; optional steps are ``None`` when not defined."""

    preprocess: float
    transform_inputs: Optional[float] = None
    execute: float
    transform_outputs: Optional[float] = None

    def total(self) -> float:
        """Sum of the steps that ran."""
        return sum(v for v in (self.preprocess, self.transform_inputs, self.execute, self.transform_outputs) if v)


class ExecutionMetrics(BaseModel):
    """The figures of one backend call: batch size, per-step milliseconds, total milliseconds."""

    batch_size: int
    execution_times: ExecutionTimes
    total_execution_time: Optional[float] = None

    @model_validator(mode="after")
    def _fill_total(self) -> "ExecutionMetrics":
        self.total_execution_time = self.execution_times.total()
        return self


class StepStatistics(BaseModel):
    """Rolling statistics of one step: lifetime count/errors/mean, percentiles over a recent window."""

    count: int
    errors: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    window: int


class _StepWindow:
    """A fixed-size ring of recent durations plus lifetime sums; O(1) per observation."""

    __slots__ = ("samples", "size", "next", "filled", "count", "errors", "total")

    def __init__(self, size: int) -> None:
        self.samples = [0.0] * size
        self.size = size
        self.next = 0
        self.filled = 0
        self.count = 0
        self.errors = 0
        self.total = 0.0

    def add(self, ms: float) -> None:
        self.samples[self.next] = ms
        self.next = (self.next + 1) % self.size
        if self.filled < self.size:
            self.filled += 1
        self.count += 1
        self.total += ms

    def summary(self) -> StepStatistics:
        recent = sorted(self.samples[: self.filled])
        return StepStatistics(
            count=self.count,
            errors=self.errors,
            mean_ms=self.total / self.count if self.count else 0.0,
            p50_ms=_percentile(recent, 50),
            p95_ms=_percentile(recent, 95),
            p99_ms=_percentile(recent, 99),
            max_ms=recent[-1] if recent else 0.0,
            window=len(recent),
        )


def _percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


class RollingStats:
    """Thread-safe rolling per-step latency statistics with a fixed memory footprint.

    Each observation costs O(1): a ring-buffer write and two additions under a lock.
    Percentiles are computed over the most recent ``window`` observations when a snapshot
    is taken; ``count``, ``errors`` and ``mean_ms`` cover the instance's whole life.
    """

    def __init__(self, steps: tuple[str, ...], window: int = 1024) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window!r}")
        self._lock = threading.Lock()
        self._steps = {name: _StepWindow(window) for name in (*steps, "total")}
        self._ordered = [self._steps[name] for name in steps]
        self._total = self._steps["total"]

    def record(self, durations: list[float] | tuple[float, ...]) -> None:
        """Record one successful call's per-step milliseconds, in the order of ``steps``."""
        with self._lock:
            for window, ms in zip(self._ordered, durations):
                window.add(ms)
            self._total.add(sum(durations))

    def record_error(self, step: str) -> None:
        """Count a call that failed in ``step``."""
        with self._lock:
            window = self._steps.get(step)
            if window is not None:
                window.errors += 1
            self._steps["total"].errors += 1

    def snapshot(self) -> dict[str, StepStatistics]:
        """Per-step statistics (plus ``total``) as of now."""
        with self._lock:
            return {name: window.summary() for name, window in self._steps.items()}
