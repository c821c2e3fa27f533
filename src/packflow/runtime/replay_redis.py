"""Read ``packflow stream``'s dead-letter stream from Redis for :mod:`packflow.runtime.replay`.

The connection is made exactly as ``packflow stream`` makes it (:func:`packflow.runtime.stream.redis.connect`):
``rediss://`` with the same ``--redis-ca-certs/--redis-certfile/--redis-keyfile``, ACL users in the
URL, and no message that shows the URL's password.
"""

from __future__ import annotations

from typing import Any, Iterator

from packflow.runtime.replay import ReplayItem, parse_dead_letter

__all__ = ["connect_for_replay", "iter_stream_dead_letters"]

#: Entries read per XRANGE call.
CHUNK = 1000


def connect_for_replay(url: str, ca_certs: str | None = None, certfile: str | None = None,
                       keyfile: str | None = None) -> Any:
    """A checked client for ``url`` with the TLS files of ``packflow stream``'s ``--redis-*`` options.

    A bad URL, an unreachable server, a refused TLS handshake or ACL login raise
    :class:`~packflow.runtime.stream.redis.StreamConnectionError` (password redacted).
    """
    try:
        from packflow.runtime.stream.redis import connect
    except ImportError as exc:  # pragma: no cover - the redis extra is installed in the test venv
        raise ImportError("replaying a Redis stream needs redis-py: pip install 'packflow[redis]'") from exc
    from packflow.runtime.stream.redis_security import tls_options

    return connect(url, **tls_options(url, ca_certs, certfile, keyfile))


def iter_stream_dead_letters(client: Any, stream: str, url: str = "") -> Iterator[ReplayItem]:
    """Every entry of ``stream`` on the Redis ``client``, oldest first, as replay items.

    A Redis error while reading (e.g. the ACL user may not read ``stream``) becomes a
    :class:`~packflow.runtime.replay.ReplayInputError` whose message never shows ``url``'s password.
    """
    import redis

    from packflow.runtime.replay import ReplayInputError
    from packflow.runtime.stream.redis_security import redact_text

    start = "-"
    origin = f"redis stream {stream!r}"
    while True:
        try:
            entries: Any = client.xrange(stream, min=start, count=CHUNK)
        except redis.RedisError as exc:
            raise ReplayInputError(f"Cannot read {origin}: {redact_text(str(exc), url)}; check --from-stream "
                                   "and that the Redis (ACL) user may read it.") from None
        for entry_id, fields in entries:
            yield parse_dead_letter(_fields(fields), origin, entry_id.decode())
        if len(entries) < CHUNK:
            return
        start = "(" + entries[-1][0].decode()


def _fields(fields: dict[bytes, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {k.decode(): v for k, v in fields.items()}
    for key in ("id", "step", "error_type", "reason", "timestamp"):
        if isinstance(out.get(key), bytes):
            out[key] = out[key].decode("utf-8", "replace")
    return out
