"""OpenAPI paths and components of the Open Inference Protocol REST routes and KServe V1."""

from __future__ import annotations

from typing import Any

from packflow.runtime.serve.tensors import DATATYPES

__all__ = ["protocol_components", "protocol_paths"]

_STR = {"type": "string"}
_OBJ = {"type": "object"}
_V2_ERROR = {"type": "object", "required": ["error"], "properties": {"error": _STR}}
_TENSOR_META: dict[str, Any] = {
    "type": "object", "required": ["name", "datatype", "shape"],
    "properties": {"name": _STR, "datatype": _STR, "shape": {"type": "array", "items": {"type": "integer"}}},
}
_REQUEST_INPUT = {
    "type": "object", "required": ["name", "shape", "datatype"],
    "properties": {
        "name": _STR,
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 1},
        "datatype": {"type": "string", "enum": list(DATATYPES)},
        "parameters": _OBJ,
        "data": {"type": "array"},
    },
}
_REQUEST = {
    "type": "object", "required": ["inputs"],
    "properties": {
        "id": _STR, "parameters": _OBJ, "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2RequestInput"}},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": _STR, "parameters": _OBJ}}},
    },
}
_RESPONSE = {
    "type": "object", "required": ["model_name", "outputs"],
    "properties": {
        "model_name": _STR, "model_version": _STR, "id": _STR,
        "outputs": {"type": "array", "items": {
            "type": "object", "required": ["name", "datatype", "shape"],
            "properties": {**_TENSOR_META["properties"], "data": {"type": "array"}, "parameters": _OBJ},
        }},
    },
}
_MODEL_META = {
    "type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"],
    "properties": {
        "name": _STR, "versions": {"type": "array", "items": _STR}, "platform": _STR,
        "inputs": {"type": "array", "items": _TENSOR_META}, "outputs": {"type": "array", "items": _TENSOR_META},
    },
}
_SERVER_META = {"type": "object", "required": ["name", "version", "extensions"],
                "properties": {"name": _STR, "version": _STR, "extensions": {"type": "array", "items": _STR}}}
_READY = {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}, "name": _STR}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "Malformed request (the message says what to fix).", 404: "No such model or version.",
        413: "Body larger than --max-body-bytes.", 422: "A record is invalid (schema, preprocess or InputError).",
        500: "The model failed; the message has an id logged with the cause.", 503: "Not ready, overloaded or shutting down.",
        504: "No result within --request-timeout-s.",
    }
    return {str(code): _json(_ref("V2Error"), text[code]) for code in codes}


def _get(summary: str, schema: dict[str, Any], *codes: int, params: list | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": _json(schema, "OK"), **_errors(*codes)}}
    if params:
        operation["parameters"] = params
    return {"get": operation}


def _post(summary: str, body: dict[str, Any], result: dict[str, Any], params: list, binary: bool = False) -> dict[str, Any]:
    ok = _json(result, "Outputs")
    if binary:
        ok["content"]["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}
        ok["description"] += " (application/octet-stream: JSON header, then binary tensors; see Inference-Header-Content-Length)"
    return {"post": {
        "summary": summary, "parameters": params,
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"200": ok, **_errors(400, 404, 413, 422, 500, 503, 504)},
    }}


def _param(name: str, values: list[str]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "enum": values}}


def protocol_paths(models: dict[str, str]) -> dict[str, Any]:
    """The V2 and V1 operations over ``models`` (name → version)."""
    _NAME, _VERSION = _param("name", sorted(models)), _param("version", sorted(set(models.values())))
    paths: dict[str, Any] = {
        "/v2": _get("Open Inference Protocol server metadata.", _ref("V2ServerMetadata")),
        "/v1/models/{name}": _get("KServe V1 model status.", _READY, 404, 503, params=[_NAME]),
        "/v1/models/{name}:predict": _post(
            "KServe V1: instances (records) in, predictions (records) out.",
            {"type": "object", "required": ["instances"], "properties": {"instances": {"type": "array", "items": _ref("Input")}}},
            {"type": "object", "required": ["predictions"], "properties": {"predictions": {"type": "array", "items": _ref("Output")}}},
            [_NAME],
        ),
    }
    for prefix, params in (("/v2/models/{name}", [_NAME]), ("/v2/models/{name}/versions/{version}", [_NAME, _VERSION])):
        paths[prefix] = _get("Model metadata: input and output tensors.", _ref("V2ModelMetadata"), 404, params=params)
        paths[prefix + "/ready"] = _get("Model readiness.", _READY, 404, 503, params=params)
        paths[prefix + "/infer"] = _post(
            "Inference: one input tensor per record field, the first axis is the record.",
            _ref("V2InferenceRequest"), _ref("V2InferenceResponse"), params, binary=True,
        )
    return paths


def protocol_components() -> dict[str, Any]:
    """The component schemas :func:`protocol_paths` refers to (besides ``Input`` and ``Output``)."""
    return {
        "V2Error": _V2_ERROR, "V2RequestInput": _REQUEST_INPUT, "V2InferenceRequest": _REQUEST,
        "V2InferenceResponse": _RESPONSE, "V2ModelMetadata": _MODEL_META, "V2ServerMetadata": _SERVER_META,
    }
