"""API-key authentication for ``packflow serve``: an ASGI middleware in front of the app.

Keys come from ``--api-keys-file`` (one a line: the key itself, or ``sha256:<hex>`` of it, so the
file need not hold secrets; ``#`` comments and blank lines are ignored) and from the comma-separated
``PACKFLOW_API_KEYS`` environment variable. A client sends ``Authorization: Bearer <key>`` or
``X-API-Key: <key>``. Every key is kept as its SHA-256 digest and a presented key is compared, as a
digest, against all of them with :func:`hmac.compare_digest`, so neither the comparison time nor
its number of steps depends on how much of a key matched. The file is read again on SIGHUP
(open connections stay open); a reload that fails keeps the previous keys and logs why.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import weakref
from typing import Any, Awaitable, Callable, Iterable

from packflow.exceptions import ConfigurationError
from packflow.logger import get_logger

__all__ = ["API_KEYS_ENV", "ApiKeys", "AuthMiddleware", "failure_counter", "parse_keys", "refusal_message", "reload_all"]

#: Environment variable holding comma-separated API keys (plain or ``sha256:<hex>``).
API_KEYS_ENV = "PACKFLOW_API_KEYS"
PROBE_PREFIXES = ("/health/", "/v2/health/")
METRICS_PATHS = ("/metrics",)
_HASH_PREFIX = "sha256:"

logger = get_logger("serve.auth")
ASGIApp = Callable[[dict, Any, Any], Awaitable[None]]
#: Every key set of this process (the HTTP middleware's and the gRPC interceptor's): SIGHUP reloads each.
_LIVE: weakref.WeakSet[ApiKeys] = weakref.WeakSet()
_COUNTERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def _parse_one(entry: str, where: str) -> bytes:
    if not entry.startswith(_HASH_PREFIX):
        return _digest(entry)
    text = entry[len(_HASH_PREFIX):].strip().lower()
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise ConfigurationError(
            f"{where}: a hashed key must be 'sha256:' followed by 64 hex digits "
            "(e.g. the output of: printf %s KEY | sha256sum)."
        )
    return value


def parse_keys(lines: Iterable[str], where: str) -> list[bytes]:
    """SHA-256 digests of the keys in ``lines`` (blank lines and ``#`` comments skipped)."""
    digests = []
    for number, raw in enumerate(lines, 1):
        entry = raw.strip()
        if entry and not entry.startswith("#"):
            digests.append(_parse_one(entry, f"{where} line {number}"))
    return digests


class ApiKeys:
    """The set of accepted keys: from a file (reloadable) and the environment."""

    def __init__(self, path: str | None = None, env_value: str | None = None) -> None:
        self.path = path
        self._env = parse_keys((env_value or "").split(","), API_KEYS_ENV) if env_value else []
        self._lock = threading.Lock()
        self._digests = self._env + self._read_file()
        if not self._digests:
            raise ConfigurationError(
                f"API-key authentication was asked for but no key was found in {self._sources()}; "
                "add at least one key (plain, or sha256:<hex>)."
            )
        _LIVE.add(self)

    @classmethod
    def from_options(cls, path: str | None) -> ApiKeys | None:
        """The keys of ``--api-keys-file`` and ``$PACKFLOW_API_KEYS``; None when neither is set."""
        env_value = os.environ.get(API_KEYS_ENV, "").strip()
        if not path and not env_value:
            return None
        return cls(path, env_value)

    def _sources(self) -> str:
        names = [f"--api-keys-file {self.path!r}"] if self.path else []
        return " and ".join([*names, API_KEYS_ENV]) if self._env or not names else names[0]

    def _read_file(self) -> list[bytes]:
        if not self.path:
            return []
        try:
            with open(self.path, encoding="utf-8") as handle:
                return parse_keys(handle, f"--api-keys-file {self.path!r}")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"Cannot read --api-keys-file {self.path!r}: {exc}.") from exc

    def reload(self) -> bool:
        """Read the file again; on failure keep the current keys. True if the keys were replaced."""
        try:
            digests = self._env + self._read_file()
        except ConfigurationError as exc:
            logger.error("API keys not reloaded, the previous keys stay in force: %s", exc)
            return False
        if not digests:
            logger.error("API keys not reloaded: %s holds no key; the previous keys stay in force.", self.path)
            return False
        with self._lock:
            self._digests = digests
        logger.info("API keys reloaded: %d key(s)", len(digests))
        return True

    def __len__(self) -> int:
        return len(self._digests)

    def accepts(self, key: str) -> bool:
        """Whether ``key`` is one of the keys; compares digests in constant time against all of them."""
        presented = _digest(key)
        found = False
        for digest in self._digests:
            found |= hmac.compare_digest(presented, digest)
        return found


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key of ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``, if any."""
    for name, value in headers:
        lower = name.lower()
        if lower == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif lower == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return None


class AuthMiddleware:
    """Answer 401 to HTTP requests without an accepted key; probes and /metrics optionally open."""

    def __init__(self, app: ASGIApp, keys: ApiKeys, *, probes_open: bool = True, metrics_open: bool = False,
                 registry: Any = None) -> None:
        self.app = app
        self.keys = keys
        self.open_prefixes = (PROBE_PREFIXES if probes_open else ()) + (METRICS_PATHS if metrics_open else ())
        self.failures = failure_counter(registry)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = presented_key(scope.get("headers", ()))
        if key is not None and self.keys.accepts(key):
            await self.app(scope, receive, send)
            return
        reason = "missing" if key is None else "invalid"
        self.failures.labels("http", reason).inc()
        await _unauthorized(send, reason)

    def _is_open(self, path: str) -> bool:
        return any(path == p or path.startswith(p) for p in self.open_prefixes)


def reload_all() -> None:
    """Reload every key set of this process from its file (the SIGHUP handler)."""
    for keys in list(_LIVE):
        if keys.path:
            keys.reload()


def failure_counter(registry: Any) -> Any:
    """``packflow_serve_auth_failures_total{protocol, reason}`` in ``registry`` (one family per registry)."""
    import prometheus_client as pc

    if registry is None:
        registry = pc.CollectorRegistry()
    counter = _COUNTERS.get(registry)
    if counter is None:
        from packflow.runtime.metrics_export import client_metric
        from packflow.runtime.metrics_vocab import SERVE_AUTH_FAILURES

        counter = _COUNTERS[registry] = client_metric(SERVE_AUTH_FAILURES, registry)
    return counter


def refusal_message(reason: str, *, grpc: bool = False) -> str:
    """What a refused client is told: how to send a key (``missing``) or that it is wrong (``invalid``)."""
    if reason != "missing":
        return "The API key is not valid; check it with the server's operator."
    if grpc:
        return "No API key: send the metadata 'authorization: Bearer <key>' (or 'x-api-key: <key>')."
    return "No API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."


async def _unauthorized(send: Any, reason: str) -> None:
    import orjson

    body = orjson.dumps({"error": {"type": "Unauthorized", "message": refusal_message(reason)}})
    challenge = b'Bearer realm="packflow"' + (b'' if reason == "missing" else b', error="invalid_token"')
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"www-authenticate", challenge)]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
