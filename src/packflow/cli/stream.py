"""``packflow stream``: run a backend on a Redis Stream with a consumer group (see docs/stream.md)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from typing import Any

import click

from packflow.cli._common import fail, setup_logging, start_or_exit, strict_config_option, with_strict_config
from packflow.cli._kafka_options import kafka_options
from packflow.cli._options import log_format_option, redis_tls_options, config_option, dead_letters_exit_option, exit_code_for, log_level_option
from packflow.constants import EXIT_FAILURE
from packflow.cli._common import trusted_key_option
from packflow.cli._common import json_logs, say

__all__ = ["stream"]


def _install_signal_handlers(driver: Any) -> None:
    """SIGTERM/SIGINT tell the Runner (``request_shutdown``) and set the driver's stop flag; they never
    raise into backend code, whose own ``KeyboardInterrupt``/``SystemExit`` are per-record errors.
    A second signal exits at once."""
    from packflow.runtime.shutdown import request_shutdown

    def handler(signum: int, _frame: Any) -> None:
        request_shutdown()
        name = signal.Signals(signum).name
        if driver.stopping:  # a second signal: stop now; unacknowledged entries are re-delivered
            os.write(2, f"Error: stopped by a second {name}; the batch in hand was not acknowledged "
                        "and will be delivered again.\n".encode())
            os._exit(128 + signum)
        driver.request_stop(name)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command("stream")
@log_format_option
@click.argument("target")
@trusted_key_option
@click.option("--redis-url", default="redis://127.0.0.1:6379/0", show_default=True, help="Redis to read from and write to.")
@click.option("--input-stream", required=True, help="Stream to consume (entries: JSON in 'data', or fields as the record).")
@click.option("--output-stream", required=True, help="Stream the outputs are appended to.")
@click.option("--group", default="packflow", show_default=True, help="Consumer group (created if missing).")
@click.option("--consumer", default=None, help="Consumer name [default: HOST-PID]; reuse it on restart to resume at once.")
@click.option("--dead-letter-stream", default=None, help="Stream for dead letters [default: INPUT_STREAM:dead].")
@click.option("--batch-size", "-b", default=1000, show_default=True, type=click.IntRange(min=1), help="Records per batch.")
@click.option("--max-wait-ms", default=5.0, show_default=True, type=click.FloatRange(min=0), help="Wait this long for a batch to fill.")
@click.option("--max-pending", default=10_000, show_default=True, type=click.IntRange(min=1), help="Max records read but not acknowledged.")
@click.option("--start-from", type=click.Choice(["begin", "new"]), default="begin", show_default=True, help="Where a new group starts.")
@click.option("--claim-idle-ms", default=60_000, show_default=True, type=click.IntRange(min=1), help="Reclaim entries pending this long.")
@click.option("--max-deliveries", default=5, show_default=True, type=click.IntRange(min=1), help="Dead-letter entries delivered more often.")
@click.option("--output-maxlen", default=None, type=click.IntRange(min=1), help="Cap the output stream (MAXLEN ~ N).")
@click.option("--output-mode", type=click.Choice(["record", "batch"]), default="record", show_default=True, help="One output entry per record or per batch.")
@click.option("--input-mode", type=click.Choice(["record", "batch"]), default="record", show_default=True, help="One record per entry, or a JSON array per entry.")
@click.option("--field", default="data", show_default=True, help="Entry field holding the JSON record(s).")
@click.option("--exit-when-idle", default=None, type=click.FloatRange(min=0), help="Stop after SECONDS without input (batch jobs).")
@click.option("--metrics-port", default=None, type=click.IntRange(1, 65535), help="Serve Prometheus metrics on this port.")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address the metrics server binds.")
@click.option("--status/--no-status", default=None, help="Live status line [default: when stderr is a terminal].")
@config_option
@strict_config_option
@dead_letters_exit_option(default=False)
@log_level_option(None)
@kafka_options
@redis_tls_options
@start_or_exit
def stream(target: str, **opts: Any) -> None:
    """Run TARGET (project dir, .zip archive or module:Name) on a Redis Stream (or Kafka topic) until stopped."""
    setup_logging(opts["log_level"])
    from packflow.loaders.target import resolve_target
    from packflow.runtime import Runner

    resolved = resolve_target(target)
    backend = resolved.load(**with_strict_config(opts["backend_config"], opts["strict_config"]))
    runner = Runner(backend, max_batch_size=opts["batch_size"], max_wait_ms=opts["max_wait_ms"])
    if opts["kafka_bootstrap"]:
        from packflow.cli._kafka_options import build_kafka_driver

        driver = build_kafka_driver(runner, opts)
    else:
        driver = _build_driver(runner, opts)
    _run(driver, opts, (resolved.name, resolved.version))


def _build_driver(runner: Any, opts: dict[str, Any]) -> Any:
    from packflow.runtime.stream import DriverOptions, StreamDriver
    from packflow.runtime.stream.redis import RedisSink, RedisSource, connect, refuse_loops

    dead_letter_stream = opts["dead_letter_stream"] or f"{opts['input_stream']}:dead"
    refuse_loops(opts["input_stream"], opts["output_stream"], dead_letter_stream)
    from packflow.runtime.stream.redis_security import tls_options

    tls = tls_options(opts["redis_url"], opts["redis_ca_certs"], opts["redis_certfile"], opts["redis_keyfile"])
    client = connect(opts["redis_url"], **tls)
    source = RedisSource(
        client, opts["input_stream"], opts["group"], opts["consumer"] or f"{socket.gethostname()}-{os.getpid()}",
        start_from=opts["start_from"], input_mode=opts["input_mode"], field=opts["field"].encode(),
        claim_idle_ms=opts["claim_idle_ms"], max_deliveries=opts["max_deliveries"],
    )  # fmt: skip
    sink = RedisSink(
        client, opts["output_stream"], dead_letter_stream,
        output_mode=opts["output_mode"], maxlen=opts["output_maxlen"],
    )  # fmt: skip
    source.open()  # a wrong server, a refused group or a key of the wrong type fails here, before the run
    sink.open()
    options = DriverOptions(
        batch_size=opts["batch_size"], max_wait_ms=opts["max_wait_ms"], max_pending=opts["max_pending"],
        exit_when_idle=opts["exit_when_idle"],
    )  # fmt: skip
    return StreamDriver(runner, source, sink, options)


def _run(driver: Any, opts: dict[str, Any], labels: tuple[str, str] = ("", "")) -> None:
    """Run ``driver`` until it stops; ``labels``: the backend name and version on ``/metrics``."""
    from packflow.runtime.stream.base import WriteFailedError
    from packflow.runtime.stream.driver import StreamUnavailableError
    from packflow.runtime.stream.status import Monitor

    show = opts["status"] if opts["status"] is not None else sys.stderr.isatty()
    monitor = Monitor(driver, out=sys.stderr if show else None, as_json=json_logs()).start()
    server = None
    if opts["metrics_port"]:
        from packflow.runtime.stream.metrics import serve_metrics

        server = serve_metrics(monitor, opts["metrics_port"], opts["metrics_host"], *labels)
    _install_signal_handlers(driver)
    error: str | None = None
    try:
        driver.run()
    except (StreamUnavailableError, WriteFailedError) as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - report, exit 1; the unacknowledged batch is re-delivered
        error = f"the stream stopped on {type(exc).__name__}: {exc}; entries read but not acknowledged will be re-delivered."
    finally:
        monitor.stop()
        if server is not None:
            server.shutdown()
        driver.source.close()
        code = EXIT_FAILURE if error else exit_code_for(driver.stats.dead_letters, opts["fail_on_dead_letters"])
        _print_summary(driver, code)
    if error is not None:
        fail(error, EXIT_FAILURE)
    sys.exit(code)


def _print_summary(driver: Any, code: int) -> None:
    from packflow.cli._summary import build_summary, format_summary
    from packflow.runtime.stream.status import format_totals

    elapsed = time.monotonic() - driver.stats.started
    say(format_summary(build_summary(driver.runner.snapshot(), elapsed, code)))
    say(format_totals(driver))
