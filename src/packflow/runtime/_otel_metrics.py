"""OTLP metrics of the Runner (``--metrics-exporter otlp``): the vocabulary's common families.

Instrument names, descriptions, label sets and histogram bounds come from
:mod:`packflow.runtime.metrics_vocab` (``packflow_records``, ``packflow_dead_letters``,
``packflow_backend_calls``, ``packflow_batch_size``, ``packflow_step_latency_seconds``; attributes
``backend``, ``version`` and ``step``), so a collector exporting to Prometheus yields the series a
scrape of ``/metrics`` shows (counters get ``_total`` there). Units are UCUM, as OpenTelemetry
expects. Recorded once per batch on the backend thread, from the same clock marks the spans use:
nothing is measured twice.
"""

from __future__ import annotations

from typing import Any, Sequence

from packflow.runtime import metrics_vocab as vocab

__all__ = ["RunnerInstruments"]


class RunnerInstruments:
    """The four instruments, and how one batch is recorded on them."""

    def __init__(self, meter: Any) -> None:
        def counter(metric: vocab.Metric, unit: str) -> Any:
            return meter.create_counter(metric.name, unit=unit, description=metric.help)

        def histogram(metric: vocab.Metric, unit: str) -> Any:
            return meter.create_histogram(metric.name, unit=unit, description=metric.help,
                                          explicit_bucket_boundaries_advisory=[float(b) for b in metric.buckets])

        self.records = counter(vocab.RECORDS, "{record}")
        self.dead = counter(vocab.DEAD_LETTERS, "{record}")
        self.calls = counter(vocab.BACKEND_CALLS, "{call}")
        self.batch_size = histogram(vocab.BATCH_SIZE, "{record}")
        self.latency = histogram(vocab.STEP_LATENCY, "s")

    def batch(self, labels: tuple[str, str], size: int, dead_steps: list[str], calls: list, steps: Sequence[str]) -> None:
        """One Runner chunk: its records, dead letters, size, and each successful call's step latencies."""
        base = {"backend": labels[0], "version": labels[1]}
        self.batch_size.record(size, base)
        self.records.add(size, base)
        self.calls.add(len(calls), base)
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
        if step != "encode":  # an unencodable output's record was already counted when it reached the backend
            self.records.add(count, base)
