"""Open Inference Protocol REST and KServe V1, in-process: routes, tensors ⇄ records, errors, schemas."""

from __future__ import annotations

import struct
import warnings

import orjson
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from packflow.loaders.target import Target
from packflow.runtime.serve import ServeConfig, create_app


def client_for(name: str, model: str = "typed"):
    target = f"protocol_backends:{name}"
    app = create_app(ServeConfig(target=target, max_body_bytes=100_000), target=Target("module", target, model, "3"))
    return app, TestClient(app)


@pytest.fixture(scope="module")
def typed():
    app, client = client_for("Typed")
    with client:
        assert app.state.loaded.wait(10)
        yield client


@pytest.fixture(scope="module")
def echo():
    app, client = client_for("Echo", "echo")
    with client:
        assert app.state.loaded.wait(10)
        yield client


def tensors(age=(30, 40), income=(1.5, 2.0), name=("ann", "bob"), **extra):
    n = len(age)
    return {"inputs": [
        {"name": "age", "datatype": "INT64", "shape": [n], "data": list(age)},
        {"name": "income", "datatype": "FP64", "shape": [n], "data": list(income)},
        {"name": "name", "datatype": "BYTES", "shape": [n], "data": list(name)},
    ], **extra}


def test_server_metadata_health_and_model_readiness(typed):
    assert typed.get("/v2").json()["extensions"] == ["binary_tensor_data"]
    assert typed.get("/v2/health/live").json()["live"] is True
    ready = typed.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["status"] == "ready"
    assert typed.get("/v2/models/typed/ready").json() == {"name": "typed", "ready": True}
    assert typed.get("/v2/models/typed/versions/3/ready").status_code == 200
    assert typed.get("/v1/models/typed").json() == {"name": "typed", "ready": True}


def test_model_metadata_lists_typed_tensors(typed):
    meta = typed.get("/v2/models/typed/versions/3").json()
    assert meta["name"] == "typed" and meta["versions"] == ["3"]
    assert {(t["name"], t["datatype"], tuple(t["shape"])) for t in meta["inputs"]} == {
        ("age", "INT64", (-1,)), ("income", "FP64", (-1,)), ("name", "BYTES", (-1,)), ("member", "BOOL", (-1,)),
    }
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["outputs"]] == [
        ("score", "FP64", [-1]), ("label", "BYTES", [-1]), ("flags", "INT64", [-1, -1]),
    ]


def test_unknown_model_or_version_is_404_in_the_protocol_error_shape(typed):
    for path in ("/v2/models/nope", "/v2/models/typed/versions/9", "/v2/models/nope/ready", "/v1/models/nope"):
        response = typed.get(path)
        assert response.status_code == 404 and isinstance(response.json()["error"], str), path
    response = typed.post("/v2/models/nope/infer", json=tensors())
    assert response.status_code == 404 and "served models: typed" in response.json()["error"]


def test_infer_rows_become_records_and_outputs_come_back_as_tensors(typed):
    response = typed.post("/v2/models/typed/infer", json=tensors(id="req-1"))
    assert response.status_code == 200
    body = response.json()
    assert (body["model_name"], body["model_version"], body["id"]) == ("typed", "3", "req-1")
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["score"] == {"name": "score", "datatype": "FP64", "shape": [2], "data": [16.5, 22.0]}
    assert outputs["label"]["data"] == ["ANN", "BOB"]
    assert outputs["flags"] == {"name": "flags", "datatype": "INT64", "shape": [2, 2], "data": [30, 0, 40, 0]}


def test_no_content_type_is_accepted(typed):
    response = typed.post("/v2/models/typed/infer", content=orjson.dumps(tensors()), headers={"content-type": ""})
    assert response.status_code == 200


def test_requested_outputs_only_in_that_order(typed):
    response = typed.post("/v2/models/typed/infer", json=tensors(outputs=[{"name": "label"}, {"name": "score"}]))
    assert [o["name"] for o in response.json()["outputs"]] == ["label", "score"]
    response = typed.post("/v2/models/typed/infer", json=tensors(outputs=[{"name": "nope"}]))
    assert response.status_code == 400 and "no output 'nope'" in response.json()["error"]


def test_binary_inputs_and_outputs(echo):
    ages = struct.pack("<2i", 7, 8)
    names = b"".join(len(s).to_bytes(4, "little") + s for s in ("x".encode(), "é".encode()))
    header = orjson.dumps({
        "inputs": [
            {"name": "age", "datatype": "INT32", "shape": [2], "parameters": {"binary_data_size": len(ages)}},
            {"name": "name", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(names)}},
        ],
        "outputs": [{"name": "name", "parameters": {"binary_data": True}}, {"name": "types"}, {"name": "age"}],
    })
    response = echo.post(
        "/v2/models/echo/infer", content=header + ages + names,
        headers={"inference-header-content-length": str(len(header)), "content-type": "application/octet-stream"},
    )
    assert response.status_code == 200
    length = int(response.headers["inference-header-content-length"])
    head = orjson.loads(response.content[:length])
    name_out, types_out, age_out = head["outputs"]
    assert types_out["data"] == ["int,str", "int,str"]  # BYTES arrived as bytes, the backend got str
    assert age_out["data"] == [7, 8]
    size = name_out["parameters"]["binary_data_size"]
    assert "data" not in name_out and response.content[length:] == names and size == len(names)


@pytest.mark.parametrize(
    ("headers", "body", "fragment"),
    [
        ({"inference-header-content-length": "999"}, b'{"inputs": []}', "the body has 14 bytes"),
        ({"inference-header-content-length": "x"}, b'{"inputs": []}', "Inference-Header-Content-Length is 'x'"),
        ({}, b"{", "JSON is invalid"),
        ({}, b"[]", "JSON list"),
        ({}, b'{"inputs": 1}', 'no "inputs" array'),
        ({}, b'{"inputs": []}', "no inputs"),
        ({}, b'{"inputs": [{"name": "a", "datatype": "FP64", "shape": [1]}]}', 'no "data"'),
        ({}, b'{"inputs": [{"name": "a", "datatype": "FP64", "shape": "1", "data": [1]}]}', "shape '1'"),
        ({}, b'{"inputs": [{"name": "a", "datatype": "FP64", "shape": [2], "data": [1]}]}', "2 elements"),
    ],
)
def test_malformed_requests_are_400_saying_what_to_fix(echo, headers, body, fragment):
    response = echo.post("/v2/models/echo/infer", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


@pytest.mark.parametrize("data", [[10**400], [1, 10**400]])
def test_an_integer_too_large_for_a_float_tensor_is_400(echo, data):
    text = ",".join(map(str, data))  # JSON with exact wide integers (orjson cannot write them)
    body = f'{{"inputs":[{{"name":"x","datatype":"FP64","shape":[{len(data)}],"data":[{text}]}}]}}'
    response = echo.post("/v2/models/echo/infer", content=body.encode())
    assert response.status_code == 400 and "too large for a float" in response.json()["error"]


def test_schema_violation_is_422_naming_the_field(typed):
    response = typed.post("/v2/models/typed/infer", json=tensors(age=(1, 2), income=(1.0, 2.0), name=("a", "b"))
                          | {"inputs": tensors()["inputs"][:2]})
    assert response.status_code == 422 and "name: Field required" in response.json()["error"]
    response = typed.post("/v1/models/typed:predict", json={"instances": [{"age": "3", "income": 1.0, "name": "x"}]})
    assert response.status_code == 422 and "age: Input should be a valid integer" in response.json()["error"]


def test_input_error_from_transform_inputs_is_4xx_and_model_errors_are_5xx(typed):
    bad = typed.post("/v2/models/typed/infer", json=tensors(name=("ann", "forbidden")))
    assert bad.status_code == 422 and "record 1 is invalid at step transform_inputs" in bad.json()["error"]
    crash = typed.post("/v2/models/typed/infer", json=tensors(name=("ann", "crash")))
    assert crash.status_code == 500 and "error id" in crash.json()["error"] and "model exploded" in crash.json()["error"]


def test_kserve_v1_instances_to_predictions(typed):
    response = typed.post("/v1/models/typed:predict", json={"instances": [{"age": 2, "income": 1.0, "name": "x"}]})
    assert response.json() == {"predictions": [{"score": 2.0, "label": "X", "flags": [2, 0]}]}
    assert typed.post("/v1/models/typed:predict", json={"instances": []}).json() == {"predictions": []}
    for body, status in ((b"{", 400), (b'{"instances": 1}', 400), (b'{"instances": [1]}', 422)):
        response = typed.post("/v1/models/typed:predict", content=body)
        assert response.status_code == status and isinstance(response.json()["error"], str)


def test_protocol_readiness_asks_backend_ready():
    target = "serve_backends:NotReady"
    app = create_app(ServeConfig(target=target), target=Target("module", target, "nr", "1"))
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        assert client.get("/v2/health/ready").json()["ready"] is False
        assert client.get("/v2/models/nr/ready").status_code == 503
        assert client.get("/v1/models/nr").json() == {"name": "nr", "ready": False}
