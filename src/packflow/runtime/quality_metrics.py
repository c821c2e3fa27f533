"""Field-level data-quality counts as Prometheus metric families, for serve's and stream's ``/metrics``.

One function, :func:`data_quality_families`, called from both drivers' collectors (needs
prometheus-client, which the ``serve`` and ``redis`` extras install). Series:

- ``packflow_field_values_total{field, outcome}`` — outcome ``present``, ``missing``, ``null``,
  ``type_mismatch``, per configured input field;
- ``packflow_field_records_total`` — records the preprocessor counted;
- ``packflow_field_events_total{kind}`` — ``renamed``, ``dropped`` and ``unexpected`` field values.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

__all__ = ["OUTCOMES", "data_quality_families"]

OUTCOMES = ("present", "missing", "null", "type_mismatch")


def data_quality_families(quality: Mapping[str, Any] | None, label_names: Sequence[str] = (),
                          label_values: Sequence[str] = ()) -> Iterator[Any]:
    """Counter families for a ``DataQuality.model_dump()`` (nothing when ``quality`` is None)."""
    if not quality:
        return
    from prometheus_client.core import CounterMetricFamily

    names, values = list(label_names), list(label_values)
    fields = CounterMetricFamily(
        "packflow_field_values", "Values of each configured input field, by outcome.", labels=[*names, "field", "outcome"]
    )
    for field, counts in quality["fields"].items():
        for outcome in OUTCOMES:
            fields.add_metric([*values, field, outcome], counts[outcome])
    records = CounterMetricFamily("packflow_field_records", "Records whose fields were counted.", labels=names)
    records.add_metric(values, quality["records"])
    events = CounterMetricFamily(
        "packflow_field_events", "Input field values renamed, dropped from the output, or unexpected.", labels=[*names, "kind"]
    )
    for kind in ("renamed", "dropped", "unexpected"):
        events.add_metric([*values, kind], quality[kind])
    yield from (fields, records, events)
