"""Every protocol is an adapter over one request path: the same records reach ``RequestPath.submit_records``."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import packflow.runtime.serve as serve_package
from packflow.loaders.target import Target
from packflow.runtime.serve import ServeConfig, create_app
from packflow.runtime.serve.request_path import RequestPath

RECORD = {"age": 2, "income": 1.0, "name": "x"}
V2_INPUTS = [
    {"name": "age", "datatype": "INT64", "shape": [1], "data": [2]},
    {"name": "income", "datatype": "FP64", "shape": [1], "data": [1.0]},
    {"name": "name", "datatype": "BYTES", "shape": [1], "data": ["x"]},
]


@pytest.fixture
def spied(monkeypatch):
    """The typed app in-process, with every call of ``RequestPath.submit_records`` recorded."""
    calls: list[list[dict]] = []
    real = RequestPath.submit_records

    async def spy(self, records):
        calls.append([dict(r) for r in records])
        return await real(self, records)

    monkeypatch.setattr(RequestPath, "submit_records", spy)
    target = "protocol_backends:Typed"
    app = create_app(ServeConfig(target=target), target=Target("module", target, "typed", "1"))
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        yield app, client, calls


def grpc_infer(app, client):
    pytest.importorskip("grpc")
    from packflow.runtime.serve.grpc.messages import message
    from packflow.runtime.serve.grpc.service import InferenceService

    tensor = message("ModelInferRequest").InferInputTensor
    contents = {"age": {"int64_contents": [2]}, "income": {"fp64_contents": [1.0]}, "name": {"bytes_contents": [b"x"]}}
    inputs = [tensor(name=t["name"], datatype=t["datatype"], shape=[1], contents=contents[t["name"]]) for t in V2_INPUTS]
    request = message("ModelInferRequest")(model_name="typed", inputs=inputs)
    return client.portal.call(InferenceService(app.models).ModelInfer, request, None)


def test_every_protocol_submits_the_same_records_through_the_request_path(spied):
    app, client, calls = spied
    assert client.post("/invoke", json=RECORD).json()["score"] == 2.0
    assert client.post("/models/typed/invoke", json=[RECORD]).json()[0]["score"] == 2.0
    v2 = client.post("/v2/models/typed/infer", json={"inputs": V2_INPUTS}).json()
    assert {o["name"]: o["data"] for o in v2["outputs"]}["score"] == [2.0]
    assert client.post("/v1/models/typed:predict", json={"instances": [RECORD]}).json()["predictions"][0]["score"] == 2.0
    response = grpc_infer(app, client)
    assert [o.name for o in response.outputs] == ["score", "label", "flags"]
    assert len(calls) == 5
    for records in calls:  # the same record, with the same Python types, whichever protocol carried it
        assert records == [RECORD] and [type(v) for v in records[0].values()] == [int, float, str]


def test_a_schema_violation_is_isolated_on_the_request_path_for_every_protocol(spied):
    _, client, calls = spied
    bad = {"age": "two", "income": 1.0, "name": "x"}
    results = client.post("/invoke", json=[RECORD, bad]).json()
    assert results[0]["score"] == 2.0 and results[1]["error"]["type"] == "SchemaValidationError"
    response = client.post("/v1/models/typed:predict", json={"instances": [bad]})
    assert response.status_code == 422 and "age" in response.json()["error"]
    assert calls == [[RECORD, bad], [bad]]


def test_no_adapter_talks_to_the_runner_directly():
    """Only the request path submits to a Runner; the adapters only translate (ARCHITECTURE.md)."""
    folder = Path(serve_package.__file__).parent
    offenders = [
        str(path.relative_to(folder))
        for path in folder.rglob("*.py")
        if path.name != "request_path.py" and ".aio.submit(" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
