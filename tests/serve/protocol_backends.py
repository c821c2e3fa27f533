"""Backends of the protocol tests (importable as ``protocol_backends:Name`` from tests/serve)."""

from __future__ import annotations

from pydantic import BaseModel

from packflow import InferenceBackend
from packflow.exceptions import InputError


class Features(BaseModel):
    age: int
    income: float
    name: str
    member: bool = False


class Scored(BaseModel):
    score: float
    label: str
    flags: list[int]


class Typed(InferenceBackend):
    """Typed schema: score = age * 0.5 + income; label = name upper-cased; flags = [age, member]."""

    input_schema = Features
    output_schema = Scored

    def transform_inputs(self, inputs):
        for record in inputs:
            if record["name"] == "forbidden":
                raise InputError(f"the name {record['name']!r} is not allowed; choose another name")
        return inputs

    def execute(self, inputs):
        if any(r["name"] == "crash" for r in inputs):
            raise RuntimeError("model exploded")
        return [
            {"score": r["age"] * 0.5 + r["income"], "label": r["name"].upper(), "flags": [r["age"], int(r.get("member", False))]}
            for r in inputs
        ]


class Echo(InferenceBackend):
    """Returns each record unchanged (with its Python type names under ``types``)."""

    def execute(self, inputs):
        return [{**r, "types": ",".join(type(v).__name__ for v in r.values())} for r in inputs]


class Address(BaseModel):
    city: str
    zip: int


class Person(BaseModel):
    name: str
    address: Address
    scores: list[float] = []


class Nested(InferenceBackend):
    """Typed input with a nested model; returns the city."""

    input_schema = Person

    def execute(self, inputs):
        return [{"city": r["address"]["city"]} for r in inputs]


class Derived(InferenceBackend):
    """No pydantic schema: feature_names/output_keys give names and required fields, no types."""

    def execute(self, inputs):
        return [{"total": r["a"] + r["b"]} for r in inputs]


class TypedEcho(InferenceBackend):
    """Typed input and output (the same model): returns each validated record's declared fields."""

    input_schema = Features
    output_schema = Features

    def execute(self, inputs):
        return [{k: r[k] for k in ("age", "income", "name", "member") if k in r} for r in inputs]
