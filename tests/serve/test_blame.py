"""Whose fault, on every protocol: what the client caused is 4xx (gRPC INVALID_ARGUMENT), the model's 5xx (INTERNAL).

One matrix: four failures (a schema violation, a typed ``InputError`` raised in ``transform_inputs``,
a preprocess failure, an exception in ``execute``) × four protocols (``/invoke``, Open Inference
Protocol REST, KServe V1, Open Inference Protocol gRPC), each record sent alone.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from packflow.loaders.target import Target
from packflow.runtime.serve import ServeConfig, create_app

grpc = pytest.importorskip("grpc")

GOOD = {"age": 2, "income": 1.0, "name": "x"}
#: failure → (backend, record, expected HTTP status, fragments every protocol's message must hold)
FAILURES = {
    "schema": ("typed", {**GOOD, "age": "two"}, 422, ["age", "Input should be a valid integer"]),
    "input_error": ("typed", {**GOOD, "name": "forbidden"}, 422, ["transform_inputs", "'forbidden' is not allowed"]),
    "preprocess": ("derived", {"a": 1}, 422, ["preprocess", "b"]),
    "model": ("typed", {**GOOD, "name": "crash"}, 500, ["execute", "model exploded"]),
}
PROTOCOLS = ["invoke", "v2", "v1", "grpc"]


@pytest.fixture(scope="module")
def apps():
    """In-process apps of the typed backend and of a derived-schema one (``b`` required by the preprocessor)."""
    configs = {
        "typed": ServeConfig(target="protocol_backends:Typed"),
        "derived": ServeConfig(target="protocol_backends:Derived",
                               backend_kwargs={"feature_names": ["a", "b"], "required_fields": ["b"]}),
    }
    clients = {}
    for name, config in configs.items():
        app = create_app(config, target=Target("module", config.target, name, "1"))
        client = TestClient(app).__enter__()
        assert app.state.loaded.wait(10)
        clients[name] = (app, client)
    yield clients
    for _, client in clients.values():
        client.__exit__(None, None, None)


class Aborted(Exception):
    def __init__(self, code: Any, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


class Context:
    """The part of ``grpc.aio.ServicerContext`` the service uses."""

    async def abort(self, code: Any, details: str) -> None:
        raise Aborted(code, details)


def v2_inputs(record: dict) -> list[dict]:
    kinds = {bool: "BOOL", int: "INT64", float: "FP64", str: "BYTES"}
    return [{"name": k, "datatype": kinds[type(v)], "shape": [1], "data": [v]} for k, v in record.items()]


def grpc_request(model: str, record: dict) -> Any:
    from packflow.runtime.serve.grpc.messages import message

    fields = {"INT64": "int64_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents", "BOOL": "bool_contents"}
    tensor = message("ModelInferRequest").InferInputTensor
    tensors = []
    for spec in v2_inputs(record):
        value = spec["data"][0].encode() if spec["datatype"] == "BYTES" else spec["data"][0]
        tensors.append(tensor(name=spec["name"], datatype=spec["datatype"], shape=[1], contents={fields[spec["datatype"]]: [value]}))
    return message("ModelInferRequest")(model_name=model, inputs=tensors)


def call(apps, protocol: str, model: str, record: dict) -> tuple[Any, str]:
    """(status, error message) of one failed request; the status is a gRPC code for ``grpc``."""
    app, client = apps[model]
    if protocol == "invoke":
        response = client.post("/invoke", json=record)
        error = response.json()["error"]
        return response.status_code, f"{error['step']}: {error['type']}: {error['message']}"
    if protocol == "v2":
        response = client.post(f"/v2/models/{model}/infer", json={"inputs": v2_inputs(record)})
        return response.status_code, response.json()["error"]
    if protocol == "v1":
        response = client.post(f"/v1/models/{model}:predict", json={"instances": [record]})
        return response.status_code, response.json()["error"]
    from packflow.runtime.serve.grpc.service import InferenceService

    with pytest.raises(Aborted) as aborted:
        client.portal.call(InferenceService(app.models).ModelInfer, grpc_request(model, record), Context())
    return aborted.value.code, aborted.value.details


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_client_errors_are_4xx_and_model_errors_5xx_on_every_protocol(apps, protocol, failure):
    model, record, status, fragments = FAILURES[failure]
    got, message = call(apps, protocol, model, record)
    expected = {422: grpc.StatusCode.INVALID_ARGUMENT, 500: grpc.StatusCode.INTERNAL}[status] if protocol == "grpc" else status
    assert got == expected, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    if status == 500 and protocol != "invoke":  # the model's failure carries the id of its server log line
        assert "error id" in message


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_same_requests_succeed_when_the_record_is_good(apps, protocol):
    app, client = apps["typed"]
    if protocol == "grpc":
        from packflow.runtime.serve.grpc.service import InferenceService

        response = client.portal.call(InferenceService(app.models).ModelInfer, grpc_request("typed", GOOD), Context())
        assert [o.name for o in response.outputs] == ["score", "label", "flags"]
        return
    path, body = {"invoke": ("/invoke", GOOD), "v2": ("/v2/models/typed/infer", {"inputs": v2_inputs(GOOD)}),
                  "v1": ("/v1/models/typed:predict", {"instances": [GOOD]})}[protocol]
    assert client.post(path, json=body).status_code == 200


def test_with_two_workers_the_blame_survives_the_backend_process(start_server):
    """With --workers N the backend runs in a child process; its errors keep their type and step."""
    server = start_server("protocol_backends:Typed", "--workers", "2")
    server.wait_status("/health/ready", 200, timeout=90)
    inputs = {"inputs": v2_inputs({**GOOD, "name": "forbidden"})}
    status, body = server.request("POST", "/v2/models/Typed/infer", inputs)
    assert status == 422 and "transform_inputs" in body["error"], body
    status, body = server.request("POST", "/invoke", {**GOOD, "name": "forbidden"})
    assert status == 422 and body["error"]["type"] == "InputError", body
    status, body = server.request("POST", "/v1/models/Typed:predict", {"instances": [{**GOOD, "name": "crash"}]})
    assert status == 500 and "model exploded" in body["error"], body
    assert server.stop() == 0


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_only_the_models_failures_are_logged_at_error(apps, protocol, failure, caplog):
    """Bad input is the client's to fix: its log line is a WARNING, so ERROR-level alerts mean the model."""
    import logging

    model, record, status, _ = FAILURES[failure]
    with caplog.at_level(logging.INFO, logger="packflow"):
        call(apps, protocol, model, record)
    lines = [r for r in caplog.records if r.name.startswith("packflow") and "record_index=" in r.getMessage()]
    assert {r.levelname for r in lines} == ({"ERROR"} if status == 500 else {"WARNING"}), [r.getMessage() for r in lines]
