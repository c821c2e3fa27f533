"""The ASGI app in-process: endpoints, errors, batching, isolation, readiness, fuzzing."""

from __future__ import annotations

import asyncio
import json
import logging
import warnings
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serve_backends import GATE_ENV, SLOW_ENV
from serve_helpers import make_app

with warnings.catch_warnings():  # starlette 1.x suggests httpx2 for its TestClient; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture(scope="module")
def identity_client():
    app = make_app("Identity", max_body_bytes=5000)
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        yield client


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0.0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def run_with_app(app: Any, scenario: Any) -> Any:
    async with app.lifespan():
        await asyncio.get_running_loop().run_in_executor(None, app.state.loaded.wait, 10)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await scenario(client)


# -- happy paths ---------------------------------------------------------------------------------


def test_object_in_object_out(identity_client):
    response = identity_client.post("/invoke", json={"x": 1, "s": "é"})
    assert response.status_code == 200
    assert response.json() == {"x": 1, "s": "é"}


def test_array_in_array_out_in_order(identity_client):
    records = [{"i": i} for i in range(200)]
    response = identity_client.post("/invoke", json=records)
    assert response.status_code == 200
    assert response.json() == records


def test_empty_array_gives_empty_array(identity_client):
    assert identity_client.post("/invoke", json=[]).json() == []


@pytest.mark.parametrize("path", ["/health/live", "/v2/health/live"])
def test_live(identity_client, path):
    response = identity_client.get(path)
    assert response.status_code == 200 and response.json()["status"] == "live"


@pytest.mark.parametrize("path", ["/health/ready", "/v2/health/ready"])
def test_ready_when_loaded(identity_client, path):
    response = identity_client.get(path)
    assert response.status_code == 200 and response.json().items() >= {"status": "ready", "reason": "ready"}.items()


def test_metrics_are_labelled_and_count_requests(identity_client):
    before = identity_client.get("/metrics").text
    identity_client.post("/invoke", json=[{"a": 1}, {"a": 2}])
    text = identity_client.get("/metrics").text
    labels = {"backend": "Identity", "version": "1.2.3"}
    assert metric(text, "packflow_serve_requests_total", outcome="ok", **labels) == metric(before, "packflow_serve_requests_total", outcome="ok", **labels) + 1
    assert metric(text, "packflow_records_total", **labels) >= 2
    for step in ("preprocess", "execute"):
        assert metric(text, "packflow_step_latency_seconds_count", step=step, **labels) >= 1
    assert "packflow_batch_size_bucket" in text and "packflow_serve_queue_depth" in text
    assert 'packflow_dead_letters_total{backend="Identity",step="execute",version="1.2.3"}' in text


def test_status_page(identity_client):
    response = identity_client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert '<script src="/status/status.js"' in response.text and 'http-equiv="refresh"' not in response.text
    assert identity_client.get("/").json()["models"] == {"Identity": {"version": "1.2.3", "ready": True, "reason": "ready"}}


def test_stats_json(identity_client):
    stats = identity_client.get("/stats").json()
    assert stats["records_in"] >= 1 and "execute" in stats["steps"]


def test_openapi_describes_every_endpoint(identity_client):
    doc = identity_client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["version"] == "1.2.3"
    for path in ("/invoke", "/health/live", "/health/ready", "/v2/health/live", "/v2/health/ready", "/metrics", "/"):
        assert path in doc["paths"]
    assert set(doc["paths"]["/invoke"]["post"]["responses"]) >= {"200", "400", "413", "422", "500", "504"}


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "error_type"),
    [
        (b"{not json", 400, "InvalidJSON"),
        (b"", 400, "InvalidJSON"),
        (b"\xff\xfe", 400, "InvalidJSON"),
        (b"42", 422, "NotRecords"),
        (b'"text"', 422, "NotRecords"),
        (b"null", 422, "NotRecords"),
        (b'[{"a": 1}, 3]', 422, "NotRecords"),
        (b"[[]]", 422, "NotRecords"),
        (b"x" * 5001, 413, "PayloadTooLarge"),
    ],
)
def test_bad_bodies_get_json_errors_and_server_keeps_serving(identity_client, body, status, error_type):
    response = identity_client.post("/invoke", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == error_type and len(error["message"]) > 20
    assert identity_client.post("/invoke", json={"still": "serving"}).json() == {"still": "serving"}


def test_422_names_the_offending_element(identity_client):
    message = identity_client.post("/invoke", json=[{"a": 1}, {"b": 2}, "oops"]).json()["error"]["message"]
    assert "Element 2" in message and "string" in message


def test_get_invoke_is_405(identity_client):
    response = identity_client.get("/invoke")
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_body_limit_is_enforced_while_streaming():
    from packflow.runtime.serve.bodies import HTTPProblem, read_body

    received = []

    async def receive():
        received.append(1)
        return {"type": "http.request", "body": b"x" * 400, "more_body": True}  # endless stream

    with pytest.raises(HTTPProblem) as info:
        asyncio.run(read_body(receive, [], 1000))
    assert info.value.status == 413
    assert len(received) == 3  # stopped as soon as 1,200 bytes passed the 1,000-byte limit


def test_declared_length_over_limit_is_rejected_before_reading():
    from packflow.runtime.serve.bodies import HTTPProblem, read_body

    async def receive():
        raise AssertionError("the body must not be read")

    with pytest.raises(HTTPProblem) as info:
        asyncio.run(read_body(receive, [(b"content-length", b"5000")], 1000))
    assert info.value.status == 413 and "5000" in info.value.message


# -- backend failures, isolation, batching -------------------------------------------------------


def test_backend_exception_is_500_with_logged_id_and_no_traceback(caplog):
    app = make_app("Poison")
    with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="packflow"):
        assert app.state.loaded.wait(10)
        response = client.post("/invoke", json={"poison": True})
        assert response.status_code == 500
        error = response.json()["error"]
        assert set(error) == {"id", "step", "type", "message"}
        assert error["step"] == "execute" and error["type"] == "ValueError"
        assert "Traceback" not in response.text
        assert any(error["id"] in record.getMessage() for record in caplog.records)
        assert client.post("/invoke", json={"ok": 1}).json() == {"ok": 1, "seen": True}


def test_array_with_poison_gets_error_entry_in_place():
    app = make_app("Poison")
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        records = [{"i": 0}, {"i": 1, "poison": True}, {"i": 2}]
        response = client.post("/invoke", json=records)
        assert response.status_code == 200
        out = response.json()
        assert out[0] == {"i": 0, "seen": True} and out[2] == {"i": 2, "seen": True}
        assert set(out[1]["error"]) == {"id", "step", "type", "message"}
        text = client.get("/metrics").text
        assert metric(text, "packflow_serve_requests_total", outcome="partial") == 1
        assert metric(text, "packflow_dead_letters_total", step="execute") == 1


def test_concurrent_requests_are_merged_into_batches_and_poison_is_isolated(monkeypatch):
    monkeypatch.setenv(SLOW_ENV, "40")
    app = make_app("Slow", max_batch_size=64)

    async def scenario(client: httpx.AsyncClient) -> tuple[list, str]:
        bodies = [{"i": i, "poison": i == 7} for i in range(24)]
        responses = await asyncio.gather(*(client.post("/invoke", json=b) for b in bodies))
        return [(r.status_code, r.json()) for r in responses], (await client.get("/metrics")).text

    results, text = asyncio.run(run_with_app(app, scenario))
    for i, (status, body) in enumerate(results):
        if i == 7:
            assert status == 500 and body["error"]["step"] == "execute"
        else:
            assert status == 200 and body == {"i": i, "poison": False}
    batches = metric(text, "packflow_batch_size_count")
    assert metric(text, "packflow_batch_size_sum") == 24
    assert batches < 24 / 2, f"{batches} batches for 24 concurrent requests: not merged"
    assert metric(text, "packflow_batch_size_bucket", le="1.0") < batches


def test_request_timeout_is_504_and_server_recovers(monkeypatch):
    monkeypatch.setenv(SLOW_ENV, "300")
    app = make_app("Slow", request_timeout_s=0.05)

    async def scenario(client: httpx.AsyncClient) -> tuple[int, dict, int]:
        slow = await client.post("/invoke", json={"a": 1})
        await asyncio.sleep(0.4)
        return slow.status_code, slow.json(), (await client.get("/health/live")).status_code

    status, body, live = asyncio.run(run_with_app(app, scenario))
    assert status == 504 and body["error"]["type"] == "Timeout"
    assert live == 200


def test_numpy_outputs_are_encoded_and_unencodable_ones_are_per_record_errors():
    app = make_app("Numpy")
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        assert client.post("/invoke", json={"a": 1}).json() == {"v": 2}
        out = client.post("/invoke", json=[{"a": 1}, {"bad": True}]).json()
        assert out[0] == {"v": 2}
        assert out[1]["error"]["step"] == "encode"
        single = client.post("/invoke", json={"bad": True})
        assert single.status_code == 500 and single.json()["error"]["step"] == "encode"
        assert metric(client.get("/metrics").text, "packflow_dead_letters_total", step="encode") == 2


# -- readiness -----------------------------------------------------------------------------------


def test_readiness_turns_green_only_after_initialize(monkeypatch, tmp_path):
    gate = tmp_path / "gate"
    monkeypatch.setenv(GATE_ENV, str(gate))
    app = make_app("Gated")
    with TestClient(app) as client:
        for path in ("/health/ready", "/v2/health/ready"):
            response = client.get(path)
            assert response.status_code == 503
            assert "initialize() has not finished" in response.json()["reason"]
        assert client.get("/health/live").status_code == 200
        pending = client.post("/invoke", json={"a": 1})
        assert pending.status_code == 503 and pending.json()["error"]["type"] == "NotReady"
        gate.touch()
        assert app.state.loaded.wait(10)
        assert client.get("/health/ready").status_code == 200
        assert client.post("/invoke", json={"a": 1}).json() == {"a": 1}


def test_ready_false_keeps_readiness_red():
    app = make_app("NotReady")
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        response = client.get("/health/ready")
        assert response.status_code == 503 and "ready() returned False" in response.json()["reason"]


def test_initialize_failure_is_fatal_and_never_ready():
    app = make_app("BrokenInit")
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        response = client.get("/health/ready")
        assert response.status_code == 503 and "model weights missing" in response.json()["reason"]
        assert app.fatal and "model weights missing" in str(app.fatal[0])


def test_ready_sample_must_pass_check_io(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text('{"a": 1}\n{"a": 2}\n')
    app = make_app("Identity", ready_sample=str(good))
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        assert client.get("/health/ready").status_code == 200
        assert client.get("/stats").json()["records_in"] == 0  # the warm-up is not counted as traffic
    bad = tmp_path / "bad.json"
    bad.write_text('[{"a": 1}, {"bad": true}]')
    app = make_app("Numpy", ready_sample=str(bad))
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        assert client.get("/health/ready").status_code == 503
        assert app.fatal


# -- fuzzing -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode())))
def test_fuzzed_bodies_never_get_a_5xx(identity_client, body):
    response = identity_client.post("/invoke", content=body, headers={"content-type": "application/json"})
    assert response.status_code < 500, response.text
    assert response.json() is not None


# -- limits and containment ------------------------------------------------------------------------


def test_one_request_larger_than_the_queue_limit_is_413_naming_the_limit():
    app = make_app("Identity", max_queue=3)
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        response = client.post("/invoke", json=[{"i": i} for i in range(5)])
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["type"] == "TooManyRecords" and "limit of 3 records" in error["message"] and "--max-queue" in error["message"]
        assert client.post("/invoke", json=[{"i": i} for i in range(3)]).status_code == 200


def test_ready_raising_system_exit_keeps_readiness_red_and_the_server_up():
    app = make_app("ExitingReady")
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        response = client.get("/health/ready")
        assert response.status_code == 503 and "raised SystemExit" in response.json()["reason"]
        assert client.post("/invoke", json={"a": 1}).json() == {"a": 1}
        assert client.get("/health/live").status_code == 200
