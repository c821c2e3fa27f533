"""``packflow serve TARGET``: an HTTP inference server (extra ``packflow[serve]``)."""

from __future__ import annotations

import sys

import click

from packflow.cli._common import fail, setup_logging, start_or_exit, strict_config_option, with_strict_config
from packflow.constants import EXIT_CANNOT_START
from packflow.cli._options import log_format_option, config_option, log_level_option, serve_security_options
from packflow.cli._options import observability_options, start_observing
from packflow.cli._common import trusted_key_option


@click.command()
@log_format_option
@observability_options
@click.argument("targets", nargs=-1, required=True, metavar="TARGET [TARGET ...]")
@trusted_key_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="TCP port (0: pick a free one).")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes, each with its own backend.")
@click.option(
    "--isolate-process/--no-isolate-process", default=None,
    help="Run each backend in a child process, so a record that kills it (os._exit, a segfault) fails alone "
         "[default: on with --workers > 1].",
)
@config_option
@strict_config_option
@click.option("--max-body-bytes", default=16 * 1024 * 1024, show_default=True, type=int, help="Larger bodies get 413.")
@click.option("--request-timeout-s", default=60.0, show_default=True, type=float, help="Slower results get 504.")
@click.option("--graceful-timeout-s", default=30.0, show_default=True, type=float, help="Bound on the drain at SIGTERM.")
@click.option("--batch-size", "--max-batch-size", "-b", "max_batch_size", default=64, show_default=True, type=click.IntRange(min=1),
              help="Records per backend call, at most (--max-batch-size: the 0.5.0 spelling).")
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
@log_level_option("INFO")
@click.option("--grpc-port", default=None, type=int, help="Also serve the Open Inference Protocol over gRPC on this port (extra grpc).")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request (slower).")
@serve_security_options
@start_or_exit
def serve(targets: tuple[str, ...], backend_config: dict, strict_config: bool, **options: object) -> None:
    """Serve TARGET (project directory, .zip archive, or module:Class) over HTTP: POST /invoke.

    Several targets (each optionally NAME=TARGET) serve several models: POST /models/NAME/invoke.
    """
    from packflow.runtime.serve import ServeConfig
    from packflow.runtime.serve._deps import require_serve_extra

    require_serve_extra()
    if options.get("grpc_port") is not None:
        from packflow.runtime.serve.grpc.server import require_grpc_extra

        try:
            require_grpc_extra()
        except ImportError as exc:
            fail(str(exc), EXIT_CANNOT_START)
    setup_logging(str(options["log_level"]).upper())
    start_observing(install=False)  # each worker installs it (run_worker)
    target, models = _targets(targets)
    config = ServeConfig(target=target, backend_kwargs=with_strict_config(backend_config, strict_config), models=models, **options)  # type: ignore[arg-type]
    from packflow.runtime.serve.server import run_server

    sys.exit(run_server(config))


def _targets(specs: tuple[str, ...]) -> tuple[str, list[str]]:
    """(first target's location, model specs): no specs for one unnamed TARGET (the classic server)."""
    from packflow.runtime.serve.models import parse_model_spec, resolve_models

    name, first = parse_model_spec(specs[0])
    if len(specs) == 1 and name is None:
        return first, []
    resolve_models(list(specs))  # bad targets and duplicate names fail here, before any socket
    return first, list(specs)
