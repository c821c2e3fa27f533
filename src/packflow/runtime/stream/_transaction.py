"""A lean MULTI/EXEC for the per-batch write: commands packed by hiredis, sent in one write.

redis-py's ``Pipeline`` spends several microseconds of Python per queued command (argument
checks, packing, per-reply callbacks); with one XADD per record that is most of the client's
time. This sends ``MULTI, cmd..., EXEC`` as one buffer packed in C and checks the replies
without callbacks. Falls back to ``client.pipeline(transaction=True)`` without hiredis.
"""

from __future__ import annotations

from typing import Any

from packflow.runtime.stream._redis import redis

_pack: Any
try:
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - hiredis ships with packflow[redis]
    _pack = None

__all__ = ["transaction"]

_MULTI = b"*1\r\n$5\r\nMULTI\r\n"
_EXEC = b"*1\r\n$4\r\nEXEC\r\n"


class _Transaction:
    """Queue commands with ``execute_command(*args)``; ``execute()`` runs them all atomically."""

    __slots__ = ("client", "packed")

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.packed: list[bytes] = [_MULTI]

    def execute_command(self, *args: Any) -> None:
        self.packed.append(_pack(args))  # type: ignore[misc]

    def __len__(self) -> int:
        return len(self.packed) - 1

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Send MULTI/commands/EXEC; raise the first error (a failed command aborts nothing already run).

        ``raise_on_error=False``: return every reply, failed commands as ``ResponseError`` values.
        """
        count = len(self.packed) - 1
        self.packed.append(_EXEC)
        pool = self.client.connection_pool
        conn = pool.get_connection()
        queue_errors: list[redis.ResponseError] = []
        try:
            conn.send_packed_command([b"".join(self.packed)])
            queue_errors = _read_queued(conn, count + 1)  # +OK for MULTI, then one +QUEUED per command
            replies = conn.read_response()
        except redis.ResponseError as exc:  # EXECABORT after a command was refused while queueing
            raise (queue_errors[0] if "EXECABORT" in str(exc) and queue_errors else exc) from None
        except BaseException:
            conn.disconnect()  # the connection may hold unread replies: never reuse it
            raise
        finally:
            pool.release(conn)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, redis.ResponseError):
                    raise reply
        return replies


def _read_queued(conn: Any, count: int) -> list[redis.ResponseError]:
    errors = []
    for _ in range(count):
        try:
            conn.read_response()
        except redis.ResponseError as exc:
            errors.append(exc)
    return errors


def transaction(client: redis.Redis) -> Any:
    """A MULTI/EXEC batch: the lean one with hiredis, else a redis-py transactional pipeline.

    Both take ``execute(raise_on_error=...)``.
    """
    if _pack is None:
        return client.pipeline(transaction=True)
    return _Transaction(client)
