"""KServe's V1 protocol: ``GET /v1/models/{name}`` and ``POST /v1/models/{name}:predict``.

``{"instances": [record, ...]}`` → ``{"predictions": [output, ...]}``, through the same request
path as ``/invoke``. V1 has no per-instance error entry, so one failed instance fails the request:
422 when the instance was invalid, 500 when the model failed (``{"error": "..."}``).
"""

from __future__ import annotations

from typing import Any, Mapping

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from packflow.runtime.codec import DecodeError, EncodeError, decode, encode
from packflow.runtime.serve.bodies import HTTPProblem, read_body
from packflow.runtime.serve.request_path import all_outputs
from packflow.runtime.serve.served import ServedModel
from packflow.runtime.serve.v2 import find_model, problem_text, unknown_route

__all__ = ["v1_routes"]

Models = Mapping[str, ServedModel]


def _error(problem: HTTPProblem) -> Response:
    return Response(orjson.dumps({"error": problem_text(problem)}), status_code=problem.status, media_type="application/json")


def instances_of(body: bytes) -> list[dict[str, Any]]:
    """The records of a predict request body, or a 400/422 problem saying what is wrong."""
    try:
        data = decode(body)
    except DecodeError as exc:
        raise HTTPProblem(400, "InvalidJSON", f"The body is not valid JSON ({exc}); send {{\"instances\": [...]}}.") from None
    instances = data.get("instances") if type(data) is dict else None
    if type(instances) is not list:
        raise HTTPProblem(400, "NotInstances", 'The body must be a JSON object with an "instances" array of records.')
    for index, item in enumerate(instances):
        if type(item) is not dict:
            raise HTTPProblem(
                422, "NotRecords", f"instances[{index}] is not a JSON object; each instance must be a record (an object)."
            )
    return instances


def v1_routes(models: Models, limit: int) -> list[Route]:
    """KServe V1 routes over ``models`` (name → model)."""

    async def status(request: Request) -> Response:
        try:
            model = find_model(models, request.path_params["name"], None)
        except HTTPProblem as problem:
            return _error(problem)
        ok = await model.ready()
        return Response(orjson.dumps({"name": model.name, "ready": ok}), 200 if ok else 503, media_type="application/json")

    async def predict(request: Request) -> Response:
        try:
            model = find_model(models, request.path_params["name"], None)
            body = await read_body(request.receive, request.scope["headers"], limit)  # type: ignore[arg-type]
            records = instances_of(body)
            results = all_outputs(await model.path.submit_records(records))
        except HTTPProblem as problem:
            return _error(problem)
        try:
            payload = encode({"predictions": results})
        except EncodeError as exc:
            return _error(HTTPProblem(500, "EncodeError", f"The model's output cannot be encoded as JSON: {exc}."))
        return Response(payload, media_type="application/json")

    routes = [
        Route("/v1/models/{name}:predict", predict, methods=["POST"]),
        Route("/v1/models/{name}", status, methods=["GET"]),
    ]
    return [*routes, unknown_route("/v1", routes, "GET /v1/models/{name} and POST /v1/models/{name}:predict")]
