"""Prometheus metrics of one server, aggregated correctly across worker processes.

With ``--workers N`` the launcher gives every worker the same ``PROMETHEUS_MULTIPROC_DIR``;
prometheus-client then keeps each worker's values in memory-mapped files there, and a scrape
answered by any worker reads and merges all of them (counters and histograms are summed, gauges
are summed over live workers). With one worker, values live in an ordinary in-memory registry.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.stats import BATCH_SIZE_BUCKETS

__all__ = ["REQUEST_OUTCOMES", "ServeMetrics"]

#: Outcome label of ``packflow_requests_total``.
REQUEST_OUTCOMES = ("ok", "partial", "error", "bad_request", "too_large", "timeout", "unavailable")
#: Steps with a latency histogram.
STEPS = ("preprocess", "transform_inputs", "execute", "transform_outputs")
LATENCY_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_enabled() -> bool:
    """True when prometheus-client stores values in ``PROMETHEUS_MULTIPROC_DIR`` (several workers)."""
    return bool(os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()))


class ServeMetrics:
    """The server's metrics, labelled by backend name and version; children are bound once."""

    def __init__(self, name: str, version: str, registry: Any = None) -> None:
        """``registry``: share one registry among several models (each model's series get its labels)."""
        import prometheus_client as pc

        self._pc = pc
        self.multiprocess = multiprocess_enabled()
        self.registry = registry if registry is not None else pc.CollectorRegistry()
        values = (name, version)
        requests, records, latency, steps, batch, dead, depth, ready = _families(self.registry)
        self._requests = {o: requests.labels(*values, o) for o in REQUEST_OUTCOMES}
        self._records_ok = records.labels(*values, "ok")
        self._records_dead = records.labels(*values, "dead_letter")
        self._latency = latency.labels(*values)
        self._steps = {s: steps.labels(*values, s) for s in STEPS}
        self._batch = batch.labels(*values)
        self._dead = dead
        self._values = values
        self.queue_depth = depth.labels(*values)
        self.ready = ready.labels(*values)
        for step in STEPS:  # make the dead-letter series visible before the first failure
            dead.labels(*values, step)
        self._backend: Any = None
        self._quality_registry = pc.CollectorRegistry()
        self._quality_registry.register(_QualityCollector(self))  # type: ignore[arg-type]

    def observe_request(self, outcome: str, seconds: float) -> None:
        """Count one /invoke request and its latency."""
        self._requests[outcome].inc()
        self._latency.observe(seconds)

    def observe_batch(self, records: list, results: list, backend: Any, queue_depth: int = 0) -> None:
        """Batch size, record outcomes, dead letters, step latencies and the queue depth after one batch."""
        size = len(records)
        self.queue_depth.set(queue_depth)
        self._batch.observe(size)
        dead = 0
        for result in results:
            if type(result) is DeadLetter:
                dead += 1
                self._dead.labels(*self._values, result.step).inc()
        self._records_ok.inc(size - dead)
        if dead:
            self._records_dead.inc(dead)
        self._observe_steps(backend)
        self._backend = backend

    def observe_rejected_records(self, step: str, count: int) -> None:
        """Outputs the server could not encode (already counted as ok records by the backend's batch)."""
        self._dead.labels(*self._values, step).inc(count)

    def _observe_steps(self, backend: Any) -> None:
        try:
            times = backend.get_metrics().execution_times
        except Exception:  # noqa: BLE001 - the last call failed before timing anything
            return
        for step, child in self._steps.items():
            ms = getattr(times, step, None)
            if ms is not None:
                child.observe(ms / 1000.0)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition (merged across workers in multiprocess mode)."""
        pc = self._pc
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = pc.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return pc.generate_latest(registry) + pc.generate_latest(self._quality_registry), pc.CONTENT_TYPE_LATEST
        return pc.generate_latest(self.registry) + pc.generate_latest(self._quality_registry), pc.CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Mark this worker dead so its live gauges stop counting (multiprocess mode)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


_FAMILIES: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def _families(reg: Any) -> tuple[Any, ...]:
    """The metric families of registry ``reg``, created once per registry."""
    found = _FAMILIES.get(reg)
    if found is not None:
        return found
    import prometheus_client as pc

    labels = ("backend", "version")
    families = (
        pc.Counter("packflow_requests", "HTTP /invoke requests by outcome.", [*labels, "outcome"], registry=reg),
        pc.Counter("packflow_records", "Records by outcome (ok or dead_letter).", [*labels, "outcome"], registry=reg),
        pc.Histogram(
            "packflow_request_latency_seconds", "Time from request received to response ready, /invoke.",
            labels, buckets=LATENCY_BUCKETS, registry=reg,
        ),
        pc.Histogram(
            "packflow_step_latency_seconds", "Backend step latency per batch call.", [*labels, "step"],
            buckets=LATENCY_BUCKETS, registry=reg,
        ),
        pc.Histogram(
            "packflow_batch_size", "Records per backend batch.", labels,
            buckets=[float(b) for b in BATCH_SIZE_BUCKETS], registry=reg,
        ),
        pc.Counter("packflow_dead_letters", "Dead-lettered records by failing step.", [*labels, "step"], registry=reg),
        pc.Gauge("packflow_queue_depth", "Records waiting for the backend.", labels, registry=reg, multiprocess_mode="livesum"),
        pc.Gauge("packflow_ready", "Workers whose backend is ready.", labels, registry=reg, multiprocess_mode="livesum"),
    )
    _FAMILIES[reg] = families
    return families


class _QualityCollector:
    """The data-quality counters of the backend this server last ran (this worker's, with several)."""

    def __init__(self, metrics: ServeMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Any:
        from packflow.runtime.quality_metrics import data_quality_families

        backend = self.metrics._backend
        quality = backend.get_data_quality() if backend is not None and hasattr(backend, "get_data_quality") else None
        yield from data_quality_families(quality.model_dump() if quality is not None else None,
                                         ("backend", "version"), self.metrics._values)
