"""A served backend's record schema: field names, types, required fields — and checks against it.

A backend declares its schema explicitly as pydantic models in the class attributes
``input_schema`` and ``output_schema``, or in part through its configuration's ``feature_names``
(input fields; required as ``required_fields`` says) and ``output_keys`` (output fields), untyped. The schema feeds the
OpenAPI document, the Open Inference Protocol model metadata, and request validation: a record
that violates ``input_schema`` fails alone, as a client error naming the field path.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from packflow.exceptions import InputError

__all__ = ["FieldSpec", "ModelSchema", "SchemaValidationError", "schema_of"]

_SCALARS = {bool: "BOOL", int: "INT64", float: "FP64", str: "BYTES"}


class SchemaValidationError(InputError):
    """A record does not match the backend's ``input_schema``."""


@dataclass(frozen=True)
class FieldSpec:
    """One field as a tensor: name, V2 datatype (None when untyped), shape with -1 for free axes."""

    name: str
    datatype: str | None
    shape: list[int]
    required: bool

    def metadata(self) -> dict[str, Any]:
        """The Open Inference Protocol tensor metadata (untyped fields are listed as ``BYTES``)."""
        return {"name": self.name, "datatype": self.datatype or "BYTES", "shape": self.shape}


class ModelSchema:
    """The input and output fields of one backend, and the checker for its input records."""

    def __init__(self, backend: Any) -> None:
        config = getattr(backend, "config", None)
        self.input_model = _pydantic_model(getattr(backend, "input_schema", None))
        self.output_model = _pydantic_model(getattr(backend, "output_schema", None))
        untyped_in = "FP64" if str(getattr(config, "input_format", "")).endswith("numpy") else None
        names = list(getattr(config, "feature_names", []) or [])
        required = set(getattr(config, "required_fields", names) or [])
        self.inputs = _fields(self.input_model, names, untyped_in, required)
        self.outputs = _fields(self.output_model, list(getattr(config, "output_keys", []) or []), None, set())
        # Derived schemas: the backend's preprocessor enforces required_fields itself (a 422 at step preprocess).
        self.required: list[str] = []
        self.output_types = {f.name: f.datatype for f in self.outputs if f.datatype}

    @property
    def checks_inputs(self) -> bool:
        """Whether :meth:`problem` can reject anything (a typed schema or required fields)."""
        return self.input_model is not None or bool(self.required)

    def problem(self, record: Any) -> str | None:
        """Why ``record`` violates the input schema (naming each field path), or None when it fits."""
        if self.input_model is not None:
            from pydantic import ValidationError

            try:
                self.input_model.model_validate(record, strict=True)
            except ValidationError as exc:
                return "; ".join(f"{_path(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False))
            return None
        missing = [name for name in self.required if name not in record]
        if missing:
            return "; ".join(f"{name}: Field required" for name in missing)
        return None

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """OpenAPI component schemas ``Input`` and ``Output`` (plus the models they reference)."""
        out: dict[str, dict[str, Any]] = {}
        for key, model, fields in (("Input", self.input_model, self.inputs), ("Output", self.output_model, self.outputs)):
            if model is not None:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                out.update(schema.pop("$defs", {}))
                out[key] = schema
            elif fields:
                out[key] = {
                    "type": "object", "additionalProperties": True,
                    "properties": {f.name: {} for f in fields}, "required": [f.name for f in fields if f.required],
                }
        return out


def schema_of(backend: Any) -> ModelSchema:
    """The schema a backend declares (empty when it declares none)."""
    return ModelSchema(backend)


def _pydantic_model(value: Any) -> Any:
    if value is None:
        return None
    from pydantic import BaseModel

    if isinstance(value, type) and issubclass(value, BaseModel):
        return value
    raise TypeError(f"input_schema/output_schema must be a pydantic BaseModel subclass, got {value!r}.")


def _fields(model: Any, names: list[str], untyped: str | None, required: set[str]) -> list[FieldSpec]:
    if model is None:
        return [FieldSpec(name, untyped, [-1], name in required) for name in names]
    specs = []
    for name, info in model.model_fields.items():
        datatype, depth = _tensor_type(info.annotation)
        specs.append(FieldSpec(info.alias or name, datatype, [-1] * (1 + depth), info.is_required()))
    return specs


def _tensor_type(annotation: Any, depth: int = 0) -> tuple[str | None, int]:
    """(V2 datatype, list depth) of a field annotation: ``list[list[float]]`` → ("FP64", 2)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _tensor_type(options[0], depth) if len(options) == 1 else ("BYTES", depth)
    if origin in (list, tuple) and typing.get_args(annotation):
        return _tensor_type(typing.get_args(annotation)[0], depth + 1)
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        return _SCALARS.get(type(values[0]), "BYTES"), depth
    return _SCALARS.get(annotation, "BYTES"), depth


def _path(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(record)"
