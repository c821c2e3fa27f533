"""Request and batch spans of ``packflow serve``: in-process (in-memory exporter) and over OTLP/HTTP."""

from __future__ import annotations

import http.client
import json
import time
import warnings
from typing import Any, Iterator

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the packflow[otel] extra")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402
from serve_helpers import make_app  # noqa: E402

from packflow._logjson import set_span_source  # noqa: E402
from packflow.runtime import tracing  # noqa: E402
from packflow.runtime._otel import OtelObserver  # noqa: E402
from packflow.runtime.serve.observed import inference_route, observe_requests  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def client(exporter: InMemorySpanExporter) -> Iterator[TestClient]:
    app = make_app("Identity", "1.2.3")
    with TestClient(observe_requests(app)) as test_client:
        assert app.state.loaded.wait(10)
        yield test_client


def _wait(exporter: InMemorySpanExporter, name: str, count: int = 1) -> list[Any]:
    deadline = time.monotonic() + 10
    while len(found := [s for s in exporter.get_finished_spans() if s.name == name]) < count:
        assert time.monotonic() < deadline, exporter.get_finished_spans()
        time.sleep(0.02)
    return found


def test_invoke_continues_the_callers_trace_down_to_the_steps(client: TestClient, exporter: InMemorySpanExporter) -> None:
    response = client.post("/invoke", json=[{"a": 1}, {"a": 2}],
                           headers={"traceparent": TRACEPARENT, "x-request-id": "req-42"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "req-42"
    (request,) = _wait(exporter, "POST /invoke")
    (batch,) = _wait(exporter, "packflow.batch")
    assert request.kind is SpanKind.SERVER
    assert format(request.context.trace_id, "032x") == TRACE_ID and format(request.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert request.attributes["http.response.status_code"] == 200 and request.attributes["packflow.request_id"] == "req-42"
    assert batch.parent.span_id == request.context.span_id and batch.context.trace_id == request.context.trace_id
    assert batch.attributes["packflow.backend.name"] == "Identity" and batch.attributes["packflow.backend.version"] == "1.2.3"
    assert batch.attributes["packflow.batch.size"] == 2
    steps = [s for s in exporter.get_finished_spans() if s.parent is not None and s.parent.span_id == batch.context.span_id]
    assert sorted(s.name for s in steps) == ["execute", "preprocess"]


@pytest.mark.parametrize(("path", "body", "route"), [
    ("/v2/models/Identity/infer", {"inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": [1]}]},
     "/v2/models/{name}/infer"),
    ("/v1/models/Identity:predict", {"instances": [{"a": 1}]}, "/v1/models/{name}:predict"),
])
def test_protocol_routes_get_request_spans(client: TestClient, exporter: InMemorySpanExporter, path: str, body: Any,
                                           route: str) -> None:
    response = client.post(path, json=body, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200, response.text
    (request,) = _wait(exporter, f"POST {route}")
    (batch,) = _wait(exporter, "packflow.batch")
    assert request.attributes["http.route"] == route and format(request.context.trace_id, "032x") == TRACE_ID
    assert batch.parent.span_id == request.context.span_id


def test_probes_are_not_traced_and_a_request_id_is_made_when_missing(client: TestClient, exporter: InMemorySpanExporter) -> None:
    assert client.get("/health/ready").status_code == 200
    response = client.post("/invoke", json={"a": 1})
    assert len(response.headers["x-request-id"]) == 16
    _wait(exporter, "POST /invoke")
    assert not [s for s in exporter.get_finished_spans() if "health" in s.name]


def test_a_failed_request_is_an_error_span() -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    previous = tracing.install(OtelObserver(provider))
    try:
        app = make_app("Poison")
        with TestClient(observe_requests(app)) as test_client:
            assert app.state.loaded.wait(10)
            assert test_client.post("/invoke", json={"poison": True}).status_code == 500
        (request,) = _wait(spans, "POST /invoke")
        (batch,) = _wait(spans, "packflow.batch")
    finally:
        tracing.install(previous)
        set_span_source(None)
    assert request.status.status_code is StatusCode.ERROR and request.attributes["http.response.status_code"] == 500
    assert batch.attributes["packflow.batch.outcome"] == "failed" and batch.attributes["packflow.dead_letters.execute"] == 1


def test_inference_routes() -> None:
    assert inference_route("/invoke") == "/invoke"
    assert inference_route("/models/a/invoke") == "/models/{name}/invoke"
    assert inference_route("/v2/models/a/versions/3/infer") == "/v2/models/{name}/versions/{version}/infer"
    assert inference_route("/v1/models/a:predict") == "/v1/models/{name}:predict"
    assert inference_route("/metrics") is None and inference_route("/v2/models/a") is None


def _post(port: int, path: str, body: Any, headers: dict[str, str]) -> tuple[int, dict, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, json.loads(response.read()), {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100", "OTEL_METRIC_EXPORT_INTERVAL": "200", "OTEL_SERVICE_NAME": "scorer"}


def test_serve_exports_spans_and_metrics_over_otlp(start_server: Any, otlp_receiver: Any) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, **FAST_EXPORT}
    server = start_server("serve_backends:Identity", "--tracing", "otlp", "--metrics-exporter", "otlp", env=env)
    server.wait_status("/health/ready", 200)
    status, body, _ = _post(server.port, "/invoke", [{"a": 1}, {"a": 2}, {"a": 3}], {"traceparent": TRACEPARENT})
    assert status == 200 and body == [{"a": 1}, {"a": 2}, {"a": 3}]

    def arrived(r: Any) -> bool:
        return {"POST /invoke", "packflow.batch", "execute"} <= {s.name for s in r.spans} and "packflow_records" in r.metrics

    otlp_receiver.wait_for(arrived)
    spans = otlp_receiver.spans
    (request,) = [s for s in spans if s.name == "POST /invoke"]
    (batch,) = [s for s in spans if s.name == "packflow.batch"]
    assert request.trace_id == TRACE_ID and request.parent_id == "00f067aa0ba902b7" and request.service == "scorer"
    assert batch.trace_id == TRACE_ID and batch.parent_id == request.span_id
    assert batch.attributes["packflow.batch.size"] == 3 and batch.attributes["packflow.batch.dead_letters"] == 0
    steps = {s.name for s in spans if s.parent_id == batch.span_id}
    assert steps == {"preprocess", "execute"}
    assert {"packflow_records", "packflow_batch_size", "packflow_step_latency_seconds"} <= set(otlp_receiver.metrics)
    assert server.stop() == 0


def test_serve_500_error_id_request_id_and_trace_id_are_fields_of_the_json_log(start_server: Any, otlp_receiver: Any) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, **FAST_EXPORT}
    server = start_server("serve_backends:Poison", "--log-format", "json", "--tracing", "otlp", env=env)
    server.wait_status("/health/ready", 200)
    status, body, headers = _post(server.port, "/invoke", {"poison": True}, {"traceparent": TRACEPARENT})
    assert status == 500
    error_id, request_id = body["error"]["id"], headers["x-request-id"]
    deadline = time.monotonic() + 10
    while not (found := [json.loads(line) for line in server.output().splitlines()
                         if line.startswith("{") and json.loads(line).get("error_id") == error_id]):
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    (line,) = found
    assert line["level"] == "ERROR" and line["request_id"] == request_id and line["trace_id"] == TRACE_ID
    assert len(line["span_id"]) == 16


def test_json_logs_without_tracing_still_carry_request_and_batch_ids(start_server: Any) -> None:
    server = start_server("serve_backends:Poison", "--log-format", "json")
    server.wait_status("/health/ready", 200)
    status, body, headers = _post(server.port, "/invoke", {"poison": True}, {"x-request-id": "abc-123"})
    assert status == 500 and headers["x-request-id"] == "abc-123"
    deadline = time.monotonic() + 10
    while not (found := [json.loads(line) for line in server.output().splitlines()
                         if line.startswith("{") and json.loads(line).get("error_id") == body["error"]["id"]]):
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    assert found[0]["request_id"] == "abc-123" and "trace_id" not in found[0]


def test_grpc_model_infer_is_a_server_span_continuing_the_metadata_traceparent(start_server: Any, otlp_receiver: Any) -> None:
    """A real gRPC call on --grpc-port: the ModelInfer span is the caller's child and the batch's parent;
    a client error is not an error span, a model failure is."""
    grpc = pytest.importorskip("grpc")
    from serve_helpers import free_port

    from packflow.runtime.serve.grpc.messages import SERVICE, message

    port = free_port()
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, **FAST_EXPORT}
    server = start_server("serve_backends:Poison", "--grpc-port", str(port), "--tracing", "otlp", env=env)
    server.wait_status("/health/ready", 200)
    tensor = message("ModelInferRequest").InferInputTensor

    def infer(model: str, value: int, poison: bool = False) -> Any:
        inputs = [tensor(name="a", datatype="INT64", shape=[1], contents={"int64_contents": [value]})]
        if poison:
            inputs.append(tensor(name="poison", datatype="BOOL", shape=[1], contents={"bool_contents": [True]}))
        stub = channel.unary_unary(f"/{SERVICE}/ModelInfer", request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=message("ModelInferResponse").FromString)
        return stub(message("ModelInferRequest")(model_name=model, inputs=inputs), timeout=20,
                    metadata=(("traceparent", TRACEPARENT), ("x-request-id", f"grpc-{value}")))

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert infer("Poison", 1).outputs[0].name == "a"
        with pytest.raises(grpc.RpcError) as missing:
            infer("Nope", 2)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as failed:
            infer("Poison", 3, poison=True)
        assert failed.value.code() == grpc.StatusCode.INTERNAL
    name = f"{SERVICE}/ModelInfer"
    otlp_receiver.wait_for(lambda r: len([s for s in r.spans if s.name == name]) == 3 and
                           len([s for s in r.spans if s.name == "packflow.batch"]) == 2)
    calls = {s.attributes["packflow.request_id"]: s for s in otlp_receiver.spans if s.name == name}
    assert set(calls) == {"grpc-1", "grpc-2", "grpc-3"}
    for span in calls.values():
        assert span.trace_id == TRACE_ID and span.parent_id == "00f067aa0ba902b7"
        assert span.attributes["rpc.system"] == "grpc" and span.attributes["rpc.method"] == "ModelInfer"
    assert [calls[k].attributes["rpc.grpc.status_code"] for k in ("grpc-1", "grpc-2", "grpc-3")] == [0, 5, 13]
    assert [calls[k].error for k in ("grpc-1", "grpc-2", "grpc-3")] == [False, False, True]
    batches = [s for s in otlp_receiver.spans if s.name == "packflow.batch"]
    assert {b.parent_id for b in batches} == {calls["grpc-1"].span_id, calls["grpc-3"].span_id}
    assert server.stop() == 0
