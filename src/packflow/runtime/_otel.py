"""The OpenTelemetry observer (extra ``packflow[otel]``): batch, step and request spans; OTLP metrics.

Only imported when tracing or OTLP metrics are switched on (:mod:`packflow.runtime.tracing`).

Spans:

- ``packflow.batch`` — one per Runner chunk, on the thread that runs the backend. Attributes:
  ``packflow.backend.name``/``.version``, ``packflow.batch.size``, ``.dead_letters``, ``.calls``,
  ``.outcome`` (``ok``/``partial``/``failed``), ``.id`` (also the ``batch_id`` of JSON log lines),
  ``packflow.dead_letters.<step>``; status ERROR when a record was dead-lettered.
- one child per step (``preprocess``, ``transform_inputs``, ``execute``, ``transform_outputs``),
  built after the call from the backend's ``perf_counter`` marks with explicit start/end times;
  when isolation made several backend calls, a ``packflow.call`` child per call (at most
  :data:`MAX_CALL_SPANS`) holds the steps of each successful call and the error of each failed one.
- ``METHOD ROUTE`` (kind SERVER) — one per HTTP inference request, child of the request's
  ``traceparent``; its trace context travels with the queued submission to the batch.

Parents of a batch: one distinct parent → child of it; several → a new trace linking to each
parent, and each waiting request span gets a link back to the batch.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from packflow._logjson import log_context, set_span_source
from packflow.runtime._logobserver import LogObserver, new_id
from packflow.runtime.deadletter import DeadLetter

try:
    from opentelemetry import trace
    from opentelemetry.trace import Link, NonRecordingSpan, SpanKind, Status, StatusCode
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "Tracing and OTLP metrics need OpenTelemetry: pip install 'packflow[otel]' "
        f"(or run with --tracing off --metrics-exporter prometheus). ({exc})"
    ) from exc

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.runner import Runner
    from packflow.runtime.tracing import ChunkCall

__all__ = ["MAX_CALL_SPANS", "OtelObserver", "create_observer"]

#: At most this many ``packflow.call`` spans per batch (a bisection of many bad records makes more calls).
MAX_CALL_SPANS = 64
_clock = time.perf_counter
_PROPAGATOR = TraceContextTextMapPropagator()
#: One backend call: (start, end, records, the backend's marks or None, the exception or None).
Call = tuple[float, float, int, Any, "BaseException | None"]


class _Recorder:
    """The backend's pipeline, noting each call's clock and step marks (read back from the backend)."""

    __slots__ = ("invoke", "local", "calls")

    def __init__(self, runner: Runner, calls: list[Call]) -> None:
        self.invoke = runner._invoke
        self.local = getattr(runner.backend, "_local", None)
        self.calls = calls

    def __call__(self, records: list) -> Any:
        start = _clock()
        try:
            outputs = self.invoke(records)
        except BaseException as exc:
            self.calls.append((start, _clock(), len(records), None, exc))
            raise
        last = getattr(self.local, "last", None)
        self.calls.append((start, _clock(), len(records), last[1] if last else None, None))
        return outputs


class OtelObserver(LogObserver):
    """Spans (and optionally metrics) for batches and requests, through the given providers."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        super().__init__()
        from packflow._version import __version__

        provider = tracer_provider or trace.NoOpTracerProvider()
        self.tracer = provider.get_tracer("packflow", __version__)
        self._providers = [p for p in (tracer_provider, meter_provider) if p is not None]
        self.metrics = None
        if meter_provider is not None:
            from packflow.runtime._otel_metrics import RunnerInstruments

            self.metrics = RunnerInstruments(meter_provider.get_meter("packflow", __version__))
        set_span_source(_current_ids)

    def flush(self) -> None:
        for provider in self._providers:
            if hasattr(provider, "force_flush"):
                provider.force_flush(5_000)

    # -- batches --------------------------------------------------------------------------------

    def chunk(self, runner: Runner, records: list, call: ChunkCall, parents: Sequence[Any] | None) -> tuple[list, int, int]:
        calls: list[Call] = []
        context, links, waiting = _parents(parents)
        offset = time.time_ns() - int(_clock() * 1e9)
        name, version = self.backend_labels(runner)
        span = self.tracer.start_span("packflow.batch", context=context, links=links, attributes={
            "packflow.backend.name": name, "packflow.backend.version": version, "packflow.batch.size": len(records),
            "packflow.batch.parents": len(links) or (1 if context is not None else 0),
        })
        span_context = span.get_span_context()
        batch_id = format(span_context.span_id, "016x") if span_context.is_valid else new_id()
        try:
            with trace.use_span(span, record_exception=False, set_status_on_exception=False), log_context(batch_id=batch_id):
                results, made, dead = call(_Recorder(runner, calls))
        except BaseException as exc:
            self._children(span, runner, calls, offset)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            span.end()
            raise
        self._children(span, runner, calls, offset)
        span.set_attribute("packflow.batch.id", batch_id)
        steps = [r.step for r in results if type(r) is DeadLetter] if dead else []
        _outcome(span, len(records), made, steps)
        span.end()
        _link_back(waiting, span)
        if self.metrics is not None:
            self.metrics.batch((name, version), len(records), steps, calls, _step_names(runner))
        return results, made, dead

    def driver_dead_letters(self, runner: Runner, step: str, count: int) -> None:
        """Records a driver dead-lettered itself (decode, encode, deliver): counted in the OTLP metrics."""
        if self.metrics is not None:
            self.metrics.driver_dead_letters(self.backend_labels(runner), step, count)

    def _children(self, span: Any, runner: Runner, calls: list[Call], offset: int) -> None:
        if not span.is_recording() or not calls:
            return
        names = _step_names(runner)
        parent = trace.set_span_in_context(span)
        if len(calls) == 1:
            start, end, _size, marks, exc = calls[0]
            if marks is not None:
                self._steps(parent, names, marks, offset)
            elif exc is not None:
                _record_failure(span, exc)
            return
        for start, end, size, marks, exc in calls[:MAX_CALL_SPANS]:
            child = self.tracer.start_span("packflow.call", context=parent, start_time=int(start * 1e9) + offset,
                                           attributes={"packflow.call.records": size})
            if marks is not None:
                self._steps(trace.set_span_in_context(child), names, marks, offset)
            if exc is not None:
                _record_failure(child, exc)
            child.end(end_time=int(end * 1e9) + offset)
        if len(calls) > MAX_CALL_SPANS:
            span.set_attribute("packflow.batch.call_spans_dropped", len(calls) - MAX_CALL_SPANS)

    def _steps(self, parent: Any, names: Sequence[str], marks: Sequence[float], offset: int) -> None:
        for name, start, end in zip(names, marks, marks[1:]):
            step = self.tracer.start_span(name, context=parent, start_time=int(start * 1e9) + offset,
                                          attributes={"packflow.step": name})
            step.end(end_time=int(end * 1e9) + offset)

    # -- requests -------------------------------------------------------------------------------

    def capture(self) -> Any:
        span = trace.get_current_span()
        return span if span.get_span_context().is_valid else None

    @contextlib.contextmanager
    def request(self, scope: dict, route: str, request_id: str) -> Iterator[Callable[[int], None]]:
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())
                   if k in (b"traceparent", b"tracestate")}
        method = scope.get("method", "POST")
        attributes = {"http.request.method": method, "http.route": route, "url.path": scope.get("path", ""),
                      "packflow.request_id": request_id}
        with self.tracer.start_as_current_span(f"{method} {route}", context=_PROPAGATOR.extract(carrier),
                                               kind=SpanKind.SERVER, attributes=attributes) as span:
            with log_context(request_id=request_id):
                yield lambda code: _http_status(span, code)

    @contextlib.contextmanager
    def rpc(self, service: str, method: str, metadata: Sequence[tuple[str, Any]], request_id: str) -> Iterator[Callable[[Any], None]]:
        carrier = {k: v for k, v in metadata if k in ("traceparent", "tracestate") and isinstance(v, str)}
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method, "packflow.request_id": request_id}
        with self.tracer.start_as_current_span(f"{service}/{method}", context=_PROPAGATOR.extract(carrier),
                                               kind=SpanKind.SERVER, attributes=attributes) as span:
            with log_context(request_id=request_id):
                yield lambda code: _grpc_status(span, code)


def _step_names(runner: Runner) -> Sequence[str]:
    return getattr(runner.backend, "_step_names", ())


def _parents(parents: Sequence[Any] | None) -> tuple[Any, list, list]:
    """(parent context or None, links, request spans waiting on the batch) for a batch's parents."""
    if not parents:
        return None, [], []
    found: dict[tuple[int, int], Any] = {}
    waiting = []
    for parent in parents:
        if isinstance(parent, str):
            context = trace.get_current_span(_PROPAGATOR.extract({"traceparent": parent})).get_span_context()
        else:
            context = parent.get_span_context()
            waiting.append(parent)
        if context.is_valid:
            found.setdefault((context.trace_id, context.span_id), context)
    if len(found) == 1:
        (only,) = found.values()
        return trace.set_span_in_context(NonRecordingSpan(only)), [], []
    return (trace.set_span_in_context(trace.INVALID_SPAN) if found else None,
            [Link(c, {"packflow.link": "request"}) for c in list(found.values())[:128]], waiting)


def _link_back(waiting: list, batch: Any) -> None:
    """Each request span of a batch that merged several traces links to the batch (while it is open)."""
    context = batch.get_span_context()
    for span in waiting:
        if span.is_recording() and hasattr(span, "add_link"):
            span.add_link(context, {"packflow.link": "batch"})


def _outcome(span: Any, size: int, calls: int, steps: list[str]) -> None:
    dead = len(steps)
    outcome = "ok" if not dead else ("failed" if dead == size else "partial")
    span.set_attribute("packflow.batch.dead_letters", dead)
    span.set_attribute("packflow.batch.calls", calls)
    span.set_attribute("packflow.batch.outcome", outcome)
    if dead:
        by_step: dict[str, int] = {}
        for step in steps:
            by_step[step] = by_step.get(step, 0) + 1
        for step, count in by_step.items():
            span.set_attribute(f"packflow.dead_letters.{step}", count)
        span.set_status(Status(StatusCode.ERROR, f"{dead} of {size} records dead-lettered"))


def _record_failure(span: Any, exc: BaseException) -> None:
    step = getattr(exc, "step", None) or getattr(exc, "packflow_step", None) or "execute"
    span.set_attribute("packflow.step", str(step))
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__} in {step}"))


def _http_status(span: Any, code: int) -> None:
    span.set_attribute("http.response.status_code", code)
    if code >= 500:
        span.set_status(Status(StatusCode.ERROR, f"HTTP {code}"))


#: gRPC codes that are the server's failure (OpenTelemetry's rpc conventions for SERVER spans).
_GRPC_SERVER_ERRORS = {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}


def _grpc_status(span: Any, code: Any) -> None:
    """``code``: a ``grpc.StatusCode``."""
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code.name in _GRPC_SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, f"gRPC {code.name}"))


def _current_ids() -> dict[str, str]:
    """``trace_id``/``span_id`` of the current span for JSON log lines ({} outside a span)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def create_observer(tracing: str, otlp_metrics: bool, service: str = "packflow") -> OtelObserver:
    """An observer exporting spans (``otlp`` / ``console`` on stderr / ``off``) and optionally OTLP metrics.

    The exporters read the standard ``OTEL_*`` variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ...);
    ``OTEL_SERVICE_NAME`` wins over ``service``. Providers flush and shut down at process exit.
    """
    import os

    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service})
    tracer_provider = _tracer_provider(tracing, resource) if tracing != "off" else None
    meter_provider = None
    if otlp_metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        meter_provider = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    return OtelObserver(tracer_provider, meter_provider)


def _tracer_provider(mode: str, resource: Any) -> Any:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=resource)
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:  # console: on stderr, so `packflow run`'s outputs on stdout stay clean
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    trace.set_tracer_provider(provider)  # backend code's own spans then nest under the batch span
    return provider
