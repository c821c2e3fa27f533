"""``ServedModel``: what every protocol adapter talks to — one backend's request path and schema.

Each adapter (``/invoke``, Open Inference Protocol REST and gRPC, KServe V1) translates its
request to records, calls :meth:`ServedModel.infer`, and translates the results back. ``infer``
checks records against the backend's input schema (a record that violates it fails alone, at
step ``input``), submits the others through the same path as ``/invoke`` (one Runner, one
batcher), and returns one result per record, in order: an output dict or a ``DeadLetter``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.serve.blame import client_caused
from packflow.runtime.serve.bodies import HTTPProblem, new_error_id
from packflow.runtime.serve.invoke import InvokeEndpoint
from packflow.runtime.serve.schema import ModelSchema, schema_of

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.serve.metrics import ServeMetrics
    from packflow.runtime.serve.state import BackendState

__all__ = ["CheckedInvokeEndpoint", "ServedModel", "failure_status"]

class CheckedInvokeEndpoint(InvokeEndpoint):
    """``/invoke`` whose submissions are first checked against the backend's input schema.

    Every protocol adapter submits through :meth:`_submit`, so the check applies to all of them.
    """

    def __init__(self, state: BackendState, metrics: ServeMetrics) -> None:
        super().__init__(state, metrics)
        self._schema: ModelSchema | None = None

    def schema(self) -> ModelSchema | None:
        """The backend's schema once it is loaded (None while loading)."""
        if self._schema is None and self.state.runner is not None:
            self._schema = schema_of(self.state.runner.backend)
        return self._schema

    def schemas(self) -> dict[str, Any] | None:
        """OpenAPI components ``Input``/``Output`` once the backend is loaded (None before)."""
        schema = self.schema()
        return schema.json_schemas() if schema is not None else None

    async def _submit(self, records: list) -> list:
        schema = self.schema()
        if schema is None or not schema.checks_inputs:
            return await super()._submit(records)
        problems = [schema.problem(record) for record in records]
        if not any(problems):
            return await super()._submit(records)
        good = [record for record, problem in zip(records, problems) if problem is None]
        outputs = iter(await super()._submit(good) if good else [])
        return [
            next(outputs) if problem is None else DeadLetter(record, "input", "SchemaValidationError", problem)
            for record, problem in zip(records, problems)
        ]


class ServedModel:
    """One backend behind the server: its name, version, readiness, schema and request path."""

    def __init__(self, state: BackendState, metrics: ServeMetrics, invoke: CheckedInvokeEndpoint) -> None:
        self.state = state
        self.metrics = metrics
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
        return self.invoke.schema()

    async def infer(self, records: list[dict]) -> list[Any]:
        """One result per record, in order: an output dict or a ``DeadLetter``."""
        return await self.invoke._submit(records)


def failure_status(results: list[Any]) -> HTTPProblem | None:
    """None when every record succeeded; else the problem of the first failed record.

    422 when every failure is the client's (bad input), else 500 with an id logged with the cause.
    """
    failed = [(i, r) for i, r in enumerate(results) if type(r) is DeadLetter]
    if not failed:
        return None
    index, dead = next(((i, d) for i, d in failed if not client_caused(d)), failed[0])
    where = f"record {index}" if len(results) > 1 else "the record"
    others = f" ({len(failed) - 1} more records failed)" if len(failed) > 1 else ""
    if client_caused(dead):
        return HTTPProblem(422, dead.error_type, f"{where} is invalid at step {dead.step}: {dead.message}{others}")
    error_id = new_error_id()
    from packflow.runtime.serve.bodies import logger

    logger.error("error id=%s step=%s type=%s record_index=%s: %s", error_id, dead.step, dead.error_type, index, dead.message,
                 extra={"error_id": error_id})
    return HTTPProblem(500, dead.error_type, f"{where} failed in the model at step {dead.step}: {dead.message}{others}", error_id)
