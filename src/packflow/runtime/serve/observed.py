"""Request ids and request spans around the inference routes (installed only when observation is on).

Wraps the server's ASGI app when ``--tracing`` is on or logs are JSON (:mod:`packflow.runtime.tracing`).
For ``POST /invoke``, ``/models/NAME/invoke``, ``/v2/models/NAME[/versions/V]/infer`` and
``/v1/models/NAME:predict`` it takes the request id from ``X-Request-ID`` (or makes one), puts it in
the log context, opens the request span (child of the ``traceparent`` header) and answers with
``X-Request-ID``. Every other path passes straight through.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from packflow.runtime import tracing
from packflow.runtime._logobserver import new_id

__all__ = ["ObservedApp", "inference_route", "observe_requests", "request_id_of"]

_REQUEST_ID = b"x-request-id"
_MAX_ID = 128


def inference_route(path: str) -> str | None:
    """The route template of an inference path (span name, ``http.route``), None for other paths."""
    if path == "/invoke":
        return "/invoke"
    if path.startswith("/models/") and path.endswith("/invoke"):
        return "/models/{name}/invoke"
    if path.startswith("/v2/models/") and path.endswith("/infer"):
        return "/v2/models/{name}/versions/{version}/infer" if "/versions/" in path else "/v2/models/{name}/infer"
    if path.startswith("/v1/models/") and path.endswith(":predict"):
        return "/v1/models/{name}:predict"
    return None


def request_id_of(pairs: Any, key: str | bytes = _REQUEST_ID) -> str:
    """The client's request id under ``key`` (HTTP headers: bytes; gRPC metadata: str) when it is
    short printable ASCII, else a new id."""
    for name, value in pairs:
        if name == key:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if isinstance(text, str) and 0 < len(text) <= _MAX_ID and text.isascii() and text.isprintable():
                return text
    return new_id()


class ObservedApp:
    """The ASGI app with a request scope (id, span) around each inference request."""

    def __init__(self, app: Any, observer: tracing.Observer) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: dict, receive: Any, send: Callable[[dict], Awaitable[None]]) -> None:
        route = inference_route(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers") or [])
        with self.observer.request(scope, route, request_id) as answered:

            async def send_with_id(message: dict) -> None:
                if message["type"] == "http.response.start":
                    answered(message["status"])
                    headers = [*message.get("headers", ()), (_REQUEST_ID, request_id.encode())]
                    message = {**message, "headers": headers}
                await send(message)

            await self.app(scope, receive, send_with_id)


def observe_requests(app: Any) -> Any:
    """``app`` wrapped in :class:`ObservedApp` when an observer is installed; ``app`` itself otherwise."""
    observer = tracing.OBSERVER
    return ObservedApp(app, observer) if observer is not None else app
