"""``--log-format json``: one JSON object per log line, with the ids known where it was logged.

Every line holds ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; ``exception`` when
a traceback was logged; and ``request_id`` / ``batch_id`` / ``trace_id`` / ``error_id`` when code set
them with :func:`log_context` (context variables, so concurrent requests on one event loop keep theirs
apart) or passed them as ``extra={...}``. The format is chosen once per process with
:data:`LOG_FORMAT_ENV`, so serve's worker processes inherit it.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import json
import logging
import os
from typing import Any, Iterator

__all__ = ["LOG_FORMAT_ENV", "LOG_FORMATS", "JsonFormatter", "log_context", "make_formatter"]

#: Environment variable selecting the log format of the CLI's handler: ``text`` (default) or ``json``.
LOG_FORMAT_ENV = "PACKFLOW_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
ID_FIELDS = ("request_id", "batch_id", "trace_id", "error_id")
_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("packflow_log_context", default={})


@contextlib.contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Add ``ids`` (e.g. ``request_id=...``) to every JSON log line written inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    """A log record as one line of compact JSON."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        line: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(), "pid": record.process,
        }
        line.update(_context.get())
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and masked) by packflow._redact.MaskFilter
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def make_formatter(text_format: str, log_format: str | None = None) -> logging.Formatter:
    """The formatter for ``log_format`` (default: ``$PACKFLOW_LOG_FORMAT``, else text)."""
    chosen = (log_format or os.environ.get(LOG_FORMAT_ENV) or "text").lower()
    return JsonFormatter() if chosen == "json" else logging.Formatter(text_format)


def uvicorn_log_options() -> dict[str, Any]:
    """``uvicorn.Config`` keyword arguments so uvicorn's own lines follow the chosen format too."""
    if (os.environ.get(LOG_FORMAT_ENV) or "text").lower() != "json":
        return {}
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    loggers = {name: {"handlers": ["json"], "level": "INFO", "propagate": False}
               for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    return {"log_config": {"version": 1, "disable_existing_loggers": False,
                           "formatters": {"json": {"()": "packflow._logjson.JsonFormatter"}},
                           "handlers": {"json": handler}, "loggers": loggers}}
