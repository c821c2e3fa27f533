"""Read ``packflow stream``'s dead-letter stream from Redis for :mod:`packflow.runtime.replay`."""

from __future__ import annotations

from typing import Any, Iterator

from packflow.runtime.replay import ReplayItem, parse_dead_letter

__all__ = ["iter_stream_dead_letters"]

#: Entries read per XRANGE call.
CHUNK = 1000


def iter_stream_dead_letters(url: str, stream: str) -> Iterator[ReplayItem]:
    """Every entry of ``stream`` on the Redis server at ``url``, oldest first, as replay items."""
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the redis extra is installed in the test venv
        raise ImportError("replaying a Redis stream needs redis-py: pip install 'packflow[redis]'") from exc
    client = redis.Redis.from_url(url)
    start = "-"
    origin = f"redis stream {stream!r}"
    while True:
        entries: Any = client.xrange(stream, min=start, count=CHUNK)
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
