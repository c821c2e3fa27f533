"""``ServedModel``: what every protocol adapter talks to — one backend's request path and schema.

Each adapter (``/invoke``, Open Inference Protocol REST and gRPC, KServe V1) translates its
request to records, calls :meth:`ServedModel.infer`, and translates the results back. ``infer``
checks records against the backend's input schema (a record that violates it fails alone, at
step ``input``), submits the others through the same path as ``/invoke`` (one Runner, one
batcher), and returns one result per record, in order: an output dict or a ``DeadLetter``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from packflow.exceptions import InputError
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.serve.bodies import HTTPProblem, new_error_id
from packflow.runtime.serve.schema import ModelSchema, schema_of

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.serve.invoke import InvokeEndpoint
    from packflow.runtime.serve.metrics import ServeMetrics
    from packflow.runtime.serve.state import BackendState

__all__ = ["ServedModel", "client_caused", "failure_status"]

#: Dead-letter steps where the input, not the model, was at fault.
CLIENT_STEPS = frozenset({"decode", "input", "preprocess"})


class ServedModel:
    """One backend behind the server: its name, version, readiness, schema and request path."""

    def __init__(self, state: BackendState, metrics: ServeMetrics, invoke: InvokeEndpoint) -> None:
        self.state = state
        self.metrics = metrics
        self.invoke = invoke
        self._schema: ModelSchema | None = None

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def version(self) -> str:
        return self.state.version

    def ready(self) -> bool:
        return self.state.readiness()[0]

    def schema(self) -> ModelSchema | None:
        """The backend's schema once it is loaded (None while loading)."""
        if self._schema is None and self.state.runner is not None:
            self._schema = schema_of(self.state.runner.backend)
        return self._schema

    async def infer(self, records: list[dict]) -> list[Any]:
        """One result per record: schema violations fail alone, the rest go through the Runner."""
        schema = self.schema()
        if schema is None or not schema.checks_inputs:
            return await self.invoke._submit(records)
        problems = [schema.problem(record) for record in records]
        if not any(problems):
            return await self.invoke._submit(records)
        good = [record for record, problem in zip(records, problems) if problem is None]
        outputs = iter(await self.invoke._submit(good) if good else [])
        return [
            next(outputs) if problem is None else DeadLetter(record, "input", "SchemaValidationError", problem)
            for record, problem in zip(records, problems)
        ]


def client_caused(dead: DeadLetter) -> bool:
    """Whether a failed record is the client's fault (bad input) rather than the model's."""
    return dead.step in CLIENT_STEPS or dead.error_type in _input_error_names()


def _input_error_names() -> set[str]:
    names, todo = set(), [InputError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


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

    logger.error("error id=%s step=%s type=%s record_index=%s: %s", error_id, dead.step, dead.error_type, index, dead.message)
    return HTTPProblem(500, dead.error_type, f"{where} failed in the model at step {dead.step}: {dead.message}{others}", error_id)
