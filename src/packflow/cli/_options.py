"""Options that several commands share, defined once so they mean the same thing everywhere.

``--config`` (run, serve, stream, replay, config explain): backend settings as inline JSON
(``'{"threshold": 0.5}'``) or the path of a JSON file; either a plain object of settings or
``{"configs": {...}}``, the shape of a ``BACKEND_CONFIG_FILE_PATH`` file. A bad value exits 2 with
one line that says what was wrong.

``--fail-on-dead-letters/--no-fail-on-dead-letters`` (run, replay, stream): whether a job that
finished but dead-lettered records exits 3 or 0. The one exit-code policy (docs/cli.md): 0 done,
every record processed; 1 failed while running; 2 could not start; 3 done, some records
dead-lettered (only with ``--fail-on-dead-letters``, the default of ``run`` and ``replay``;
``stream`` defaults to ``--no-fail-on-dead-letters`` because its dead letters are delivered to a
dead-letter stream, which is the outcome a long-running consumer asked for).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import click

from packflow.cli._common import fail
from packflow.constants import EXIT_CANNOT_START
from packflow.exceptions import ConfigurationError
from packflow.utils._files import MAX_CONFIG_BYTES  # one size limit for every settings file

__all__ = [
    "MAX_CONFIG_BYTES",
    "BackendConfigParam",
    "config_option",
    "dead_letters_exit_option",
    "log_level_option",
    "exit_code_for",
    "parse_backend_config",
    "read_json_file",
]

CONFIG_HELP = ('Backend settings: inline JSON (\'{"threshold": 0.5}\') or a JSON file; a plain object or '
               '{"configs": {...}}. Overrides packflow.yaml.')


def read_json_file(path: str, what: str = "--config") -> Any:
    """The JSON value in the regular file ``path``; ``ConfigurationError`` naming it otherwise.

    The file is read by the same safe reader as ``BACKEND_CONFIG_FILE_PATH`` and ``packflow.yaml``
    (:func:`packflow.utils._files.read_text_file`): FIFOs and devices are refused before a read,
    the size is bounded, the text must be UTF-8; nesting deeper than the parser takes is refused.
    """
    from packflow.utils._files import read_text_file

    return _loads(read_text_file(path, f"{what} file {path!r}", ConfigurationError), f"{what} file {path!r}")


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"{where} is not valid JSON ({exc}).") from exc
    except RecursionError as exc:
        raise ConfigurationError(f"{where} nests JSON too deeply to be a settings object.") from exc


def parse_backend_config(value: str, what: str = "--config") -> dict[str, Any]:
    """Backend keyword arguments from inline JSON or a JSON file (see the module docstring)."""
    if value.lstrip().startswith("{"):
        data = _loads(value, what)
    elif value.lstrip().startswith("["):
        raise ConfigurationError(f"{what} must be a JSON object of backend settings, not an array: "
                                 'e.g. \'{"verbose": true}\'.')
    elif os.path.exists(value):
        data = read_json_file(value, what)
    else:
        raise ConfigurationError(f"{what} {value!r} is neither inline JSON (starting with '{{') nor an existing file.")
    return _settings(data, value, what)


def _settings(data: Any, value: str, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{what} {value!r} holds a JSON {type(data).__name__}; it must be an object of backend settings, "
            'e.g. {"verbose": true}, or {"configs": {...}} as for BACKEND_CONFIG_FILE_PATH.'
        )
    if set(data) == {"configs"}:
        if not isinstance(data["configs"], dict):
            raise ConfigurationError(f'{what} {value!r}: "configs" must be a JSON object of backend settings.')
        return dict(data["configs"])
    return data


class BackendConfigParam(click.ParamType):
    """``--config``'s type: inline JSON or a JSON file, converted to backend keyword arguments."""

    name = "JSON|FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        try:
            return parse_backend_config(str(value))
        except ConfigurationError as exc:
            fail(str(exc), EXIT_CANNOT_START)  # one line, exit 2, the same on every command
            raise  # unreachable: fail() exits


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--config`` option (parameter name ``backend_config``, a dict; ``{}`` when not given)."""
    return click.option("--config", "backend_config", type=BackendConfigParam(), default=None,
                        callback=lambda _ctx, _param, value: value or {}, help=CONFIG_HELP)(func)


def dead_letters_exit_option(default: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--fail-on-dead-letters/--no-fail-on-dead-letters`` with this command's default."""
    return click.option(
        "--fail-on-dead-letters/--no-fail-on-dead-letters", default=default, show_default=True,
        help="Exit 3 (instead of 0) when the job finished but some records were dead-lettered.",
    )


def exit_code_for(dead_letters: int, fail_on_dead_letters: bool) -> int:
    """The exit code of a job that finished: 3 with dead letters when asked to fail on them, else 0."""
    from packflow.constants import EXIT_DEAD_LETTERS, EXIT_OK

    return EXIT_DEAD_LETTERS if dead_letters and fail_on_dead_letters else EXIT_OK


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level_option(default: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--log-level`` (case-insensitive; parameter ``log_level``, upper-case or None)."""
    return click.option(
        "--log-level", default=default, show_default=default is not None,
        type=click.Choice(LOG_LEVELS, case_sensitive=False),
        callback=lambda _ctx, _param, value: value.upper() if value else None,
        help="Level of the packflow logger" + ("." if default else " [default: WARNING]."),
    )


def serve_security_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``packflow serve``'s production options: API keys, TLS/mTLS and CORS (docs/operations.md)."""
    options = [
        click.option("--api-keys-file", default=None, type=click.Path(dir_okay=False),
                     help="File of accepted API keys, one a line (plain or sha256:<hex>); also $PACKFLOW_API_KEYS. "
                          "Reloaded on SIGHUP."),
        click.option("--auth-probes", default="open", show_default=True, type=click.Choice(["open", "protected"]),
                     help="Whether /health/* and /v2/health/* need a key."),
        click.option("--auth-metrics", default="open", show_default=True, type=click.Choice(["open", "protected"]),
                     help="Whether /metrics needs a key."),
        click.option("--ssl-certfile", default=None, type=click.Path(exists=True, dir_okay=False),
                     help="Server certificate (PEM): serve HTTPS."),
        click.option("--ssl-keyfile", default=None, type=click.Path(exists=True, dir_okay=False),
                     help="Private key of --ssl-certfile (PEM)."),
        click.option("--ssl-ca-certs", default=None, type=click.Path(exists=True, dir_okay=False),
                     help="CA bundle that client certificates are verified against."),
        click.option("--ssl-client-cert", default="none", show_default=True,
                     type=click.Choice(["none", "optional", "required"]),
                     help="Client certificates: not asked, optional, or required (mutual TLS)."),
        click.option("--cors-origin", "cors_origins", multiple=True, callback=lambda _c, _p, v: list(v),
                     help="Origin allowed to call the API from a browser (repeatable; * for any). Off by default."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _set_log_format(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from packflow._logjson import LOG_FORMAT_ENV

    if value:
        os.environ[LOG_FORMAT_ENV] = value.lower()  # read by setup_logging; inherited by serve's workers
    return value


#: ``--log-format text|json`` (every command that logs): one JSON object per line with ``json``;
#: applied by ``cli._common.setup_logging`` (see packflow/_logjson.py).
log_format_option = click.option(
    "--log-format", type=click.Choice(["text", "json"], case_sensitive=False), default=None, expose_value=False,
    is_eager=True, callback=_set_log_format,
    help="Log lines as text (default) or one JSON object per line ($PACKFLOW_LOG_FORMAT).",
)


def redis_tls_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--redis-ca-certs/--redis-certfile/--redis-keyfile``: TLS files for a ``rediss://`` URL."""
    for name, what in (("--redis-keyfile", "Private key of --redis-certfile (PEM)."),
                       ("--redis-certfile", "Client certificate for Redis TLS (PEM)."),
                       ("--redis-ca-certs", "CA bundle the Redis server's certificate is verified against.")):
        func = click.option(name, default=None, type=click.Path(dir_okay=False), help=what)(func)
    return func


def _set_env(env: str) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    def callback(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value:
            os.environ[env] = value.lower()  # inherited by serve's worker processes
        return value

    return callback


def observability_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--tracing off|otlp|console`` and ``--metrics-exporter prometheus|otlp`` (serve, stream, run; docs/tracing.md)."""
    from packflow.runtime.tracing import METRICS_EXPORTER_ENV, METRICS_EXPORTERS, TRACING_ENV, TRACING_MODES

    func = click.option(
        "--metrics-exporter", type=click.Choice(METRICS_EXPORTERS, case_sensitive=False), default=None,
        expose_value=False, is_eager=True, callback=_set_env(METRICS_EXPORTER_ENV),
        help="Also push the Runner's metrics over OTLP/HTTP (otlp; OTEL_EXPORTER_OTLP_* apply) "
             f"[default: prometheus; ${METRICS_EXPORTER_ENV}].",
    )(func)
    return click.option(
        "--tracing", type=click.Choice(TRACING_MODES, case_sensitive=False), default=None, expose_value=False,
        is_eager=True, callback=_set_env(TRACING_ENV),
        help="OpenTelemetry spans per request, batch and step: OTLP/HTTP (OTEL_EXPORTER_OTLP_ENDPOINT, "
             f"OTEL_SERVICE_NAME apply), console (stderr) or off [default: off; ${TRACING_ENV}]; needs packflow[otel].",
    )(func)


def start_observing(install: bool = True) -> None:
    """Check (and with ``install``, start) tracing / OTLP metrics / JSON-log ids; exit 2 on a bad setting."""
    from packflow.runtime import tracing

    try:
        tracing.install_from_env() if install else tracing.check_env()
    except (ImportError, ConfigurationError) as exc:
        fail(str(exc), EXIT_CANNOT_START)
