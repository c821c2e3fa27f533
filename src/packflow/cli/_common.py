"""Shared CLI plumbing: logging set-up and turning typed errors into ``Error: …`` and an exit code."""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any, Callable, NoReturn, TypeVar

import click

from packflow._logjson import LOG_FORMAT_ENV, JsonFormatter, make_formatter
from packflow._redact import MaskFilter, mask
from packflow.constants import EXIT_CANNOT_START, EXIT_FAILURE
from packflow.exceptions import PackflowError
from packflow.logger import LOGGER_NAME

F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(level: str | int | None = None) -> None:
    """Send ``packflow`` log records to stderr (only when the CLI runs; never on import)."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(getattr(h, "_packflow_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(make_formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(MaskFilter())  # no credential given to this process is ever printed
        handler._packflow_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    if level is not None:
        logger.setLevel(level)
    elif logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def json_logs() -> bool:
    """Whether ``--log-format json`` (or ``$PACKFLOW_LOG_FORMAT=json``) was asked for."""
    return (os.environ.get(LOG_FORMAT_ENV) or "text").lower() == "json"


def say(text: str, level: str = "INFO") -> None:
    """A message for the operator on stderr: text, or one JSON log line (logger ``packflow.cli``) with ``--log-format json``.

    Credentials the process was given are masked (see :mod:`packflow._redact`).
    """
    text = mask(text)
    if json_logs():
        record = logging.LogRecord(f"{LOGGER_NAME}.cli", logging.getLevelName(level), __file__, 0, "%s", (text,), None)
        click.echo(JsonFormatter().format(record), err=True)
    else:
        click.echo(text, err=True)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print ``Error: message`` to stderr (a JSON log line with ``--log-format json``) and exit with ``code``."""
    say(f"Error: {message}", "ERROR")
    sys.exit(code)


def start_or_exit(func: F) -> F:
    """Wrap a command so packflow errors at start-up print cleanly and exit with EXIT_CANNOT_START."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PackflowError as exc:
            fail(_one_line_cause(exc), EXIT_CANNOT_START)

    return wrapper  # type: ignore[return-value]


def _one_line_cause(exc: BaseException) -> str:
    text = str(exc)
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} (caused by {type(cause).__name__}: {str(cause).splitlines()[0]})"
    return text


def strict_config_option(func: F) -> F:
    """``--strict-config`` (validate, run, serve, stream): unknown backend config keys are errors, not warnings.

    The parameter is ``strict_config`` (a bool); pass the backend settings through :func:`with_strict_config`.
    """
    return click.option(
        "--strict-config", "strict_config", is_flag=True, default=False,
        help="Unknown backend config keys are an error (exit 2) instead of a warning; sets strict_config=True.",
    )(func)


def with_strict_config(backend_kwargs: dict[str, Any], strict: bool) -> dict[str, Any]:
    """``backend_kwargs`` with ``strict_config=True`` added when ``--strict-config`` was given."""
    return {**backend_kwargs, "strict_config": True} if strict else backend_kwargs


def _add_trusted_keys(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    import os

    from packflow.archive.signing import TRUSTED_KEYS_ENV

    if value:
        existing = [p for p in os.environ.get(TRUSTED_KEYS_ENV, "").split(os.pathsep) if p]
        os.environ[TRUSTED_KEYS_ENV] = os.pathsep.join([*existing, *(os.path.abspath(v) for v in value)])
    return value


#: ``--trusted-key PUBFILE|DIR`` (repeatable), the same on every command that loads or checks archives:
#: it adds to ``$PACKFLOW_TRUSTED_KEYS``, so archives must carry a valid signature by one of the keys
#: (inherited by serve's worker processes too).
trusted_key_option = click.option(
    "--trusted-key", "trusted_keys", multiple=True, expose_value=False, callback=_add_trusted_keys,
    type=click.Path(exists=True), is_eager=True,
    help="Public key file or directory of *.pub keys; archives must be signed by one of them "
         "(adds to $PACKFLOW_TRUSTED_KEYS). Repeatable.",
)
