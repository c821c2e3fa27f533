"""OTLP metrics of the Runner (``--metrics-exporter otlp``), under the names serve's /metrics uses.

Instrument names, units and attributes match the Prometheus families of
:mod:`packflow.runtime.serve.metrics` (``packflow_records``, ``packflow_dead_letters``,
``packflow_batch_size``, ``packflow_step_latency_seconds``; attributes ``backend``, ``version``,
``outcome``/``step``), so a collector exporting to Prometheus yields the same series (counters get
``_total`` there, as prometheus-client adds it). Recorded once per batch on the backend thread, from
the same clock marks the spans use: nothing is measured twice.
"""

from __future__ import annotations

from typing import Any, Sequence

from packflow.runtime.serve.metrics import LATENCY_BUCKETS  # the bounds of serve's histogram (no web import)
from packflow.runtime.stats import BATCH_SIZE_BUCKETS

__all__ = ["RunnerInstruments"]


class RunnerInstruments:
    """The four instruments, and how one batch is recorded on them."""

    def __init__(self, meter: Any) -> None:
        self.records = meter.create_counter("packflow_records", unit="{record}", description="Records by outcome (ok or dead_letter).")
        self.dead = meter.create_counter("packflow_dead_letters", unit="{record}", description="Dead-lettered records by failing step.")
        self.batch_size = meter.create_histogram(
            "packflow_batch_size", unit="{record}", description="Records per backend batch.",
            explicit_bucket_boundaries_advisory=[float(b) for b in BATCH_SIZE_BUCKETS],
        )
        self.latency = meter.create_histogram(
            "packflow_step_latency_seconds", unit="s", description="Backend step latency per batch call.",
            explicit_bucket_boundaries_advisory=list(LATENCY_BUCKETS),
        )

    def batch(self, labels: tuple[str, str], size: int, dead_steps: list[str], calls: list, steps: Sequence[str]) -> None:
        """One Runner chunk: its records, dead letters, size, and each successful call's step latencies."""
        base = {"backend": labels[0], "version": labels[1]}
        self.batch_size.record(size, base)
        self.records.add(size - len(dead_steps), {**base, "outcome": "ok"})
        if dead_steps:
            self.records.add(len(dead_steps), {**base, "outcome": "dead_letter"})
            for step in dead_steps:
                self.dead.add(1, {**base, "step": step})
        for _start, _end, _size, marks, _exc in calls:
            if marks is not None:
                for step, a, b in zip(steps, marks, marks[1:]):
                    self.latency.record(b - a, {**base, "step": step})

    def driver_dead_letters(self, labels: tuple[str, str], step: str, count: int) -> None:
        """Records a driver dead-lettered itself (``decode``, ``deliver``: never reached the backend; ``encode``)."""
        base = {"backend": labels[0], "version": labels[1]}
        self.dead.add(count, {**base, "step": step})
        if step != "encode":  # an unencodable output was already counted when the backend returned it
            self.records.add(count, {**base, "outcome": "dead_letter"})
