"""What a Triton/KServe user hits beyond the happy path: unknown routes, wrong methods, empty batches.

In-process through the ASGI app, and once with the real Triton HTTP and gRPC clients against a
``packflow serve`` process (the gRPC client in a subprocess: its protobuf modules clash with kserve's).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import orjson
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from packflow.loaders.target import Target
from packflow.runtime.serve import ServeConfig, create_app
from test_clients import typed_server  # noqa: F401 - the shared fixture: one real server with --grpc-port

EMPTY = {"inputs": [
    {"name": "age", "datatype": "INT64", "shape": [0], "data": []},
    {"name": "income", "datatype": "FP64", "shape": [0], "data": []},
    {"name": "name", "datatype": "BYTES", "shape": [0], "data": []},
]}


@pytest.fixture(scope="module")
def typed():
    target = "protocol_backends:Typed"
    app = create_app(ServeConfig(target=target), target=Target("module", target, "typed", "3"))
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        yield client


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v2/models/typed/config"),  # Triton's model configuration extension
    ("GET", "/v2/models/typed/stats"),  # Triton's statistics extension
    ("POST", "/v2/repository/index"),  # Triton's model repository extension
    ("POST", "/v2/models/typed/load"),
    ("GET", "/v2/"),
])
def test_unknown_v2_route_is_a_protocol_404(typed, method, path):
    response = typed.request(method, path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    assert path in message and "POST .../infer" in message


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/v2/models/typed", "GET, HEAD"),
    ("POST", "/v2/health/ready", "GET, HEAD"),
    ("PUT", "/v2/models/typed/versions/3/ready", "GET, HEAD"),
])
def test_wrong_method_on_a_v2_route_is_a_protocol_405(typed, method, path, allowed):
    response = typed.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json() == {"error": f"{method} is not allowed on {path}; use {allowed}."}


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/models", 404),  # KServe's model list: not served
    ("POST", "/v1/models/typed:explain", 405),  # KServe's explainer: not served
    ("DELETE", "/v1/models/typed", 405),
])
def test_unknown_v1_route_is_a_protocol_error(typed, method, path, status):
    response = typed.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert path in response.json()["error"]


def test_known_v1_routes_still_answer(typed):
    assert typed.get("/v1/models/typed").json() == {"name": "typed", "ready": True}
    answer = typed.post("/v1/models/typed:predict", json={"instances": [{"age": 2, "income": 1.0, "name": "x"}]})
    assert answer.json() == {"predictions": [{"score": 2.0, "label": "X", "flags": [2, 0]}]}


def test_known_v2_routes_still_answer(typed):
    assert typed.get("/v2/models/typed/versions/3/ready").json() == {"name": "typed", "ready": True}
    assert typed.get("/v2/models/nope").status_code == 404
    assert "No model named 'nope'" in typed.get("/v2/models/nope").json()["error"]


def test_empty_batch_answers_every_declared_output_with_shape_0(typed):
    response = typed.post("/v2/models/typed/infer", json=EMPTY)
    assert response.status_code == 200
    assert response.json()["outputs"] == [
        {"name": "score", "datatype": "FP64", "shape": [0], "data": []},
        {"name": "label", "datatype": "BYTES", "shape": [0], "data": []},
        {"name": "flags", "datatype": "INT64", "shape": [0], "data": []},
    ]


def test_empty_batch_of_an_undeclared_output_is_still_200(typed):
    target = "protocol_backends:Echo"
    app = create_app(ServeConfig(target=target), target=Target("module", target, "echo", "1"))
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        body = {"inputs": [{"name": "x", "datatype": "INT64", "shape": [0], "data": []}]}
        response = client.post("/v2/models/echo/infer", json=body)
    assert response.status_code == 200 and response.json()["outputs"] == []


def test_triton_http_client_sees_protocol_errors_and_empty_tensors(typed_server):
    httpclient = pytest.importorskip("tritonclient.http")
    import numpy as np
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(f"127.0.0.1:{typed_server.port}", network_timeout=20)
    for call in (lambda: client.get_model_config("Typed"), lambda: client.get_inference_statistics("Typed"),
                 client.get_model_repository_index):
        with pytest.raises(InferenceServerException) as caught:
            call()
        assert caught.value.status() == "404" and "is not a route of this server" in caught.value.message()
    inputs = []
    for name, datatype, values in (("age", "INT64", np.zeros(0, np.int64)), ("income", "FP64", np.zeros(0)),
                                   ("name", "BYTES", np.zeros(0, np.object_)), ("member", "BOOL", np.zeros(0, bool))):
        tensor = httpclient.InferInput(name, [0], datatype)
        tensor.set_data_from_numpy(values, binary_data=True)
        inputs.append(tensor)
    result = client.infer("Typed", inputs)
    assert result.as_numpy("score").shape == (0,) and result.as_numpy("label").shape == (0,)


GRPC_EMPTY = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tritonclient.grpc as grpcclient
    client = grpcclient.InferenceServerClient(sys.argv[1])
    inputs = []
    for name, datatype, values in (("age", "INT64", np.zeros(0, np.int64)), ("income", "FP64", np.zeros(0)),
                                   ("name", "BYTES", np.zeros(0, np.object_))):
        tensor = grpcclient.InferInput(name, [0], datatype)
        tensor.set_data_from_numpy(values)
        inputs.append(tensor)
    result = client.infer("Typed", inputs)
    print(json.dumps({o.name: [o.datatype, list(o.shape), result.as_numpy(o.name).shape[0]] for o in result.get_response().outputs}))
""")


def test_triton_grpc_client_empty_batch(typed_server):
    pytest.importorskip("tritonclient.grpc")
    proc = subprocess.run([sys.executable, "-c", GRPC_EMPTY, f"127.0.0.1:{typed_server.grpc_port}"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"score": ["FP64", [0], 0], "label": ["BYTES", [0], 0], "flags": ["INT64", [0], 0]}


def test_a_request_over_the_queue_limit_is_refused_before_its_tensors_are_decoded():
    target = "protocol_backends:Typed"
    app = create_app(ServeConfig(target=target, max_queue=10), target=Target("module", target, "typed", "3"))
    header = orjson.dumps({"inputs": [
        {"name": "age", "datatype": "INT64", "shape": [11], "data": list(range(11))},
        {"name": "income", "datatype": "FP64", "shape": [11], "data": [1.0] * 11},
        {"name": "name", "datatype": "BYTES", "shape": [11], "parameters": {"binary_data_size": 4}},
    ]})
    body = header + (999).to_bytes(4, "little")  # a BYTES element longer than the data: decoding would fail
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        response = client.post("/v2/models/typed/infer", content=body,
                               headers={"Inference-Header-Content-Length": str(len(header))})
    assert response.status_code == 413, response.text
