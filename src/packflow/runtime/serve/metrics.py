"""Prometheus metrics of one server, aggregated correctly across worker processes.

Names, types, labels and buckets come from :mod:`packflow.runtime.metrics_vocab`, the vocabulary
``packflow stream`` and ``packflow run --metrics-json`` export too. The Runner reports every batch,
backend call and driver dead letter to :class:`ServeMetrics` (its ``observer``) as it happens.

With ``--workers N`` the launcher gives every worker the same ``PROMETHEUS_MULTIPROC_DIR``;
prometheus-client then keeps each worker's values in memory-mapped files there, and a scrape
answered by any worker reads and merges all of them (counters and histograms are summed, gauges
are summed over live workers). With one worker, values live in an ordinary in-memory registry.
The server process exports no ``*_created`` series (prometheus-client's per-process switch).
"""

from __future__ import annotations

import os
import weakref
from typing import Any, Iterator, Sequence

from packflow.runtime import metrics_vocab as vocab
from packflow.runtime.metrics_export import client_metric, quality_families, to_prometheus

__all__ = ["REQUEST_OUTCOMES", "ServeMetrics"]

#: Outcome label of ``packflow_serve_requests_total``.
REQUEST_OUTCOMES = ("ok", "partial", "error", "bad_request", "too_large", "timeout", "unavailable")
#: Steps with a latency histogram.
STEPS = vocab.BACKEND_STEPS
LATENCY_BUCKETS = vocab.LATENCY_BUCKETS
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LIVE = (
    vocab.SERVE_REQUESTS, vocab.RECORDS, vocab.SERVE_REQUEST_LATENCY, vocab.STEP_LATENCY, vocab.BATCH_SIZE,
    vocab.DEAD_LETTERS, vocab.BACKEND_CALLS, vocab.SERVE_QUEUE_DEPTH, vocab.SERVE_READY,
)


def multiprocess_enabled() -> bool:
    """True when prometheus-client stores values in ``PROMETHEUS_MULTIPROC_DIR`` (several workers)."""
    return bool(os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()))


class ServeMetrics:
    """The server's metrics, labelled by backend name and version; children are bound once."""

    def __init__(self, name: str, version: str, registry: Any = None) -> None:
        """``registry``: share one registry among several models (each model's series get its labels)."""
        import prometheus_client as pc

        self._pc = pc
        # No `_created` gauges: the exposition holds the vocabulary's families only, as stream's does.
        pc.disable_created_metrics()
        self.multiprocess = multiprocess_enabled()
        self.registry = registry if registry is not None else pc.CollectorRegistry()
        values = self._values = (name, version)
        requests, records, latency, steps, batch, dead, calls, depth, ready = _families(self.registry)
        self._requests = {o: requests.labels(*values, o) for o in REQUEST_OUTCOMES}
        self._records = records.labels(*values)
        self._latency = latency.labels(*values)
        self._step_family = steps
        self._steps: dict[str, Any] = {}  # a series per step the backend runs, as in stream and run
        self._batch = batch.labels(*values)
        self._dead_family = dead
        self._dead = {s: dead.labels(*values, s) for s in STEPS}  # visible before the first failure
        self._calls = calls.labels(*values)
        self.queue_depth = depth.labels(*values)
        self.ready = ready.labels(*values)
        self._backend: Any = None
        # One worker: read at scrape time. Several: each worker adds its counts' increments to live
        # counters after each batch, which prometheus-client sums across the workers' files.
        self._live_quality = _LiveQuality(self.registry, values) if self.multiprocess else None
        if self._live_quality is None:
            _quality_collector(self.registry).models.append(self)

    def observe_request(self, outcome: str, seconds: float) -> None:
        """Count one inference request and its latency."""
        self._requests[outcome].inc()
        self._latency.observe(seconds)

    # -- the Runner's observer (packflow.runtime.stats.RunObserver), on the backend thread ----------

    def batch_done(self, size: int, dead_steps: Sequence[str], calls: int) -> None:
        """Batch size, records, calls and dead letters of one batch."""
        self._batch.observe(size)
        self._records.inc(size)
        self._calls.inc(calls)
        for step in dead_steps:
            self._dead_child(step).inc()
        if self._live_quality is not None and self._backend is not None:
            self._live_quality.sync(self._backend)

    def call_done(self, names: Sequence[str], seconds: Sequence[float]) -> None:
        """Step latencies of one successful backend call."""
        steps = self._steps
        for name, value in zip(names, seconds):
            child = steps.get(name)
            if child is None:
                child = steps[name] = self._step_family.labels(*self._values, name)
            child.observe(value)

    def dead_letters(self, step: str, count: int) -> None:
        """Records the server dead-lettered itself (outputs it could not encode)."""
        self._dead_child(step).inc(count)
        if step != "encode":  # never reached the backend: received all the same
            self._records.inc(count)

    def _dead_child(self, step: str) -> Any:
        child = self._dead.get(step)
        if child is None:
            child = self._dead[step] = self._dead_family.labels(*self._values, step)
        return child

    def watch(self, backend: Any) -> None:
        """The backend whose data-quality counters ``/metrics`` reports."""
        self._backend = backend

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition (merged across workers in multiprocess mode)."""
        pc = self._pc
        quality = pc.generate_latest(_quality_registry(self.registry))
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = pc.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return pc.generate_latest(registry) + quality, pc.CONTENT_TYPE_LATEST
        return pc.generate_latest(self.registry) + quality, pc.CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Mark this worker dead so its live gauges stop counting (multiprocess mode)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


_FAMILIES: weakref.WeakKeyDictionary[Any, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def _families(reg: Any) -> tuple[Any, ...]:
    """The live metric families of registry ``reg``, created once per registry."""
    found = _FAMILIES.get(reg)
    if found is None:
        found = _FAMILIES[reg] = tuple(client_metric(metric, reg) for metric in _LIVE)
    return found


class _QualityCollector:
    """The data-quality counters of every model sharing one registry (this worker's, with several)."""

    def __init__(self) -> None:
        self.models: list[ServeMetrics] = []

    def collect(self) -> Iterator[Any]:
        families: dict[str, Any] = {}
        for model in self.models:
            common = dict(zip(vocab.COMMON_LABELS, model._values))
            for family in quality_families(_dumped(model._backend), common):
                merged = families.setdefault(family.metric.name, family)
                if merged is not family:
                    merged.samples.extend(family.samples)
        yield from to_prometheus(families.values())


_QUALITY_FAMILIES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


class _LiveQuality:
    """One model's data-quality counts as live counters (several workers): :meth:`sync` adds what
    grew since the last sync. A restarted engine (``backend.restarts`` changed) counts from zero
    again, so its counts are all new."""

    def __init__(self, registry: Any, values: tuple[str, str]) -> None:
        found = _QUALITY_FAMILIES.get(registry)
        if found is None:
            metrics = (vocab.FIELD_VALUES, vocab.FIELD_RECORDS, vocab.FIELD_EVENTS)
            found = _QUALITY_FAMILIES[registry] = {m.name: client_metric(m, registry) for m in metrics}
        self._counters = found
        self._common = dict(zip(vocab.COMMON_LABELS, values))
        self._last: dict[tuple, float] = {}
        self._seen: Any = None
        self._restarts = 0

    def sync(self, backend: Any) -> None:
        dump = getattr(backend, "data_quality_dump", None)
        quality = dump() if dump is not None else _dumped(backend)
        if quality is None or quality is self._seen:  # nothing configured, or no call since the last sync
            return
        self._seen = quality
        restarts = getattr(backend, "restarts", 0)
        if restarts != self._restarts:
            self._restarts, self._last = restarts, {}
        for family in quality_families(quality, self._common):
            counter = self._counters[family.metric.name]
            for _, labels, value in family.samples:
                key = (family.metric.name, *labels.values())
                grew = value - self._last.get(key, 0.0)
                if grew > 0:
                    counter.labels(**labels).inc(grew)
                self._last[key] = value


def _dumped(backend: Any) -> dict[str, Any] | None:
    """The backend's ``DataQuality.model_dump()`` (None: no backend yet, or no field configured)."""
    quality = backend.get_data_quality() if hasattr(backend, "get_data_quality") else None
    return quality.model_dump() if quality is not None else None


_QUALITY: weakref.WeakKeyDictionary[Any, tuple[Any, _QualityCollector]] = weakref.WeakKeyDictionary()


def _quality_collector(reg: Any) -> _QualityCollector:
    return _quality_entry(reg)[1]


def _quality_registry(reg: Any) -> Any:
    return _quality_entry(reg)[0]


def _quality_entry(reg: Any) -> tuple[Any, _QualityCollector]:
    """A side registry per live registry: data quality is read from the backend at scrape time."""
    found = _QUALITY.get(reg)
    if found is None:
        import prometheus_client as pc

        collector = _QualityCollector()
        side = pc.CollectorRegistry(auto_describe=False)
        side.register(collector)  # type: ignore[arg-type]
        found = _QUALITY[reg] = (side, collector)
    return found


