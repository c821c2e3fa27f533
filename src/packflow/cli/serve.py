"""``packflow serve TARGET``: an HTTP inference server (extra ``packflow[serve]``)."""

from __future__ import annotations

import json
import sys

import click

from packflow.cli._common import fail, setup_logging, start_or_exit
from packflow.constants import EXIT_CANNOT_START


def _backend_kwargs(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"--config is not valid JSON ({exc}); give an object such as '{{\"threshold\": 0.5}}'.", EXIT_CANNOT_START)
    if not isinstance(value, dict):
        fail(f"--config must be a JSON object, got {type(value).__name__}.", EXIT_CANNOT_START)
    return value


@click.command()
@click.argument("target")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port (0: pick a free one).")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes, each with its own backend.")
@click.option("--config", "config_json", default=None, help="Backend settings as a JSON object.")
@click.option("--max-body-bytes", default=16 * 1024 * 1024, show_default=True, type=int, help="Larger bodies get 413.")
@click.option("--request-timeout-s", default=60.0, show_default=True, type=float, help="Slower results get 504.")
@click.option("--graceful-timeout-s", default=30.0, show_default=True, type=float, help="Bound on the drain at SIGTERM.")
@click.option("--max-batch-size", default=64, show_default=True, type=int, help="Records per backend call, at most.")
@click.option(
    "--max-wait-ms", default=0.0, show_default=True, type=float,
    help="Under load, how long a batch may wait to fill up (never when a single client is idle-waiting).",
)
@click.option(
    "--max-queue", default=100_000, show_default=True, type=int,
    help="Records that may wait for the backend; more get 503 (a single larger request gets 413).",
)
@click.option("--ready-timeout-s", default=5.0, show_default=True, type=float, help="Bound on backend.ready() per probe.")
@click.option(
    "--read-timeout-s", default=30.0, show_default=True, type=float,
    help="A connection must deliver a whole request within this; slower ones are closed.",
)
@click.option("--ready-sample", default=None, type=click.Path(exists=True, dir_okay=False), help="Records that must pass check_io before ready.")
@click.option("--log-level", default="INFO", show_default=True, help="packflow and uvicorn log level.")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request (slower).")
@start_or_exit
def serve(target: str, config_json: str | None, **options: object) -> None:
    """Serve TARGET (project directory, .zip archive, or module:Class) over HTTP: POST /invoke."""
    from packflow.runtime.serve import ServeConfig
    from packflow.runtime.serve._deps import require_serve_extra

    require_serve_extra()
    setup_logging(str(options["log_level"]).upper())
    config = ServeConfig(target=target, backend_kwargs=_backend_kwargs(config_json), **options)  # type: ignore[arg-type]
    from packflow.runtime.serve.server import run_server

    sys.exit(run_server(config))
