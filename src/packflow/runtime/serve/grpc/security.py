"""TLS, mutual TLS and API keys on the gRPC port, from the same options as the HTTP port.

- **TLS**: ``--ssl-certfile/--ssl-keyfile`` become ``grpc.ssl_server_credentials``; with
  ``--ssl-client-cert required`` the client's certificate must verify against ``--ssl-ca-certs``
  (a client without one fails the handshake). gRPC's Python API has no "verify a certificate if one
  is presented" mode, so ``optional`` does not ask gRPC clients for one (logged at start).
- **API keys**: the ``authorization: Bearer <key>`` (or ``x-api-key``) metadata of each call is
  checked against the same keys as HTTP (:class:`~packflow.runtime.serve.auth.ApiKeys`, reloaded on
  SIGHUP); a missing or wrong key aborts the call with ``UNAUTHENTICATED`` and counts in
  ``packflow_serve_auth_failures_total{protocol="grpc"}``. The health RPCs (ServerLive, ServerReady,
  ModelReady) follow ``--auth-probes`` like ``/v2/health/*`` over HTTP.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

import grpc

from packflow.logger import get_logger
from packflow.runtime.serve.auth import ApiKeys, failure_counter, presented_key, refusal_message
from packflow.runtime.serve.grpc.messages import SERVICE

__all__ = ["ApiKeyInterceptor", "bind_port", "server_credentials"]

logger = get_logger("serve")
PROBE_METHODS = frozenset(f"/{SERVICE}/{name}" for name in ("ServerLive", "ServerReady", "ModelReady"))


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def server_credentials(config: Any) -> Any:
    """``grpc.ssl_server_credentials`` for the TLS options of ``config``; None without TLS."""
    if not config.ssl_certfile:
        return None
    if config.ssl_client_cert == "optional":
        logger.warning("--ssl-client-cert optional: gRPC clients are not asked for a certificate (HTTP clients are)")
    required = config.ssl_client_cert == "required"
    return grpc.ssl_server_credentials(
        [(_read(config.ssl_keyfile), _read(config.ssl_certfile))],
        root_certificates=_read(config.ssl_ca_certs) if config.ssl_ca_certs else None,
        require_client_auth=required,
    )


def bind_port(server: Any, address: str, config: Any) -> int:
    """Add the listening port to ``server``: TLS when ``config`` asks for it; the bound port (0: failed)."""
    credentials = server_credentials(config)
    if credentials is None:
        return int(server.add_insecure_port(address))
    return int(server.add_secure_port(address, credentials))


def metadata_headers(metadata: Any) -> list[tuple[bytes, bytes]]:
    """A call's invocation metadata as the (name, value) byte pairs :func:`presented_key` reads."""
    out = []
    for name, value in metadata or ():
        if not name.endswith("-bin") and isinstance(value, str):
            out.append((name.encode("latin-1", "replace"), value.encode("latin-1", "replace")))
    return out


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):
    """Refuse calls without an accepted API key with ``UNAUTHENTICATED``; health RPCs optionally open."""

    def __init__(self, keys: ApiKeys, *, probes_open: bool, registry: Any) -> None:
        self.keys = keys
        self.open_methods = PROBE_METHODS if probes_open else frozenset()
        self.failures = failure_counter(registry)

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        if details.method in self.open_methods:
            return await continuation(details)
        key = presented_key(metadata_headers(details.invocation_metadata))
        if key is not None and self.keys.accepts(key):
            return await continuation(details)
        reason = "missing" if key is None else "invalid"
        self.failures.labels("grpc", reason).inc()
        return _refusal(reason)


def _refusal(reason: str) -> Any:
    """A handler that aborts the call (whatever its request type) with UNAUTHENTICATED."""
    message = refusal_message(reason, grpc=True)

    async def refuse(_request: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    return grpc.unary_unary_rpc_method_handler(refuse, request_deserializer=lambda _data: None)
