"""The routes mounted beside ``/invoke``: Open Inference Protocol REST, KServe V1, ``/models/{name}/invoke``."""

from __future__ import annotations

from typing import Any, Mapping

from starlette.routing import Route

from packflow.runtime.serve.bodies import HTTPProblem
from packflow.runtime.serve.kserve_v1 import v1_routes
from packflow.runtime.serve.served import ServedModel
from packflow.runtime.serve.v2 import v2_routes

__all__ = ["protocol_routes"]


def protocol_routes(models: Mapping[str, ServedModel], limit: int) -> list[Route]:
    """Every protocol route over ``models`` (name → model); ``limit`` is the body size limit in bytes."""
    return [*v2_routes(models, limit), *v1_routes(models, limit), Route("/models/{name}/invoke", NamedInvoke(models))]


class NamedInvoke:
    """``POST /models/{name}/invoke``: the native ``/invoke`` of the model called ``name``."""

    def __init__(self, models: Mapping[str, ServedModel]) -> None:
        self.models = models

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        name = scope.get("path_params", {}).get("name", "")
        model = self.models.get(name)
        if model is not None:
            await model.invoke(scope, receive, send)
            return
        known = ", ".join(sorted(self.models))
        problem = HTTPProblem(404, "UnknownModel", f"No model named {name!r} is served here; served models: {known}.")
        body = problem.body()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})
