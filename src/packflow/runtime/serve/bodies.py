"""Request bodies in, response bodies out: size limit, JSON shape checks, error entries.

Every client error is an :class:`HTTPProblem` whose JSON body says what was wrong and how to
fix it: ``{"error": {"type": ..., "message": ...}}`` (plus ``"id"`` for server-side failures).
"""

from __future__ import annotations

import logging

import os
from typing import Any, Awaitable, Callable

import orjson

from packflow.logger import get_logger
from packflow.runtime.codec import DecodeError, dead_letter
from packflow.runtime.codec import decode as _decode
from packflow.runtime.codec import encode as _dumps
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.serve.blame import client_caused

__all__ = ["ClientDisconnected", "HTTPProblem", "encode_results", "error_entry", "parse_records", "read_body"]

logger = get_logger("serve")
Receive = Callable[[], Awaitable[dict]]


class HTTPProblem(Exception):
    """An HTTP error answer: status, a short type name, and a message for the client."""

    def __init__(self, status: int, error_type: str, message: str, error_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.error_id = error_id

    def body(self) -> bytes:
        error: dict[str, Any] = {"type": self.error_type, "message": self.message}
        if self.error_id:
            error["id"] = self.error_id
        return orjson.dumps({"error": error})


class ClientDisconnected(Exception):
    """The client went away before sending the whole body."""


def new_error_id() -> str:
    """A short random id that ties an error response to its server log line."""
    return os.urandom(8).hex()


def _too_large(limit: int, size: int | str) -> HTTPProblem:
    return HTTPProblem(
        413, "PayloadTooLarge",
        f"The request body is {size} bytes, over the server's limit of {limit} bytes (--max-body-bytes); "
        "send fewer records per request.",
    )


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length header as an int (None when absent or unreadable)."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_body(receive: Receive, headers: list[tuple[bytes, bytes]], limit: int) -> bytes:
    """The request body, read chunk by chunk; ``HTTPProblem(413)`` as soon as it passes ``limit``."""
    length = declared_length(headers)
    if length is not None and length > limit:
        raise _too_large(limit, length)
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        if len(body) > limit:
            raise _too_large(limit, f"more than {limit}")
        return body
    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise _too_large(limit, f"more than {limit}")
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            if size > limit:
                raise _too_large(limit, f"more than {limit}")
            return b"".join(chunks)


def parse_records(body: bytes) -> tuple[list, bool]:
    """(records, single): a JSON object is one record, an array of objects is a batch."""
    if not body:
        raise HTTPProblem(400, "InvalidJSON", "The request body is empty; send a JSON object or an array of objects.")
    try:
        data = _decode(body)
    except DecodeError as exc:
        raise HTTPProblem(
            400, "InvalidJSON", f"The request body is not valid JSON ({exc}); send a JSON object or an array of objects."
        ) from None
    if type(data) is dict:
        return [data], True
    if type(data) is not list:
        raise HTTPProblem(
            422, "NotRecords", f"The request body is a JSON {_json_type(data)}; send a JSON object (one record) "
            "or an array of objects (records).",
        )
    for index, item in enumerate(data):
        if type(item) is not dict:
            raise HTTPProblem(
                422, "NotRecords", f"Element {index} of the request array is a JSON {_json_type(item)}; every element "
                "must be a JSON object (a record).",
            )
    return data, False


def _json_type(value: Any) -> str:
    names = {list: "array", dict: "object", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def error_entry(dead: DeadLetter, request_index: int | None = None) -> dict[str, Any]:
    """The response entry for a dead-lettered record; its id is logged with the cause: at WARNING
    when the client caused it (bad input, a 422: nothing for an operator to fix), else at ERROR."""
    error_id = new_error_id()
    logger.log(
        logging.WARNING if client_caused(dead) else logging.ERROR,
        "error id=%s step=%s type=%s record_index=%s: %s", error_id, dead.step, dead.error_type, request_index, dead.message,
        extra={"error_id": error_id},
    )
    return {"error": {"id": error_id, "step": dead.step, "type": dead.error_type, "message": dead.message}}


def encode_results(results: list, single: bool) -> tuple[int, bytes, int, int]:
    """(status, body, failed records, of which unencodable): for a failed single record 422 (bad input) or 500, else 200."""
    if single:
        result = results[0]
        if type(result) is DeadLetter:
            return 422 if client_caused(result) else 500, orjson.dumps(error_entry(result, 0)), 1, 0
        try:
            return 200, _dumps(result), 0, 0
        except TypeError as exc:
            return 500, orjson.dumps(_encode_failure(result, exc, 0)), 1, 1
    failed = 0
    out = results
    for index, result in enumerate(results):
        if type(result) is DeadLetter:
            if out is results:
                out = list(results)
            out[index] = error_entry(result, index)
            failed += 1
    try:
        return 200, _dumps(out), failed, 0
    except TypeError:
        return _encode_each(out, failed)


def _encode_each(out: list, failed: int) -> tuple[int, bytes, int, int]:
    parts = []
    unencodable = 0
    for index, item in enumerate(out):
        try:
            parts.append(_dumps(item))
        except TypeError as exc:
            parts.append(orjson.dumps(_encode_failure(item, exc, index)))
            unencodable += 1
    return 200, b"[" + b",".join(parts) + b"]", failed + unencodable, unencodable


def _encode_failure(record: Any, exc: Exception, index: int) -> dict[str, Any]:
    dead = dead_letter(None, "encode", exc, message=f"the backend's output cannot be encoded as JSON: {exc}")
    return error_entry(dead, index)
