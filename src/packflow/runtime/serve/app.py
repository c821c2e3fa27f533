"""The ASGI application: Starlette routes for probes, metrics and pages, a raw endpoint for /invoke."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any, AsyncIterator, Callable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from packflow.loaders.target import Target, resolve_target
from packflow.logger import get_logger
from packflow.runtime.runner import Runner
from packflow.runtime.serve.config import ServeConfig
from packflow.runtime.serve.history import StatsHistory
from packflow.runtime.serve.metrics import ServeMetrics
from packflow.runtime.serve.openapi import OpenAPIDocument
from packflow.runtime.serve.protocols import protocol_routes
from packflow.runtime.serve.invoke import InvokeEndpoint
from packflow.runtime.serve.request_path import RequestPath
from packflow.runtime.serve.served import ServedModel
from packflow.runtime.serve.state import BackendState
from packflow.runtime.serve.v2 import InferEndpoint
from packflow.runtime.serve.status import StatusPage, stats_response, status_document

__all__ = ["ServeApp", "create_app"]

logger = get_logger("serve")
_JSON = "application/json"


class ServeApp:
    """The server's ASGI app: ``POST /invoke`` goes straight to its endpoint, the rest to Starlette."""

    def __init__(self, state: BackendState, metrics: ServeMetrics, on_fatal: Callable[[BaseException], None] | None) -> None:
        self.state = state
        self.metrics = metrics
        self.on_fatal = on_fatal
        self.path = RequestPath(state)
        self.invoke = InvokeEndpoint(self.path, metrics)
        self.models = {state.name: ServedModel(state, metrics, self.path, self.invoke)}
        self.infer = InferEndpoint(self.models, state.config.max_body_bytes)
        self.history = StatsHistory({state.name: lambda: state.runner.snapshot().to_dict() if state.runner else None})
        self.starlette = Starlette(routes=_routes(self), lifespan=lambda _app: self.history.running(self.lifespan()))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/invoke":
            await self.invoke(scope, receive, send)
            return
        if scope["type"] == "http" and (params := self.infer.path_params(scope["path"])) is not None:
            await self.infer.dispatch(scope, receive, send, params)  # V2 infer: the other hot path
            return
        await self.starlette(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Start loading the backend; on exit, finish queued batches (bounded by graceful_timeout_s)."""
        loop = asyncio.get_running_loop()

        def failed(exc: BaseException) -> None:
            if self.on_fatal is not None:
                loop.call_soon_threadsafe(self.on_fatal, exc)

        self.state.start_loading(self._configure_runner, failed)
        grpc_server = await self._start_grpc()
        reports = asyncio.ensure_future(self.state.keep_published())  # with several workers only
        try:
            yield
        finally:
            reports.cancel()
            if grpc_server is not None:
                await grpc_server.stop(self.state.config.graceful_timeout_s)
            await self._drain()

    async def _start_grpc(self) -> Any:
        port = self.state.config.grpc_port
        if port is None:
            return None
        from packflow.runtime.serve.grpc.server import start_grpc_server

        return await start_grpc_server(self.models, self.state.config)

    def _configure_runner(self, runner: Runner) -> None:
        config, metrics, backend = self.state.config, self.metrics, runner.backend
        metrics.watch(backend)
        depth = metrics.queue_depth
        batcher = runner.start_async(
            fill_wait_ms=config.max_wait_ms, max_queue=config.max_queue,
            on_batch=lambda _records, _results: depth.set(batcher.queue_depth),
        )
        self.metrics.ready.set(1)
        from packflow.runtime.tracing import name_runner

        name_runner(runner, self.state.name, self.state.version)
        gc.collect()
        gc.freeze()  # start-up objects leave the collector's view: shorter, rarer GC pauses

    async def _drain(self) -> None:
        self.metrics.ready.set(0)
        runner = self.state.runner
        remaining = self.state.begin_drain()
        if runner is not None and not await runner.drain(remaining):
            self.state.cut_off_waiting()
        self.state.close()
        self.metrics.close()


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=_JSON)


def _routes(app: ServeApp) -> list[Route]:
    state, metrics = app.state, app.metrics
    openapi = OpenAPIDocument(state.name, state.version, app.path.schemas)

    async def live(_: Request) -> Response:
        return _json({"status": "live"})

    async def ready(_: Request) -> Response:
        ok, reason = await state.check_readiness()
        return _json({"status": "ready" if ok else "not ready", "reason": reason}, 200 if ok else 503)

    async def metrics_text(_: Request) -> Response:
        runner = state.runner
        if runner is not None:
            metrics.queue_depth.set(runner.aio.queue_depth)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    async def stats(_: Request) -> Response:
        runner = state.runner
        return stats_response(runner.snapshot().to_dict() if runner is not None else None)

    async def describe() -> dict[str, Any]:
        ok, reason = await state.check_readiness()
        return status_document({state.name: {"version": state.version, "ready": ok, "reason": reason}}, state.uptime_s())

    async def openapi_json(_: Request) -> Response:
        return Response(openapi.render(), media_type=_JSON)

    return [
        *protocol_routes(app.models, state.config.max_body_bytes),
        *StatusPage(describe).routes(),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/stats/history", app.history.endpoint, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]


def create_app(
    config: ServeConfig,
    *,
    target: Target | None = None,
    on_fatal: Callable[[BaseException], None] | None = None,
) -> ServeApp:
    """The ASGI app serving ``config.target``; the backend loads when the app's lifespan starts.

    ``on_fatal`` is called (on the event loop) if the backend cannot be loaded; the server
    launcher uses it to exit non-zero.
    """
    if config.models:  # packflow serve NAME=TARGET [...]
        from packflow.runtime.serve.models import MultiModelApp, resolve_models

        targets = resolve_models(config.models)
        if len(targets) > 1:
            return MultiModelApp(config, targets, on_fatal)  # type: ignore[return-value]
        target = target or targets[0]
    target = target or resolve_target(config.target)
    metrics = ServeMetrics(target.name, target.version)
    return ServeApp(BackendState(config, target, metrics), metrics, on_fatal)
