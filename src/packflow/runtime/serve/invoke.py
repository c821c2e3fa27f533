"""``POST /invoke``: a raw ASGI endpoint on the hot path (no per-request framework objects)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable

from packflow.logger import get_logger
from packflow.runtime.aio import RunnerClosedError, RunnerOverloadedError
from packflow.runtime.serve.bodies import (
    ClientDisconnected,
    HTTPProblem,
    encode_results,
    new_error_id,
    parse_records,
    read_body,
)
from packflow.runtime.serve.metrics import ServeMetrics
from packflow.runtime.serve.state import BackendState

__all__ = ["InvokeEndpoint"]

logger = get_logger("serve")
Send = Callable[[dict], Awaitable[None]]
_clock = time.perf_counter
_OUTCOME_BY_STATUS = {400: "bad_request", 422: "bad_request", 413: "too_large", 504: "timeout", 503: "unavailable"}
_JSON = b"application/json"


class InvokeEndpoint:
    """Records in, records out, in order; per-record errors for failed records."""

    def __init__(self, state: BackendState, metrics: ServeMetrics) -> None:
        self.state = state
        self.metrics = metrics
        self.limit = state.config.max_body_bytes
        self.timeout = state.config.request_timeout_s
        self.max_queue = state.config.max_queue

    async def __call__(self, scope: dict, receive: Any, send: Send) -> None:
        if scope["method"] != "POST":
            problem = HTTPProblem(405, "MethodNotAllowed", "Use POST /invoke with a JSON body.")
            await _respond(send, 405, problem.body(), [(b"allow", b"POST")])
            return
        start = _clock()
        try:
            status, payload, outcome = await self._handle(scope, receive)
        except ClientDisconnected:
            return
        except HTTPProblem as problem:
            status, payload = problem.status, problem.body()
            outcome = _OUTCOME_BY_STATUS.get(status, "error")
        await _respond(send, status, payload)
        self.metrics.observe_request(outcome, _clock() - start)

    async def _handle(self, scope: dict, receive: Any) -> tuple[int, bytes, str]:
        body = await read_body(receive, scope["headers"], self.limit)
        records, single = parse_records(body)
        if not records:
            return 200, b"[]", "ok"
        results = await self._submit(records)
        status, payload, failed, unencodable = encode_results(results, single)
        if unencodable:
            self._count_unencodable(unencodable)
        if not failed:
            return status, payload, "ok"
        return status, payload, "error" if single else "partial"

    def _count_unencodable(self, count: int) -> None:
        """Outputs that could not be encoded: dead letters of step ``encode`` (Runner and metrics alike)."""
        runner = self.state.runner
        if runner is not None:
            runner.record_dead_letter("encode", count)

    async def _submit(self, records: list) -> list:
        runner = self.state.runner
        if runner is None:
            raise HTTPProblem(503, "NotReady", f"The server is not ready: {self.state.reason}. Retry later.")
        if len(records) > self.max_queue:
            raise HTTPProblem(
                413, "TooManyRecords",
                f"The request holds {len(records)} records, over the server's queue limit of {self.max_queue} "
                "records (--max-queue); send fewer records per request.",
            )
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


async def _respond(send: Send, status: int, payload: bytes, extra: list | None = None) -> None:
    headers = [(b"content-type", _JSON), (b"content-length", str(len(payload)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
