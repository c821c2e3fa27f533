"""The one metric vocabulary of every driver: each metric's name, type, unit, labels and buckets, once.

``packflow serve`` (``/metrics``), ``packflow stream`` (``--metrics-port``) and ``packflow run``
(``--metrics-json``) all export the metrics defined here, under these names and label sets; the
table in ``docs/metrics.md`` is generated from :data:`METRICS`
(``python -m packflow.cli._metrics_reference --write docs/metrics.md``) and a test fails when it is
stale. Nothing here imports prometheus-client: the exporters (:mod:`packflow.runtime.metrics_export`
and the serve driver's registry) do, lazily.

Names are family names as Prometheus parsers report them; a counter's samples carry ``_total``
(``packflow_records`` is scraped as ``packflow_records_total``), a histogram's ``_bucket``,
``_count`` and ``_sum``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALL_DRIVERS", "BACKEND_STEPS", "BATCH_SIZE_BUCKETS", "COMMON_LABELS", "LATENCY_BUCKETS", "METRICS", "Metric", "by_name",
]

#: Labels every metric about a model carries: the backend's name and version (its target's).
COMMON_LABELS = ("backend", "version")
#: Upper bounds (records) of the batch-size histogram; the last bucket is ``+Inf``.
BATCH_SIZE_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
#: Upper bounds (seconds) of the latency histograms; the last bucket is ``+Inf``.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
ALL_DRIVERS = ("serve", "stream", "run")


@dataclass(frozen=True)
class Metric:
    """One metric family: what it is called, its type and unit, its labels and what it means."""

    name: str
    kind: str  # "counter" | "gauge" | "histogram"
    unit: str
    labels: tuple[str, ...]
    drivers: tuple[str, ...]
    meaning: str
    buckets: tuple[float, ...] = ()

    @property
    def help(self) -> str:
        """The ``# HELP`` text: the meaning's first sentence."""
        return self.meaning.split(". ")[0].rstrip(".") + "."

    @property
    def samples(self) -> tuple[str, ...]:
        """The sample names a scrape shows for this family."""
        if self.kind == "counter":
            return (f"{self.name}_total",)
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_count", f"{self.name}_sum")
        return (self.name,)


def _common(name: str, kind: str, unit: str, extra: tuple[str, ...], meaning: str, buckets: tuple[float, ...] = (),
            drivers: tuple[str, ...] = ALL_DRIVERS) -> Metric:
    return Metric(name, kind, unit, (*COMMON_LABELS, *extra), drivers, meaning, buckets)


RECORDS = _common("packflow_records", "counter", "records", (),
                  "Records received by the driver, including those dead-lettered before reaching the backend. "
                  "Outputs are this minus the dead letters.")
DEAD_LETTERS = _common("packflow_dead_letters", "counter", "records", ("step",),
                       "Records dead-lettered, by the step that failed: a backend step, or the driver's "
                       "`decode`, `encode` or `deliver`.")
BACKEND_CALLS = _common("packflow_backend_calls", "counter", "calls", (),
                        "Backend calls, including the extra calls isolation makes to find bad records. "
                        "Equals the batch count while no batch fails.")
BATCH_SIZE = _common("packflow_batch_size", "histogram", "records", (),
                     "Records per batch handed to the Runner; one observation per batch, so `_count` is the "
                     "number of batches and `_sum` the records that reached the backend.", BATCH_SIZE_BUCKETS)
STEP_LATENCY = _common("packflow_step_latency_seconds", "histogram", "seconds", ("step",),
                       "Time of each backend step, one observation per successful backend call (a clean batch "
                       "is one call). `_count` per step is the step's successful calls.", LATENCY_BUCKETS)
FIELD_VALUES = _common("packflow_field_values", "counter", "values", ("field", "outcome"),
                       "Values of each configured input field, by outcome: `present`, `missing`, `null`, "
                       "`type_mismatch`. Only for backends with configured fields.")
FIELD_RECORDS = _common("packflow_field_records", "counter", "records", (),
                        "Records whose fields the preprocessor counted. Only for backends with configured fields.")
FIELD_EVENTS = _common("packflow_field_events", "counter", "values", ("kind",),
                       "Input field values `renamed`, `dropped` from the output, or `unexpected`. "
                       "Only for backends with configured fields.")
SERVE_REQUESTS = _common("packflow_serve_requests", "counter", "requests", ("outcome",),
                         "Inference requests (native, V2 REST/gRPC, KServe V1) by outcome: `ok`, `partial`, "
                         "`error`, `bad_request`, `too_large`, `timeout`, `unavailable`.", drivers=("serve",))
SERVE_REQUEST_LATENCY = _common("packflow_serve_request_latency_seconds", "histogram", "seconds", (),
                                "Time from request received to response ready.", LATENCY_BUCKETS, ("serve",))
SERVE_QUEUE_DEPTH = _common("packflow_serve_queue_depth", "gauge", "records", (),
                            "Records waiting for the backend (summed over live workers).", drivers=("serve",))
SERVE_READY = _common("packflow_serve_ready", "gauge", "workers", (),
                      "Workers whose backend is ready (summed over live workers).", drivers=("serve",))
SERVE_AUTH_FAILURES = Metric("packflow_serve_auth_failures", "counter", "requests", ("protocol", "reason"), ("serve",),
                             "Requests refused for want of an accepted API key (HTTP 401, gRPC UNAUTHENTICATED), by "
                             "`protocol` (`http`, `grpc`) and `reason` (`missing`, `invalid`). Server-wide: no "
                             "backend labels.")
STREAM_LAG = _common("packflow_stream_lag", "gauge", "entries", (),
                     "Entries not yet delivered to the consumer group (sampled once a second).", drivers=("stream",))
STREAM_PENDING = _common("packflow_stream_pending", "gauge", "entries", (),
                         "Entries delivered but not acknowledged (sampled once a second).", drivers=("stream",))
STREAM_BROKER_RETRIES = _common("packflow_stream_broker_retries", "counter", "calls", (),
                                "Broker calls retried after a connection error.", drivers=("stream",))

#: Every metric packflow exports, in the order of the docs table.
METRICS: tuple[Metric, ...] = (
    RECORDS, DEAD_LETTERS, BACKEND_CALLS, BATCH_SIZE, STEP_LATENCY, FIELD_VALUES, FIELD_RECORDS, FIELD_EVENTS,
    SERVE_REQUESTS, SERVE_REQUEST_LATENCY, SERVE_QUEUE_DEPTH, SERVE_READY, SERVE_AUTH_FAILURES,
    STREAM_LAG, STREAM_PENDING, STREAM_BROKER_RETRIES,
)
_BY_NAME = {m.name: m for m in METRICS}
#: Steps a dead-letter series exists for before the first failure.
BACKEND_STEPS = ("preprocess", "transform_inputs", "execute", "transform_outputs")


def by_name(name: str) -> Metric:
    """The metric called ``name`` (family name, without ``_total``)."""
    return _BY_NAME[name]
