"""Tracing and OTLP metrics switch: off by default, and then nothing of OpenTelemetry is imported.

Drivers and the Runner ask one module attribute, :data:`OBSERVER`, per batch (per chunk of
``max_batch_size`` records) and per request: ``None`` means off, and the clean path pays one
attribute lookup. :func:`install` sets it — from ``packflow serve|stream|run --tracing`` /
``--metrics-exporter`` (or ``$PACKFLOW_TRACING`` / ``$PACKFLOW_METRICS_EXPORTER``, which serve's
worker processes inherit), or from a test with its own OpenTelemetry providers. JSON logs
(``--log-format json``) install a log-only observer, so log lines carry ``batch_id`` and
``request_id`` even with tracing off.

What an observer does (``packflow.runtime._otel``; docs/tracing.md):

- a span ``packflow.batch`` per Runner chunk with a child per step (``preprocess``,
  ``transform_inputs``, ``execute``, ``transform_outputs``) built afterwards from the backend's
  own ``perf_counter`` marks, so the backend stays pure; when isolation bisects a failed batch,
  a ``packflow.call`` span per backend call holds that call's steps;
- the parents of a batch (``parents``: request spans, W3C ``traceparent`` strings of stream
  entries): one distinct parent → the batch span is its child (the trace continues); several →
  the batch span starts its own trace and *links* to each (the batch merged several traces).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.runner import Runner

__all__ = [
    "METRICS_EXPORTERS",
    "METRICS_EXPORTER_ENV",
    "OBSERVER",
    "TRACING_ENV",
    "TRACING_MODES",
    "Observer",
    "check_env",
    "flush",
    "install",
    "install_from_env",
    "name_runner",
    "uninstall",
]

#: ``off`` (default), ``otlp`` (OTLP/HTTP, honouring ``OTEL_EXPORTER_OTLP_*``) or ``console``.
TRACING_ENV = "PACKFLOW_TRACING"
TRACING_MODES = ("off", "otlp", "console")
#: ``prometheus`` (default: /metrics as today) or ``otlp`` (also push the Runner's metrics over OTLP).
METRICS_EXPORTER_ENV = "PACKFLOW_METRICS_EXPORTER"
METRICS_EXPORTERS = ("prometheus", "otlp")

#: What the backend's call returns to isolation: (results, backend calls, dead letters).
ChunkCall = Callable[[Callable[[list], Any]], "tuple[list, int, int]"]


class Observer(Protocol):
    """What the Runner and the drivers call when observation is on."""

    def chunk(self, runner: Runner, records: list, call: ChunkCall, parents: Sequence[Any] | None) -> tuple[list, int, int]:
        """Run ``call(invoke)`` for one chunk of ``records`` (``invoke`` wraps the backend's pipeline)."""

    def capture(self) -> Any:
        """The current request's trace context (stored with a queued submission), or None."""

    def request(self, scope: dict, route: str, request_id: str) -> Any:
        """A context manager around one HTTP inference request; yields ``status(code)`` to call with the answer."""

    def rpc(self, service: str, method: str, metadata: Sequence[tuple[str, Any]], request_id: str) -> Any:
        """A context manager around one gRPC inference call (``traceparent`` from ``metadata``);
        yields ``status(grpc.StatusCode)`` to call with the answer."""

    def name_runner(self, runner: Runner, name: str, version: str) -> None:
        """The backend name and version the spans and metrics of ``runner`` carry."""

    def driver_dead_letters(self, runner: Runner, step: str, count: int) -> None:
        """Records a driver dead-lettered itself (``Runner.record_dead_letter``)."""

    def flush(self) -> None:
        """Export what is buffered now (a Ray or Spark worker may be ended before its exporters' next round)."""


def flush() -> None:
    """Have the active observer (if any) export its buffered spans and metrics now."""
    if OBSERVER is not None:
        OBSERVER.flush()


def name_runner(runner: Runner, name: str, version: str) -> None:
    """Tell the active observer (if any) what to call ``runner``'s backend: a project's name and version."""
    if OBSERVER is not None:
        OBSERVER.name_runner(runner, name, version)


#: The active observer; None when tracing, OTLP metrics and JSON logs are all off.
OBSERVER: Observer | None = None


def install(observer: Observer | None) -> Observer | None:
    """Make ``observer`` the active one (None: off); returns the previous one."""
    global OBSERVER
    previous, OBSERVER = OBSERVER, observer
    return previous


def uninstall() -> None:
    """Turn observation off (tests; the providers are not shut down)."""
    install(None)


def check_env() -> tuple[str, str]:
    """(tracing mode, metrics exporter) from the environment, checked without installing anything.

    Raises ``ConfigurationError`` for an unknown mode, and ImportError naming
    ``pip install 'packflow[otel]'`` when tracing or OTLP metrics are asked for without the extra.
    """
    tracing, metrics = _mode(TRACING_ENV, TRACING_MODES), _mode(METRICS_EXPORTER_ENV, METRICS_EXPORTERS)
    if (tracing != "off" or metrics == "otlp") and not _otel_installed():
        raise ImportError(
            f"--tracing {tracing} / --metrics-exporter {metrics} need OpenTelemetry, which is not installed: "
            "pip install 'packflow[otel]'."
        )
    return tracing, metrics


def _otel_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"))


def install_from_env(service: str = "packflow") -> Observer | None:
    """Install what ``$PACKFLOW_TRACING`` / ``$PACKFLOW_METRICS_EXPORTER`` / ``$PACKFLOW_LOG_FORMAT`` ask for.

    Once per process: an observer already installed is kept. Errors as :func:`check_env`.
    """
    if OBSERVER is not None:
        return OBSERVER
    tracing, metrics = check_env()
    if tracing != "off" or metrics == "otlp":
        from packflow.runtime._otel import create_observer

        install(create_observer(tracing, metrics == "otlp", service))
        return OBSERVER
    from packflow._logjson import LOG_FORMAT_ENV

    if (os.environ.get(LOG_FORMAT_ENV) or "").lower() == "json":
        from packflow.runtime._logobserver import LogObserver

        install(LogObserver())
    return OBSERVER


def _mode(env: str, choices: tuple[str, ...]) -> str:
    value = (os.environ.get(env) or choices[0]).strip().lower()
    if value not in choices:
        from packflow.exceptions import ConfigurationError

        raise ConfigurationError(f"${env}={value!r} is not one of {', '.join(choices)}; set one of those or unset it.")
    return value
