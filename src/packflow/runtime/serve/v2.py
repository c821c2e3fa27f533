"""Open Inference Protocol ("V2") over REST: health, metadata, readiness and inference routes.

Inference is an adapter over the one request path: tensors → records (one field per input
tensor, one record per row) → :meth:`RequestPath.submit_records` → records → tensors. Errors use the
protocol's ``{"error": "..."}`` body: 400 for a malformed request, 404 for an unknown model or
version, 422 when a record is invalid (schema or input errors), 500 when the model failed
(with an id logged with the cause), 503/504 when not ready, overloaded or too slow.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, Mapping

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from packflow._version import __version__
from packflow.runtime.serve.bodies import ClientDisconnected, HTTPProblem, read_body
from packflow.runtime.serve.request_path import all_outputs
from packflow.runtime.serve.served import ServedModel
from packflow.runtime.serve.tensors import TensorError, columns_from_records, records_from_columns
from packflow.runtime.serve.v2_json import outputs_from_record
from packflow.runtime.serve.v2_binary import (
    InferRequest,
    encode_infer_response,
    encode_plain_response,
    header_length,
    parse_infer_request,
)

__all__ = ["EXTENSIONS", "find_model", "model_metadata", "problem_text", "server_metadata", "unknown_route", "v2_routes"]

Send = Callable[[dict], Awaitable[None]]
Models = Mapping[str, ServedModel]
EXTENSIONS = ["binary_tensor_data"]
_OUTCOME = {400: "bad_request", 404: "bad_request", 422: "bad_request", 413: "too_large", 504: "timeout", 503: "unavailable"}
_clock = time.perf_counter


def server_metadata() -> dict[str, Any]:
    return {"name": "packflow", "version": __version__, "extensions": EXTENSIONS}


def model_metadata(model: ServedModel) -> dict[str, Any]:
    """Name, versions, platform and the input/output tensors (from the backend's schema)."""
    schema = model.schema()
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": "packflow",
        "inputs": [f.metadata() for f in schema.inputs] if schema else [],
        "outputs": [f.metadata() for f in schema.outputs] if schema else [],
    }


def find_model(models: Models, name: str, version: str | None) -> ServedModel:
    """The model called ``name`` (at ``version`` if given), else a 404 problem."""
    model = models.get(name)
    if model is None:
        known = ", ".join(sorted(models)) or "none"
        raise HTTPProblem(404, "UnknownModel", f"No model named {name!r} is served here; served models: {known}.")
    if version is not None and version != model.version:
        raise HTTPProblem(404, "UnknownVersion", f"Model {name!r} has version {model.version!r}, not {version!r}.")
    return model


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps({"error": message}), status_code=status, media_type="application/json", headers=headers)


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def problem_text(problem: HTTPProblem) -> str:
    """The message of a V2/V1 ``{"error": ...}`` body (with the error id of a server-side failure)."""
    return f"{problem.message} (error id {problem.error_id}; the server log has the details)" if problem.error_id else problem.message


class InferEndpoint:
    """``POST /v2/models/{name}[/versions/{version}]/infer`` as a raw ASGI app (the hot path)."""

    def __init__(self, models: Models, limit: int) -> None:
        self.models = models
        self.limit = limit

    @staticmethod
    def path_params(path: str) -> dict[str, str] | None:
        """``{"name", "version"?}`` of an infer path, or None when ``path`` is not one (no regex, no router)."""
        if not (path.startswith("/v2/models/") and path.endswith("/infer")):
            return None
        parts = path[11:-6].split("/")
        if len(parts) == 1 and parts[0]:
            return {"name": parts[0]}
        if len(parts) == 3 and parts[1] == "versions" and parts[0] and parts[2]:
            return {"name": parts[0], "version": parts[2]}
        return None

    async def dispatch(self, scope: dict, receive: Any, send: Send, params: dict[str, str]) -> None:
        """Serve an infer request matched by :meth:`path_params` (the server's fast path, before routing)."""
        if scope["method"] != "POST":
            body = orjson.dumps({"error": "Use POST for /infer."})
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"allow", b"POST")]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self._serve(scope, receive, send, params)

    async def __call__(self, scope: dict, receive: Any, send: Send) -> None:
        await self._serve(scope, receive, send, scope.get("path_params", {}))

    async def _serve(self, scope: dict, receive: Any, send: Send, params: dict) -> None:
        start = _clock()
        model = self.models.get(params.get("name", ""))
        try:
            status, body, json_length = await self._handle(scope, receive, params)
        except ClientDisconnected:
            return
        except HTTPProblem as problem:
            status, body, json_length = problem.status, orjson.dumps({"error": problem_text(problem)}), None
        headers = [(b"content-type", b"application/json" if json_length is None else b"application/octet-stream"),
                   (b"content-length", str(len(body)).encode())]
        if json_length is not None:
            headers.append((b"inference-header-content-length", str(json_length).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if model is not None:
            model.metrics.observe_request("ok" if status == 200 else _OUTCOME.get(status, "error"), _clock() - start)

    async def _handle(self, scope: dict, receive: Any, params: dict) -> tuple[int, bytes, int | None]:
        model = find_model(self.models, params.get("name", ""), params.get("version"))
        body = await read_body(receive, scope["headers"], self.limit)
        try:
            request = parse_infer_request(body, header_length(scope["headers"]), model.path.check_count)
            records = request.records if request.records is not None else records_from_columns(request.columns)
        except TensorError as exc:
            raise HTTPProblem(400, "InvalidTensor", str(exc)) from None
        results = all_outputs(await model.path.submit_records(records))
        return _respond(model, request, results)


def _respond(model: ServedModel, request: InferRequest, results: list[dict]) -> tuple[int, bytes, int | None]:
    schema = model.schema()
    declared = schema.output_types if schema else {}
    head: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if request.request_id is not None:
        head["id"] = request.request_id
    plain = _plain_outputs(results, request, declared)
    if plain is not None:  # the hot path
        return (200, *encode_plain_response(head, plain, request))
    return _respond_columns(head, request, results, declared)


def _plain_outputs(results: list[dict], request: InferRequest, declared: dict[str, str]) -> list[dict[str, Any]] | None:
    """The output entries of one plain record (the requested ones, each named once), else None: the general path."""
    plain = outputs_from_record(results[0], declared) if len(results) == 1 else None
    if plain is None or request.outputs is None:
        return plain
    by_name = {entry["name"]: entry for entry in plain}
    if len(set(request.outputs)) != len(request.outputs) or not all(name in by_name for name in request.outputs):
        return None
    return [by_name[name] for name in request.outputs]


def _respond_columns(
    head: dict[str, Any], request: InferRequest, results: list[dict], declared: dict[str, str]
) -> tuple[int, bytes, int | None]:
    """The general path: output columns (datatypes inferred or declared), then the response body."""
    if request.outputs is not None and results:
        unknown = [name for name in request.outputs if name not in results[0]]
        if unknown:
            raise HTTPProblem(400, "UnknownOutput", f"The model has no output {unknown[0]!r}; its outputs are {sorted(results[0])}.")
    try:
        columns = columns_from_records(results, request.outputs, declared)
    except KeyError as exc:
        raise HTTPProblem(500, "OutputError", f"The model's outputs cannot form tensors: {exc.args[0]}.") from None
    body, json_length = encode_infer_response(head, columns, request)
    return 200, body, json_length


def v2_routes(models: Models, limit: int) -> list[Route]:
    """The Open Inference Protocol REST routes over ``models`` (name → model)."""

    def lookup(request: Request) -> ServedModel:
        return find_model(models, request.path_params["name"], request.path_params.get("version"))

    async def live(_: Request) -> Response:
        return _json({"live": True, "status": "live"})

    async def ready(_: Request) -> Response:
        verdicts = [(m.name, *(await m.state.check_readiness())) for m in models.values()]
        waiting = [f"{name}: {reason}" for name, ok, reason in verdicts if not ok]
        ok = bool(verdicts) and not waiting
        body = {"ready": ok, "status": "ready" if ok else "not ready", "reason": "ready" if ok else "; ".join(waiting)}
        return _json(body, 200 if ok else 503)

    async def server(_: Request) -> Response:
        return _json(server_metadata())

    async def metadata(request: Request) -> Response:
        try:
            return _json(model_metadata(lookup(request)))
        except HTTPProblem as problem:
            return _error(problem.status, problem.message)

    async def model_ready(request: Request) -> Response:
        try:
            model = lookup(request)
        except HTTPProblem as problem:
            return _error(problem.status, problem.message)
        ok = await model.ready()
        return _json({"name": model.name, "ready": ok}, 200 if ok else 503)

    infer = InferEndpoint(models, limit)
    return _routes(server, live, ready, metadata, model_ready, infer)


def _routes(server: Any, live: Any, ready: Any, metadata: Any, model_ready: Any, infer: InferEndpoint) -> list[Route]:
    routes = [
        Route("/v2", server, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
    ]
    for prefix in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        routes += [
            Route(prefix, metadata, methods=["GET"]),
            Route(prefix + "/ready", model_ready, methods=["GET"]),
            Route(prefix + "/infer", infer, methods=["POST"]),
        ]
    return [*routes, unknown_route("/v2", routes, _V2_ROUTES)]


_V2_ROUTES = ("GET /v2, /v2/health/live, /v2/health/ready, GET /v2/models/{name}[/versions/{version}], GET .../ready "
              "and POST .../infer (no model repository, config or statistics extensions)")


def unknown_route(prefix: str, routes: list[Route], served: str) -> Route:
    """Any other ``PREFIX/...`` request: a protocol ``{"error": ...}`` 404 (or 405), not a plain-text one.

    Clients parse every V2/V1 answer as JSON (the Triton client's ``get_model_config`` and
    ``get_inference_statistics`` fail with a parse error on Starlette's text ``Not Found``).
    ``served`` lists the protocol's routes for the 404 message.
    """

    async def unknown(request: Request) -> Response:
        allowed = sorted({m for r in routes if r.matches(request.scope)[0] is Match.PARTIAL for m in r.methods or ()})
        if allowed:
            methods = ", ".join(allowed)
            return _error(405, f"{request.method} is not allowed on {request.url.path}; use {methods}.", {"Allow": methods})
        return _error(404, f"{request.url.path} is not a route of this server; the protocol's routes are {served}.")

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Route(prefix + "/{rest:path}", unknown, methods=methods)
