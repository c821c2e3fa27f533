"""Per-call metrics (``ExecutionMetrics``) and the rolling per-step statistics."""

from __future__ import annotations

from typing import Any, Callable, Optional

from pydantic import BaseModel, PrivateAttr, computed_field, model_validator

from packflow.backend.rolling import RollingStats

__all__ = ["DataQuality", "ExecutionMetrics", "ExecutionTimes", "FieldCounts", "RollingStats", "StepStatistics"]


class FieldCounts(BaseModel):
    """Counts of one configured field over the backend's life (``type_mismatch`` ⊆ ``present``)."""

    present: int = 0
    missing: int = 0
    null: int = 0
    type_mismatch: int = 0


class DataQuality(BaseModel):
    """Lifetime data-quality counts of a backend's preprocessor."""

    records: int = 0
    fields: dict[str, FieldCounts] = {}
    renamed: int = 0
    dropped: int = 0
    unexpected: int = 0


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
    #: How long ``initialize()`` took when the backend was constructed (ms); not part of the total.
    initialize_time_ms: Optional[float] = None

    _quality: Optional[Callable[[], Optional[DataQuality]]] = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _fill_total(self) -> "ExecutionMetrics":
        self.total_execution_time = self.execution_times.total()
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def data_quality(self) -> Optional[DataQuality]:
        """Lifetime field-level data-quality counts (computed when read; None without configured fields)."""
        return self._quality() if self._quality is not None else None

    def _with_quality(self, source: Callable[[], Any]) -> "ExecutionMetrics":
        self._quality = source
        return self

    def _repr_html_(self) -> str:
        from packflow.backend.display import html_table

        times = self.execution_times.model_dump()
        rows = [[step, ms] for step, ms in times.items() if ms is not None] + [["total", self.total_execution_time]]
        return html_table(("step", "ms"), rows, f"last call: {self.batch_size} record(s)")


class StepStatistics(BaseModel):
    """Rolling statistics of one step: lifetime ``count``/``errors``; the rest over the last ``window`` calls."""

    count: int
    errors: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    window: int
