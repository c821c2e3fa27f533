"""Several models in one server: ``packflow serve a=TARGET b=TARGET ...``.

Each model is a full single-model :class:`ServeApp` — its own backend, Runner, batcher,
readiness and metric labels (one shared Prometheus registry) — mounted under
``/models/{name}/invoke`` and the protocol routes ``/v2/models/{name}/…``, ``/v1/models/{name}``.
Server-level routes (``/health/ready``, ``/v2/health/ready``, gRPC ``ServerReady``) are green only
when every model is ready; ``/invoke`` without a name answers 404 listing the models.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from packflow.exceptions import ConfigurationError
from packflow.loaders.target import Target, resolve_target
from packflow.runtime.serve.config import ServeConfig
from packflow.runtime.serve.history import StatsHistory
from packflow.runtime.serve.openapi import build_openapi
from packflow.runtime.serve.protocols import protocol_routes
from packflow.runtime.serve.readiness import worker_readiness
from packflow.runtime.serve.served import ServedModel
from packflow.runtime.serve.status import StatusPage, stats_response, status_document
from packflow.runtime.serve.v2 import InferEndpoint

__all__ = ["AllStates", "MultiModelApp", "parse_model_spec", "resolve_models"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_JSON = "application/json"


def parse_model_spec(spec: str) -> tuple[str | None, str]:
    """``name=TARGET`` → (name, TARGET); a plain TARGET (or an existing path with ``=``) → (None, spec)."""
    name, sep, target = spec.partition("=")
    if not sep or Path(spec).exists() or not _NAME.match(name):
        return None, spec
    if not target:
        raise ConfigurationError(f"{spec!r} names a model but no target; write NAME=TARGET, e.g. iris=./iris-project.")
    return name, target


def resolve_models(specs: list[str]) -> list[Target]:
    """One resolved target per spec, named as given (else by the target); names must be unique."""
    targets = []
    for spec in specs:
        name, location = parse_model_spec(spec)
        target = resolve_target(location)
        targets.append(dataclasses.replace(target, name=name) if name else target)
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigurationError(
            f"Several targets are named {', '.join(map(repr, duplicates))}; give each a unique name with NAME=TARGET."
        )
    return targets


class MultiModelApp:
    """The ASGI app of a several-model server: one sub-app per model, server routes over all."""

    def __init__(self, config: ServeConfig, targets: list[Target], on_fatal: Callable[[BaseException], None] | None) -> None:
        import prometheus_client as pc

        from packflow.runtime.serve.app import ServeApp
        from packflow.runtime.serve.metrics import ServeMetrics
        from packflow.runtime.serve.state import BackendState

        self.config = config
        registry = pc.CollectorRegistry()
        sub_config = dataclasses.replace(config, grpc_port=None)  # one gRPC server, for all models
        self.apps = {}
        peers = worker_readiness(config.workers, config.ready_timeout_s)  # one report per worker, for all models
        for target in targets:
            metrics = ServeMetrics(target.name, target.version, registry)
            self.apps[target.name] = ServeApp(BackendState(sub_config, target, metrics, peers=peers), metrics, on_fatal)
        self.models: dict[str, ServedModel] = {name: app.models[name] for name, app in self.apps.items()}
        self.state = AllStates(config, [app.state for app in self.apps.values()])
        self.infer = InferEndpoint(self.models, config.max_body_bytes)
        self.history = StatsHistory({name: _snapshot_of(app.state) for name, app in self.apps.items()})
        self.starlette = Starlette(routes=self._routes(), lifespan=lambda _app: self.history.running(self.lifespan()))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and (params := self.infer.path_params(scope["path"])) is not None:
            await self.infer.dispatch(scope, receive, send, params)
            return
        await self.starlette(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Load every model (concurrently, each on its own thread); drain them all at exit."""
        contexts = [app.lifespan() for app in self.apps.values()]
        for context in contexts:
            await context.__aenter__()
        grpc_server = None
        if self.config.grpc_port is not None:
            from packflow.runtime.serve.grpc.server import start_grpc_server

            grpc_server = await start_grpc_server(self.models, self.config)
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(self.config.graceful_timeout_s)
            await asyncio.gather(*(context.__aexit__(None, None, None) for context in contexts))

    async def readiness(self) -> tuple[bool, str]:
        """Ready when every model is; the reason names the models that are not."""
        waiting = []
        for name, app in self.apps.items():
            ok, reason = await app.state.check_readiness()
            if not ok:
                waiting.append(f"{name}: {reason}")
        return (not waiting, "; ".join(waiting) or "ready")

    def _routes(self) -> list[Route]:
        apps = self.apps
        names = ", ".join(sorted(apps))
        first = next(iter(apps.values()))

        async def live(_: Request) -> Response:
            return _json({"status": "live"})

        async def ready(_: Request) -> Response:
            ok, reason = await self.readiness()
            return _json({"status": "ready" if ok else "not ready", "reason": reason}, 200 if ok else 503)

        async def metrics(_: Request) -> Response:
            for app in apps.values():
                if app.state.runner is not None:
                    app.metrics.queue_depth.set(app.state.runner.aio.queue_depth)
            body, content_type = first.metrics.render()
            return Response(body, media_type=content_type)

        async def stats(_: Request) -> Response:
            return stats_response({n: a.state.runner.snapshot().to_dict() if a.state.runner else None for n, a in apps.items()})

        async def describe() -> dict[str, Any]:
            verdicts = {n: await a.state.check_readiness() for n, a in apps.items()}
            models = {n: {"version": apps[n].state.version, "ready": ok, "reason": why} for n, (ok, why) in verdicts.items()}
            return status_document(models, first.state.uptime_s())

        async def invoke(_: Request) -> Response:
            message = f"This server serves several models ({names}); POST /models/{{name}}/invoke instead."
            return _json({"error": {"type": "UnknownModel", "message": message}}, 404)

        async def openapi(_: Request) -> Response:
            document = build_openapi("packflow", first.state.version, models={n: a.state.version for n, a in apps.items()})
            return Response(orjson.dumps(document), media_type=_JSON)

        return [
            *protocol_routes(self.models, self.config.max_body_bytes),
            *StatusPage(describe).routes(),
            Route("/health/live", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
            Route("/invoke", invoke, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/stats", stats, methods=["GET"]),
            Route("/stats/history", self.history.endpoint, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
        ]


class AllStates:
    """The lifecycle calls the server makes on a single model's state, applied to every model's."""

    def __init__(self, config: ServeConfig, states: list[Any]) -> None:
        self.config = config
        self.states = states

    def begin_drain(self) -> float:
        """Every model starts draining; the seconds left (the same deadline for all)."""
        return min(state.begin_drain() for state in self.states)

    def cut_off_waiting(self) -> int:
        """Every model answers its waiting requests 503; how many were cut off in all."""
        return sum(state.cut_off_waiting() for state in self.states)

    @property
    def cut_off(self) -> int:
        """Requests cut off by the graceful timeout, over all models."""
        return sum(state.cut_off for state in self.states)


def _snapshot_of(state: Any) -> Callable[[], dict[str, Any] | None]:
    """A function answering the snapshot of ``state``'s runner as a dict (None while it loads)."""
    return lambda: state.runner.snapshot().to_dict() if state.runner is not None else None


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=_JSON)
