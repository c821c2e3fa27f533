"""The one request path of a served model: records in, one result per record out.

``/invoke`` and every protocol adapter (Open Inference Protocol REST and gRPC, KServe V1) translate
their request to records, call :meth:`RequestPath.submit_records`, and translate the results
back; none of them touches the Runner. ``submit_records`` checks each record against the
backend's input schema (a record that violates it fails alone, at step ``input``), submits the
others to the model's one Runner and batcher, and returns one :data:`Result` per record, in order.
A failure of the whole request (not loaded, too many records, overloaded, shutting down, too
slow, the batch itself failed) raises an :class:`HTTPProblem` whose status every adapter maps to
its own protocol (gRPC status codes included).

Protocols that answer a request with one status (V2, V1, gRPC) turn per-record failures into a
request-level problem with :func:`failure_status` (or :func:`all_outputs`): 4xx when the client
caused them, 5xx otherwise.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Union, cast

from packflow.logger import get_logger
from packflow.runtime.aio import RunnerClosedError, RunnerOverloadedError
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.serve.blame import client_caused
from packflow.runtime.serve.bodies import HTTPProblem, new_error_id
from packflow.runtime.serve.schema import ModelSchema, schema_of

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.serve.state import BackendState

__all__ = ["RequestPath", "Result", "all_outputs", "failure_status"]

logger = get_logger("serve")
#: What a record becomes: the backend's output record, or the dead letter saying why it failed.
Result = Union[dict[str, Any], DeadLetter]


class RequestPath:
    """Schema check, then the model's Runner: the path every protocol submits records through."""

    def __init__(self, state: BackendState) -> None:
        self.state = state
        self.timeout = state.config.request_timeout_s
        self.max_queue = state.config.max_queue
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

    async def submit_records(self, records: list[dict[str, Any]]) -> list[Result]:
        """One result per record, in order; raises :class:`HTTPProblem` when the request as a whole fails."""
        if not records:
            return []
        schema = self.schema()
        if schema is None or not schema.checks_inputs:
            return await self._run(records)
        problems = [schema.problem(record) for record in records]
        if not any(problems):
            return await self._run(records)
        good = [record for record, problem in zip(records, problems) if problem is None]
        runner = self.state.runner
        if runner is not None:  # counted like any dead letter: /stats, /metrics and the status page
            runner.record_dead_letter("input", len(records) - len(good))
        outputs = iter(await self._run(good) if good else [])
        return [
            next(outputs) if problem is None else DeadLetter(record, "input", "SchemaValidationError", problem)
            for record, problem in zip(records, problems)
        ]

    def check_count(self, count: int) -> None:
        """A 413 problem when ``count`` records could never be queued (adapters call it before decoding them)."""
        if count > self.max_queue:
            raise HTTPProblem(
                413, "TooManyRecords",
                f"The request holds {count} records, over the server's queue limit of {self.max_queue} "
                "records (--max-queue); send fewer records per request.",
            )

    async def _run(self, records: list) -> list[Result]:
        runner = self.state.runner
        if runner is None:
            raise HTTPProblem(503, "NotReady", f"The server is not ready: {self.state.reason}. Retry later.")
        self.check_count(len(records))
        try:
            return await runner.aio.submit(records, self.timeout)
        except asyncio.TimeoutError:
            raise HTTPProblem(
                504, "Timeout", f"No result within {self.timeout} s (--request-timeout-s); the backend is busy or slow."
            ) from None
        except RunnerClosedError as exc:
            raise HTTPProblem(503, "ShuttingDown", str(exc)) from None
        except RunnerOverloadedError as exc:
            raise HTTPProblem(503, "Overloaded", f"{exc}") from None
        except Exception as exc:  # noqa: BLE001 - answered as 500 with an id, logged with its traceback
            error_id = new_error_id()
            logger.error("error id=%s: the batch failed: %s: %s", error_id, type(exc).__name__, exc, exc_info=exc,
                         extra={"error_id": error_id})
            raise HTTPProblem(
                500, "InternalError", "The backend failed on this request; see the server log for this id.", error_id
            ) from None


def failure_status(results: list[Result]) -> HTTPProblem | None:
    """None when every record succeeded; else the problem of the first failed record.

    422 when every failure is the client's (bad input), else 500 with an id logged with the cause.
    """
    failed = [(i, r) for i, r in enumerate(results) if type(r) is DeadLetter]
    if not failed:
        return None
    index, dead = next(((i, d) for i, d in failed if not client_caused(d)), failed[0])
    where = f"record {index}" if len(results) > 1 else "the record"
    others = f" ({len(failed) - 1} more records failed)" if len(failed) > 1 else ""
    if client_caused(dead):  # the client's to fix: a WARNING, so that ERROR-level alerts mean the model
        logger.warning("invalid input, answered 422: step=%s type=%s record_index=%s: %s", dead.step, dead.error_type,
                       index, dead.message)
        return HTTPProblem(422, dead.error_type, f"{where} is invalid at step {dead.step}: {dead.message}{others}")
    error_id = new_error_id()
    logger.error("error id=%s step=%s type=%s record_index=%s: %s", error_id, dead.step, dead.error_type, index, dead.message,
                 extra={"error_id": error_id})
    return HTTPProblem(500, dead.error_type, f"{where} failed in the model at step {dead.step}: {dead.message}{others}", error_id)


def all_outputs(results: list[Result]) -> list[dict[str, Any]]:
    """The output records when every record succeeded; else raises the problem of :func:`failure_status`."""
    problem = failure_status(results)
    if problem is not None:
        raise problem
    return cast("list[dict[str, Any]]", results)
