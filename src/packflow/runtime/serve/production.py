"""What ``packflow serve`` puts around its app in production: API keys, CORS, TLS, SIGHUP reload.

The app itself (``app.py``) knows none of this; :func:`wrap_app` adds the middlewares the
configuration asks for, outermost first: CORS (so a browser's preflight is answered before any
key is asked for), then authentication.
"""

from __future__ import annotations

import signal
from typing import Any

from packflow.exceptions import ConfigurationError
from packflow.runtime.serve.tls import check_tls_options, uvicorn_ssl_options

__all__ = ["check_keys_at_start", "check_production_options", "install_key_reload", "uvicorn_ssl_options", "wrap_app"]

ACCESS_MODES = ("open", "protected")


def check_production_options(config: Any) -> None:
    """``ConfigurationError`` for an auth/TLS/CORS setting that cannot work."""
    for option, value in (("--auth-probes", config.auth_probes), ("--auth-metrics", config.auth_metrics)):
        if value not in ACCESS_MODES:
            raise ConfigurationError(f"{option} {value!r} is invalid; use open or protected.")
    check_tls_options(config)
    for origin in config.cors_origins:
        if origin != "*" and "://" not in origin:
            raise ConfigurationError(f"--cors-origin {origin!r} is not an origin; give e.g. https://app.example.com or *.")


def wrap_app(app: Any, config: Any) -> Any:
    """``app`` behind the authentication and CORS middlewares that ``config`` turns on."""
    from packflow.runtime.serve.auth import ApiKeys, AuthMiddleware

    keys = ApiKeys.from_options(config.api_keys_file)
    wrapped = app
    if keys is not None:
        wrapped = AuthMiddleware(app, keys, probes_open=config.auth_probes == "open",
                                 metrics_open=config.auth_metrics == "open", registry=_metrics_registry(app))
    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        wrapped = CORSMiddleware(
            wrapped, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key", "traceparent"], max_age=600,
        )
    return wrapped


def _metrics_registry(app: Any) -> Any:
    """The registry /metrics renders (a several-model app shares one among its models)."""
    apps = getattr(app, "apps", None)
    first = next(iter(apps.values()), None) if isinstance(apps, dict) else app
    return getattr(getattr(first, "metrics", None), "registry", None)


def install_key_reload(wrapped: Any) -> None:
    """Reload the API keys file on SIGHUP (no-op without authentication); connections stay open."""
    from packflow.runtime.serve.auth import AuthMiddleware, reload_all

    auth = wrapped
    while auth is not None and not isinstance(auth, AuthMiddleware):
        auth = getattr(auth, "app", None)
    if auth is None or not hasattr(signal, "SIGHUP"):
        return
    signal.signal(signal.SIGHUP, lambda _signum, _frame: reload_all())  # HTTP's keys and gRPC's



def check_keys_at_start(config: Any) -> None:
    """Read the API keys once before binding the port, so a bad file exits 2 with its reason."""
    from packflow.runtime.serve.auth import ApiKeys

    ApiKeys.from_options(config.api_keys_file)
