"""Per-call metrics (``ExecutionMetrics``) and the rolling per-step statistics."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, model_validator

from packflow.backend.rolling import RollingStats

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
