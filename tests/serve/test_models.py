"""Several models in one server: names, own runners and readiness, per-model routes and metrics."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from packflow.exceptions import ConfigurationError
from packflow.runtime.serve import ServeConfig, create_app
from packflow.runtime.serve.models import MultiModelApp, parse_model_spec, resolve_models


def test_name_equals_target_specs():
    assert parse_model_spec("iris=mod:Cls") == ("iris", "mod:Cls")
    assert parse_model_spec("mod:Cls") == (None, "mod:Cls")
    with pytest.raises(ConfigurationError, match="no target"):
        parse_model_spec("iris=")
    with pytest.raises(ConfigurationError, match="unique name"):
        resolve_models(["a=x:Y", "a=x:Z"])
    assert [t.name for t in resolve_models(["x:Y", "b=x:Y"])] == ["Y", "b"]


@pytest.fixture(scope="module")
def two_models():
    config = ServeConfig(target="protocol_backends:Typed", models=["typed=protocol_backends:Typed", "echo=protocol_backends:Echo"])
    app = create_app(config)
    assert isinstance(app, MultiModelApp)
    with TestClient(app) as client:
        for sub in app.apps.values():
            assert sub.state.loaded.wait(10)
        yield app, client


def test_each_model_has_its_own_runner_and_routes(two_models):
    app, client = two_models
    runners = {name: sub.state.runner for name, sub in app.apps.items()}
    assert runners["typed"] is not runners["echo"] and type(runners["echo"].backend).__name__ == "Echo"
    typed = client.post("/models/typed/invoke", json={"age": 2, "income": 1.0, "name": "x"})
    assert typed.json() == {"score": 2.0, "label": "X", "flags": [2, 0]}
    assert client.post("/models/echo/invoke", json={"a": 1}).json() == {"a": 1, "types": "int"}
    missing = client.post("/models/nope/invoke", json={})
    assert missing.status_code == 404 and "served models: echo, typed" in missing.json()["error"]["message"]
    plain = client.post("/invoke", json={"a": 1})
    assert plain.status_code == 404 and "/models/{name}/invoke" in plain.json()["error"]["message"]
    assert client.get("/v2/models/echo").json()["name"] == "echo"
    assert client.get("/v2/models/typed").json()["inputs"][0]["name"] == "age"
    assert client.post("/v1/models/echo:predict", json={"instances": [{"b": True}]}).json() == {
        "predictions": [{"b": True, "types": "bool"}]
    }


def test_metrics_are_labelled_per_model_in_one_exposition(two_models):
    _, client = two_models
    client.post("/models/echo/invoke", json={"a": 1})
    text = client.get("/metrics").text
    assert 'packflow_records_total{backend="echo"' in text and 'packflow_records_total{backend="typed"' in text
    assert text.count("# TYPE packflow_records_total counter") == 1


def test_ready_only_when_every_model_is(tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    monkeypatch.setenv("PACKFLOW_TEST_GATE", str(gate))
    config = ServeConfig(target="serve_backends:Identity", models=["fast=serve_backends:Identity", "slow=serve_backends:Gated"])
    app = create_app(config)
    with TestClient(app) as client:
        assert app.apps["fast"].state.loaded.wait(10)
        for path in ("/health/ready", "/v2/health/ready"):
            response = client.get(path)
            assert response.status_code == 503 and "slow:" in response.json()["reason"], path
        assert client.get("/v2/models/fast/ready").status_code == 200
        assert client.get("/v2/models/slow/ready").status_code == 503
        gate.touch()
        assert app.apps["slow"].state.loaded.wait(10)
        assert client.get("/health/ready").status_code == 200 and client.get("/v2/health/ready").json()["ready"] is True


def test_one_named_target_is_a_classic_server_under_that_name():
    app = create_app(ServeConfig(target="protocol_backends:Echo", models=["mine=protocol_backends:Echo"]))
    assert not isinstance(app, MultiModelApp) and app.state.name == "mine"


def test_cli_serves_several_models_over_a_real_socket_and_grpc(start_server):
    from serve_helpers import free_port

    grpc_port = free_port()
    server = start_server("a=protocol_backends:Echo", "b=protocol_backends:Typed", "--grpc-port", str(grpc_port))
    server.wait_status("/health/ready", 200)
    assert server.request("POST", "/models/a/invoke", {"x": 1}) == (200, {"x": 1, "types": "int"})
    status, body = server.request("POST", "/models/b/invoke", {"age": 1})
    assert status == 422 and "name: Field required" in body["error"]["message"]
    grpc = pytest.importorskip("grpc")
    from packflow.runtime.serve.grpc.messages import SERVICE, message

    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        ready = channel.unary_unary(f"/{SERVICE}/ModelReady", request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=message("ModelReadyResponse").FromString)
        assert [ready(message("ModelReadyRequest")(name=n), timeout=10).ready for n in ("a", "b")] == [True, True]
    assert server.stop() == 0  # SIGTERM: every model drains, the server exits 0


def test_with_two_workers_a_model_is_ready_only_when_it_is_ready_in_every_worker(start_server, tmp_path):
    gate = tmp_path / "gate"
    env = {"PACKFLOW_TEST_GATE": str(gate), "PACKFLOW_TEST_CLAIM_DIR": str(tmp_path)}
    server = start_server("fast=serve_backends:Identity", "slow=serve_backends:ReadyLateInOneWorker", "--workers", "2", env=env)
    server.wait_status("/v2/models/fast/ready", 200, timeout=90)  # both workers have loaded both models
    assert (tmp_path / "first").exists()  # one worker's "slow" is ready, the other's is not
    red = ("/health/ready", "/v2/health/ready", "/v2/models/slow/ready")
    seen = Counter()
    for _ in range(40):  # a fresh connection each time: the kernel spreads them over the workers
        for path in red:
            status, body = server.request("GET", path, timeout=10)
            seen[path, status] += 1
            assert status == 503, (path, body, seen)
        assert server.request("GET", "/v2/models/fast/ready", timeout=10)[0] == 200
    reason = server.request("GET", "/health/ready")[1]["reason"]
    assert "slow: " in reason and "fast" not in reason, reason
    gate.touch()  # now "slow" is ready in the second worker too
    for path in red:
        server.wait_status(path, 200, timeout=30)
    for _ in range(20):
        assert all(server.request("GET", path, timeout=10)[0] == 200 for path in red)
    assert server.stop() == 0
