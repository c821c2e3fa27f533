"""Field-level data-quality counts as Prometheus metric families, for serve's and stream's ``/metrics``.

The families are those of :mod:`packflow.runtime.metrics_vocab` (``packflow_field_values_total
{backend, version, field, outcome}``, ``packflow_field_records_total``, ``packflow_field_events_total
{kind}``), built by :func:`packflow.runtime.metrics_export.quality_families`; ``run --metrics-json``
reports the same families as JSON. Needs prometheus-client (the ``serve`` and ``redis`` extras).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

__all__ = ["OUTCOMES", "data_quality_families"]

OUTCOMES = ("present", "missing", "null", "type_mismatch")


def data_quality_families(quality: Mapping[str, Any] | None, label_names: Sequence[str] = (),
                          label_values: Sequence[str] = ()) -> Iterator[Any]:
    """Counter families for a ``DataQuality.model_dump()`` (nothing when ``quality`` is None)."""
    from packflow.runtime.metrics_export import quality_families, to_prometheus

    yield from to_prometheus(quality_families(quality, dict(zip(label_names, label_values))))
