"""Typed schemas: from pydantic class attributes or feature_names/output_keys, into metadata, OpenAPI, checks."""

from __future__ import annotations

import warnings

import pytest
from protocol_backends import Derived, Nested, Typed

from packflow.runtime.serve.schema import schema_of

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from packflow.loaders.target import Target
from packflow.runtime.serve import ServeConfig, create_app


def test_pydantic_schema_gives_datatypes_shapes_and_required():
    schema = schema_of(Typed())
    assert [(f.name, f.datatype, f.shape, f.required) for f in schema.inputs] == [
        ("age", "INT64", [-1], True), ("income", "FP64", [-1], True), ("name", "BYTES", [-1], True),
        ("member", "BOOL", [-1], False),
    ]
    assert schema.output_types == {"score": "FP64", "label": "BYTES", "flags": "INT64"}


def test_nested_violations_name_the_field_path():
    schema = schema_of(Nested())
    problem = schema.problem({"name": "a", "address": {"city": "x", "zip": "7"}, "scores": [1.0, "no"]})
    assert "address.zip: Input should be a valid integer" in problem and "scores[1]:" in problem
    assert schema.problem({"name": "a", "address": {"city": "x", "zip": 7}}) is None


def test_feature_names_and_output_keys_give_names_and_required_but_no_types():
    schema = schema_of(Derived(feature_names=["a", "b"], required_fields=["b"], output_keys=["total"]))
    assert [(f.name, f.datatype, f.required) for f in schema.inputs] == [("a", None, False), ("b", None, True)]
    assert schema.json_schemas()["Input"]["required"] == ["b"]
    assert schema.outputs[0].metadata() == {"name": "total", "datatype": "BYTES", "shape": [-1]}


def test_no_schema_checks_nothing():
    schema = schema_of(Derived())
    assert not schema.checks_inputs and schema.inputs == [] and schema.json_schemas() == {}


def test_openapi_components_reference_each_other():
    components = schema_of(Nested()).json_schemas()
    assert components["Input"]["properties"]["address"] == {"$ref": "#/components/schemas/Address"}
    assert components["Address"]["required"] == ["city", "zip"]


@pytest.fixture(scope="module")
def invoke_typed():
    target = "protocol_backends:Typed"
    app = create_app(ServeConfig(target=target), target=Target("module", target, "typed", "1"))
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        yield client


def test_invoke_single_record_client_errors_are_422_model_errors_500(invoke_typed):
    missing = invoke_typed.post("/invoke", json={"age": 1, "income": 2.0})
    assert missing.status_code == 422
    assert missing.json()["error"]["step"] == "input" and "name: Field required" in missing.json()["error"]["message"]
    refused = invoke_typed.post("/invoke", json={"age": 1, "income": 2.0, "name": "forbidden"})
    assert refused.status_code == 422 and refused.json()["error"]["type"] == "InputError"
    crash = invoke_typed.post("/invoke", json={"age": 1, "income": 2.0, "name": "crash"})
    assert crash.status_code == 500 and crash.json()["error"]["step"] == "execute"


def test_invoke_batch_isolates_the_invalid_record(invoke_typed):
    response = invoke_typed.post("/invoke", json=[{"age": 1, "income": 2.0, "name": "a"}, {"age": True, "income": 1, "name": "b"}])
    assert response.status_code == 200
    good, bad = response.json()
    assert good == {"score": 2.5, "label": "A", "flags": [1, 0]}
    assert bad["error"]["step"] == "input" and "age: Input should be a valid integer" in bad["error"]["message"]


def test_a_missing_required_field_of_a_derived_schema_is_422_from_the_preprocessor():
    target = "protocol_backends:Derived"
    config = ServeConfig(target=target, backend_kwargs={"feature_names": ["a", "b"], "required_fields": ["b"]})
    app = create_app(config, target=Target("module", target, "derived", "1"))
    with TestClient(app) as client:
        assert app.state.loaded.wait(10)
        response = client.post("/invoke", json={"a": 1})
        assert response.status_code == 422 and response.json()["error"]["step"] == "preprocess"
        assert "b" in response.json()["error"]["message"]
        assert client.post("/invoke", json={"a": 1, "b": 2}).json() == {"total": 3}


def test_schema_rejects_are_counted_as_input_dead_letters_in_stats_and_metrics(invoke_typed):
    def counts() -> tuple[int, int, int, float]:
        stats = invoke_typed.get("/stats").json()
        line = 'packflow_dead_letters_total{backend="typed",step="input",version="1"} '
        scraped = [float(x.split()[-1]) for x in invoke_typed.get("/metrics").text.splitlines() if x.startswith(line)]
        return stats["dead_letters_by_step"].get("input", 0), stats["records_in"], stats["records_out"], sum(scraped)

    before = counts()
    batch = [{"age": 1, "income": 2.0, "name": "a"}, {"age": True, "income": 1, "name": "b"}, {"age": 1, "income": 2.0}]
    assert invoke_typed.post("/invoke", json=batch).status_code == 200
    after = counts()
    assert [a - b for a, b in zip(after, before)] == [2, 3, 1, 2.0]  # input dead letters, in, out, scraped
