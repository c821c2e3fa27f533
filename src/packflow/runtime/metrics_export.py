"""The vocabulary's metrics from a Runner snapshot: as Prometheus families (stream) or JSON (run).

:func:`snapshot_families` turns a :class:`~packflow.runtime.stats.RunnerSnapshot` into the common
families of :mod:`packflow.runtime.metrics_vocab` — plain data, computed at scrape or report time,
never on the per-batch path. :func:`to_json` writes them as ``run --metrics-json`` reports them
(the Prometheus data model: per family its type, unit, help and samples with name, labels and
value); :func:`to_prometheus` yields prometheus-client metric families (imported lazily) for a
collector. :func:`client_metric` creates serve's live prometheus-client objects from the same
definitions, so both paths share names, types, labels and buckets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping

from packflow.runtime import metrics_vocab as vocab
from packflow.runtime.metrics_vocab import Metric

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.stats import RunnerSnapshot

__all__ = ["Family", "client_metric", "quality_families", "snapshot_families", "to_json", "to_prometheus"]

Labels = dict[str, str]


@dataclass
class Family:
    """One metric family's samples: ``(sample name, labels, value)``."""

    metric: Metric
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)

    def add(self, labels: Labels, value: float) -> None:
        """A counter's or gauge's sample."""
        self.samples.append((self.metric.samples[0], labels, value))

    def add_histogram(self, labels: Labels, counts: Iterable[int], total: float) -> None:
        """A histogram's ``_bucket`` (cumulative), ``_count`` and ``_sum`` samples from per-bucket counts."""
        name = self.metric.name
        running = 0
        for bound, count in zip((*self.metric.buckets, float("inf")), counts):
            running += count
            self.samples.append((f"{name}_bucket", {**labels, "le": _le(bound)}, running))
        self.samples.append((f"{name}_count", labels, running))
        self.samples.append((f"{name}_sum", labels, total))


def _le(bound: float) -> str:
    """A bucket bound as Prometheus clients write it (``1.0``, ``5e-05``, ``+Inf``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


def snapshot_families(snapshot: RunnerSnapshot, backend: str, version: str) -> list[Family]:
    """The common families (records, dead letters, calls, batch sizes, step latency, data quality)."""
    common = {"backend": backend, "version": version}
    records, dead, calls = Family(vocab.RECORDS), Family(vocab.DEAD_LETTERS), Family(vocab.BACKEND_CALLS)
    records.add(common, snapshot.records_in)
    for step in sorted({*vocab.BACKEND_STEPS, *snapshot.dead_letters_by_step}):
        dead.add({**common, "step": step}, snapshot.dead_letters_by_step.get(step, 0))
    calls.add(common, snapshot.backend_calls)
    sizes = Family(vocab.BATCH_SIZE)
    sizes.add_histogram(common, snapshot.batch_sizes.values(), snapshot.batch_records)
    latency = Family(vocab.STEP_LATENCY)
    for step, hist in snapshot.step_latency.items():
        latency.add_histogram({**common, "step": step}, hist["buckets"], hist["sum"])
    return [records, dead, calls, sizes, latency, *quality_families(snapshot.data_quality, common)]


def quality_families(quality: Mapping[str, Any] | None, common: Labels) -> list[Family]:
    """The data-quality families of a ``DataQuality.model_dump()`` (none when ``quality`` is None)."""
    if not quality:
        return []
    from packflow.runtime.quality_metrics import OUTCOMES

    values, records, events = Family(vocab.FIELD_VALUES), Family(vocab.FIELD_RECORDS), Family(vocab.FIELD_EVENTS)
    for name, counts in quality["fields"].items():
        for outcome in OUTCOMES:
            values.add({**common, "field": name, "outcome": outcome}, counts[outcome])
    records.add(common, quality["records"])
    for kind in ("renamed", "dropped", "unexpected"):
        events.add({**common, "kind": kind}, quality[kind])
    return [values, records, events]


def to_json(families: Iterable[Family]) -> dict[str, Any]:
    """``{family name: {type, unit, help, samples: [{name, labels, value}]}}``, JSON-ready."""
    return {
        f.metric.name: {
            "type": f.metric.kind, "unit": f.metric.unit, "help": f.metric.help,
            "samples": [{"name": n, "labels": labels, "value": value} for n, labels, value in f.samples],
        }
        for f in families
    }


def to_prometheus(families: Iterable[Family]) -> Iterator[Any]:
    """prometheus-client metric families for a custom collector's ``collect()``."""
    from prometheus_client.metrics_core import Metric as ClientMetric

    for f in families:
        family = ClientMetric(f.metric.name, f.metric.help, f.metric.kind)
        for name, labels, value in f.samples:
            family.add_sample(name, labels, value)
        yield family


def client_metric(metric: Metric, registry: Any) -> Any:
    """A live prometheus-client Counter, Gauge (``livesum`` across workers) or Histogram for ``metric``."""
    import prometheus_client as pc

    labels = list(metric.labels)
    if metric.kind == "counter":
        return pc.Counter(metric.name, metric.help, labels, registry=registry)
    if metric.kind == "gauge":
        return pc.Gauge(metric.name, metric.help, labels, registry=registry, multiprocess_mode="livesum")
    return pc.Histogram(metric.name, metric.help, labels, buckets=[float(b) for b in metric.buckets], registry=registry)
