"""The OpenAPI 3.1 document of ``packflow serve``: records are the backend's ``Input``/``Output``.

``Input`` and ``Output`` are the backend's declared schemas (pydantic ``input_schema`` /
``output_schema``, or names from ``feature_names`` / ``output_keys``), or any JSON object when it
declares none; the document is built once the backend has loaded (before that, untyped).
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from packflow.runtime.serve.openapi_protocols import protocol_components, protocol_paths

__all__ = ["OpenAPIDocument", "build_openapi"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["type", "message"],
            "properties": {
                "type": {"type": "string", "description": "Short error name, e.g. InvalidJSON."},
                "message": {"type": "string", "description": "What was wrong and how to fix it."},
                "id": {"type": "string", "description": "Server-side failures: the id logged with the cause."},
                "step": {"type": "string", "description": "Failed records: the pipeline step that failed."},
            },
        }
    },
}
_RECORD = {"type": "object", "additionalProperties": True, "description": "A record: any JSON object."}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _probe(summary: str) -> dict[str, Any]:
    status = {"type": "object", "properties": {"status": {"type": "string"}, "reason": {"type": "string"}}}
    return {"get": {"summary": summary, "responses": {"200": _json(status, "OK"), "503": _json(status, "Not ready")}}}


def _invoke() -> dict[str, Any]:
    body = {"anyOf": [{"$ref": "#/components/schemas/Input"}, {"type": "array", "items": {"$ref": "#/components/schemas/Input"}}]}
    result = {"anyOf": [
        {"$ref": "#/components/schemas/Output"},
        {"type": "array", "items": {"anyOf": [{"$ref": "#/components/schemas/Output"}, {"$ref": "#/components/schemas/Error"}]}},
    ]}
    err = {"$ref": "#/components/schemas/Error"}
    return {"post": {
        "summary": "Run the backend on one record (object in, object out) or a batch (array in, array out, same order).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": _json(result, "Outputs; in an array, a failed record's position holds an Error entry."),
            "400": _json(err, "The body is not valid JSON."),
            "413": _json(err, "The body is larger than --max-body-bytes."),
            "422": _json(err, "The JSON is not records, or the single record is invalid (schema, preprocess, InputError)."),
            "500": _json(err, "The single record failed in the model; error.id is in the server log."),
            "503": _json(err, "Not ready, overloaded or shutting down."),
            "504": _json(err, "No result within --request-timeout-s."),
        },
    }}


def _root() -> dict[str, Any]:
    model = {"type": "object", "properties": {"version": {"type": "string"}, "ready": {"type": "boolean"},
                                              "reason": {"type": "string"}}}
    live = {"type": "object", "required": ["status", "models"], "properties": {
        "status": {"type": "string", "enum": ["alive"]}, "live": {"type": "boolean"}, "ready": {"type": "boolean"},
        "reason": {"type": "string"}, "pid": {"type": "integer"}, "uptime_s": {"type": "number"},
        "time": {"type": "number"}, "models": {"type": "object", "additionalProperties": model},
    }}
    content = {"application/json": {"schema": live}, "text/html": {"schema": {"type": "string"}}}
    return {"get": {
        "summary": "Liveness as JSON (the KServe V1 server check); the live status page when Accept prefers text/html.",
        "responses": {"200": {"description": "JSON, or the HTML page for browsers.", "content": content}},
    }}


def build_openapi(
    name: str, version: str, schemas: dict[str, Any] | None = None, models: dict[str, str] | None = None
) -> dict[str, Any]:
    """The document served at ``/openapi.json``; ``schemas`` holds ``Input``/``Output`` (and their parts),
    ``models`` the served models' names and versions (default: ``name`` at ``version``)."""
    components = {"Record": _RECORD, "Error": _ERROR, "Input": _RECORD, "Output": _RECORD, **protocol_components()}
    components.update(schemas or {})
    text = {"get": {"summary": "", "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"packflow serve: {name}", "version": version},
        "paths": {
            "/invoke": _invoke(),
            "/health/live": _probe("Liveness: the process is up."),
            "/health/ready": _probe("Readiness: initialize() finished and ready() is true."),
            "/v2/health/live": _probe("Liveness (KServe/Triton path)."),
            "/v2/health/ready": _probe("Readiness (KServe/Triton path)."),
            "/metrics": {"get": {**text["get"], "summary": "Prometheus metrics (text exposition format)."}},
            "/": _root(),
            "/stats": {"get": {**text["get"], "summary": "This worker's Runner snapshot as JSON."}},
            "/stats/history": {"get": {**text["get"], "summary": "This worker's last minutes of samples per model."}},
            "/openapi.json": {"get": {**text["get"], "summary": "This document."}},
            **protocol_paths(models or {name: version}),
        },
        "components": {"schemas": components},
    }


class OpenAPIDocument:
    """``/openapi.json`` as bytes: untyped while the backend loads, then built once with its schema."""

    def __init__(self, name: str, version: str, schemas: Callable[[], dict[str, Any] | None]) -> None:
        self.name, self.version, self._schemas = name, version, schemas
        self._final: bytes | None = None

    def render(self) -> bytes:
        if self._final is not None:
            return self._final
        schemas = self._schemas()
        body = orjson.dumps(build_openapi(self.name, self.version, schemas))
        if schemas is not None:
            self._final = body
        return body
