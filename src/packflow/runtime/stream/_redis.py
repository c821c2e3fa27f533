"""Shared Redis plumbing: the lazily required client, start-up errors, transient errors, ``connect``."""

from __future__ import annotations

from typing import Any

from packflow.exceptions import PackflowError
from packflow.runtime.stream.redis_security import redact_text, redact_url, remember_secrets

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "packflow's Redis Streams driver needs the redis client: pip install 'packflow[redis]'"
    ) from exc

__all__ = ["GroupMissingError", "StreamConnectionError", "TRANSIENT", "connect", "group_error", "text"]


class StreamConnectionError(PackflowError):
    """The broker cannot be reached or used at start-up (bad URL, refused connection, wrong server)."""


class GroupMissingError(redis.ConnectionError):
    """The consumer group vanished (Redis restarted without persistence): recreated on recovery."""


TRANSIENT = (redis.ConnectionError, redis.TimeoutError)


def connect(url: str, socket_timeout: float = 10.0, **tls: Any) -> redis.Redis:
    """A client for ``url`` that raw-parses stream replies (no per-entry dicts) and never retries on its own.

    ``tls``: redis-py's ``ssl_*`` options (see :mod:`packflow.runtime.stream.redis_security`). No
    message names the URL's password.
    """
    shown = redact_url(url)
    remember_secrets(url)
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=5.0, retry=Retry(NoBackoff(), 0), protocol=2,
            **tls,
        )
    except ValueError as exc:
        raise StreamConnectionError(
            f"Invalid --redis-url {shown!r}: {redact_text(str(exc), url)}; use redis://HOST:PORT/DB."
        ) from None
    for command in ("XREADGROUP", "XAUTOCLAIM"):
        client.set_response_callback(command, lambda response, **options: response)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StreamConnectionError(
            f"Cannot reach Redis at {shown!r} ({type(exc).__name__}: {redact_text(str(exc), url)}); "
            "start redis-server or fix --redis-url."
        ) from None
    return client


def text(value: Any) -> str:
    """``value`` as text (Redis replies are bytes)."""
    return value.decode() if type(value) is bytes else str(value)


def group_error(exc: redis.ResponseError) -> Exception:
    """NOGROUP becomes a transient :class:`GroupMissingError` (recovery recreates the group); others stay."""
    if "NOGROUP" in str(exc):
        return GroupMissingError(f"consumer group missing ({exc}); recreating it")
    return exc
