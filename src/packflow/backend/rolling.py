"""``RollingStats``: per-step latency statistics over a fixed-size ring of recent calls."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.metrics import StepStatistics

__all__ = ["RollingStats"]


def _percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _summary(durations: list[float], count: int, errors: int) -> StepStatistics:
    from packflow.backend.metrics import StepStatistics

    ordered = sorted(durations)
    return StepStatistics(
        count=count,
        errors=errors,
        mean_ms=sum(ordered) / len(ordered) if ordered else 0.0,
        p50_ms=_percentile(ordered, 50),
        p95_ms=_percentile(ordered, 95),
        p99_ms=_percentile(ordered, 99),
        max_ms=ordered[-1] if ordered else 0.0,
        window=len(ordered),
    )


class RollingStats:
    """Thread-safe rolling per-step latency statistics in a fixed-size ring of recent calls.

    Recording a call costs O(1): one ring-slot write under a lock. Each slot holds the call's
    clock marks (``perf_counter()`` before the first step and after each step); durations,
    means and percentiles are computed only when :meth:`snapshot` is asked for. ``count`` and
    ``errors`` cover the instance's whole life; ``mean_ms``, the percentiles and ``max_ms``
    cover the most recent ``window`` successful calls.
    """

    def __init__(self, steps: tuple[str, ...], window: int = 1024) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window!r}")
        self._lock = threading.Lock()
        self._steps = steps
        self._size = window
        self._ring: list[Sequence[float]] = []
        self._count = 0
        self._errors = dict.fromkeys((*steps, "total"), 0)

    def record(self, marks: Sequence[float]) -> None:
        """Record one successful call from its clock marks (seconds), one more than there are steps."""
        with self._lock:
            count = self._count
            if count < self._size:
                self._ring.append(marks)
            else:
                self._ring[count % self._size] = marks
            self._count = count + 1

    def record_error(self, step: str) -> None:
        """Count a call that failed in ``step`` (also counted under ``total``)."""
        with self._lock:
            if step in self._errors:
                self._errors[step] += 1
            self._errors["total"] += 1

    def snapshot(self) -> dict[str, StepStatistics]:
        """Per-step statistics (plus ``total``) as of now."""
        with self._lock:
            ring, count, errors = list(self._ring), self._count, dict(self._errors)
        result = {
            name: _summary([(m[i + 1] - m[i]) * 1000.0 for m in ring], count, errors[name])
            for i, name in enumerate(self._steps)
        }
        result["total"] = _summary([(m[-1] - m[0]) * 1000.0 for m in ring], count, errors["total"])
        return result
