"""``POST /invoke``: a raw ASGI endpoint on the hot path (no per-request framework objects).

The native protocol's adapter over :class:`~packflow.runtime.serve.request_path.RequestPath`: a
JSON record or array of records in, per-record results (or error entries) out, in order.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from packflow.runtime.serve.bodies import (
    ClientDisconnected,
    HTTPProblem,
    encode_results,
    parse_records,
    read_body,
)
from packflow.runtime.serve.metrics import ServeMetrics
from packflow.runtime.serve.request_path import RequestPath

__all__ = ["InvokeEndpoint"]

Send = Callable[[dict], Awaitable[None]]
_clock = time.perf_counter
_OUTCOME_BY_STATUS = {400: "bad_request", 422: "bad_request", 413: "too_large", 504: "timeout", 503: "unavailable"}
_JSON = b"application/json"


class InvokeEndpoint:
    """Records in, records out, in order; per-record errors for failed records."""

    def __init__(self, path: RequestPath, metrics: ServeMetrics) -> None:
        self.path = path
        self.state = path.state
        self.metrics = metrics
        self.limit = path.state.config.max_body_bytes

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
        results = await self.path.submit_records(records)
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


async def _respond(send: Send, status: int, payload: bytes, extra: list | None = None) -> None:
    headers = [(b"content-type", _JSON), (b"content-length", str(len(payload)).encode())]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
