"""``ServedModel``: one backend behind the server, as the protocol adapters see it.

Each protocol adapter (``/invoke``, Open Inference Protocol REST and gRPC, KServe V1) finds a
model by name, reads its name, version, readiness and schema here, and submits records through
its :attr:`ServedModel.path` (:class:`~packflow.runtime.serve.request_path.RequestPath`): the one
request path, with one Runner and one batcher per model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from packflow.runtime.serve.request_path import RequestPath
from packflow.runtime.serve.schema import ModelSchema

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.serve.invoke import InvokeEndpoint
    from packflow.runtime.serve.metrics import ServeMetrics
    from packflow.runtime.serve.state import BackendState

__all__ = ["ServedModel"]


class ServedModel:
    """One backend behind the server: its name, version, readiness, schema and request path."""

    def __init__(self, state: BackendState, metrics: ServeMetrics, path: RequestPath, invoke: InvokeEndpoint) -> None:
        self.state = state
        self.metrics = metrics
        #: Where every protocol submits this model's records.
        self.path = path
        #: The model's native ``/invoke`` endpoint (also mounted at ``/models/{name}/invoke``).
        self.invoke = invoke

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def version(self) -> str:
        return self.state.version

    async def ready(self) -> bool:
        """Whether the model is ready now (asks ``backend.ready()`` off the event loop, bounded)."""
        return (await self.state.check_readiness())[0]

    def schema(self) -> ModelSchema | None:
        """The backend's schema once it is loaded (None while loading)."""
        return self.path.schema()
