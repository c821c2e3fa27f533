"""``packflow run``: push JSON records from a file or stdin through a backend, JSON lines out.

Exit codes (the policy of every command, docs/cli.md): 0 every record succeeded; 3 the run
finished but some records were dead-lettered (0 with ``--no-fail-on-dead-letters``); 2 the run could not start (bad target, config, input file or option, or two of input, output and
dead letters are the same file); 1 ``--on-error fail``
stopped the run at a failed record (or another failure after start-up); 128 + N (130, 143) a
SIGINT/SIGTERM stopped the run: the outputs and dead letters are a consistent prefix of the input,
and stderr says where it stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterator

import click

from packflow._text import plural
from packflow.cli._common import _one_line_cause, fail, setup_logging, strict_config_option, with_strict_config
from packflow.cli._options import log_format_option, config_option, dead_letters_exit_option, log_level_option, parse_backend_config
from packflow.cli._common import trusted_key_option
from packflow.cli._common import say
from packflow.constants import EXIT_CANNOT_START, EXIT_DEAD_LETTERS, EXIT_FAILURE, EXIT_OK
from packflow.exceptions import ConfigurationError, PackflowError

__all__ = ["load_config_file", "run"]

#: How many dead-letter reasons are printed on stderr when ``--dead-letters`` is not given.
SHOWN_REASONS = 5


@click.command()
@log_format_option
@click.argument("target")
@trusted_key_option
@click.option("--input", "-i", "input_path", default="-", show_default=True,
              type=click.Path(exists=True, allow_dash=True),
              help="JSON lines or a JSON array of records; '-' reads stdin. With --engine ray|spark: a "
                   "JSON-lines or Parquet file, or a directory of them.")
@click.option("--output", "-o", "output_path", default="-", show_default=True,
              type=click.Path(dir_okay=False, writable=True, allow_dash=True),
              help="Where to write output records as JSON lines, in input order; '-' is stdout.")
@click.option("--dead-letters", "dead_letters_path", default=None,
              type=click.Path(dir_okay=False, writable=True, allow_dash=True),
              help="Write dead letters here as JSON lines; '-' is stdout (default: a count and the first reasons "
                   "on stderr; with --engine ray|spark: <output>.dead-letters.jsonl).")
@click.option("--batch-size", "-b", default=256, show_default=True, type=click.IntRange(min=1),
              help="Records per backend call.")
@click.option("--max-wait-ms", default=50.0, show_default=True, type=click.FloatRange(min=0, max=3_600_000),
              help="On a pipe, flush a partial batch after waiting this long for more input (0: at once).")
@config_option
@strict_config_option
@click.option("--on-error", type=click.Choice(["isolate", "fail"]), default="isolate", show_default=True,
              help="isolate: dead-letter only the failing records; fail: stop at the first failure (exit 1).")
@dead_letters_exit_option(default=True)
@click.option("--progress/--no-progress", default=None,
              help="Progress bar and end-of-run table on stderr (default: when stderr is a terminal).")
@click.option("--metrics-json", "metrics_path", default=None, type=click.Path(dir_okay=False, writable=True),
              help="Write the end-of-run summary (totals, per-step latency) to this file as JSON.")
@log_level_option(None)
@click.option("--engine", type=click.Choice(["local", "ray", "spark"]), default="local", show_default=True,
              help="Run in this process, or on a Ray / Spark cluster (needs packflow[ray] / packflow[spark]).")
def run(target: str, input_path: str, output_path: str, dead_letters_path: str | None, batch_size: int,
        max_wait_ms: float, backend_config: dict[str, Any], strict_config: bool, on_error: str, fail_on_dead_letters: bool,
        progress: bool | None, metrics_path: str | None, log_level: str | None, engine: str) -> None:
    """Run TARGET (project directory, .zip archive or module:Name) over JSON records."""
    setup_logging(log_level)
    started = time.monotonic()
    _refuse_same_files(input_path, output_path, dead_letters_path)
    backend_kwargs = with_strict_config(backend_config, strict_config)
    if engine != "local":
        summary = _run_on_engine(engine, target, input_path, output_path, dead_letters_path, batch_size,
                                 backend_kwargs, on_error)
    else:
        if input_path != "-" and Path(input_path).is_dir():
            fail(f"--input {input_path!r} is a directory; without --engine ray|spark give one JSON-lines file "
                 "or '-' for stdin.", EXIT_CANNOT_START)
        summary = _run_locally(target, input_path, output_path, dead_letters_path, batch_size, max_wait_ms,
                               backend_kwargs, on_error, _show_progress(progress, input_path))
    if summary["exit_code"] == EXIT_DEAD_LETTERS and not fail_on_dead_letters:
        summary["exit_code"] = EXIT_OK
    elapsed = time.monotonic() - started
    summary["elapsed_s"] = round(elapsed, 6)
    summary["records_per_s"] = round(summary.get("records_in", 0) / elapsed, 1) if elapsed > 0 else 0.0
    _report(summary, progress, metrics_path)
    sys.exit(summary["exit_code"])


# -- configuration ----------------------------------------------------------------------------


def load_config_file(path: str) -> dict[str, Any]:
    """Backend keyword arguments from a JSON file: ``{"configs": {...}}`` or a plain object."""
    return parse_backend_config(path)


def _refuse_same_files(input_path: str, output_path: str, dead_letters_path: str | None) -> None:
    from packflow.cli._paths import refuse_same_files

    try:
        refuse_same_files({"--input": input_path, "--output": output_path, "--dead-letters": dead_letters_path})
    except ConfigurationError as exc:
        fail(str(exc), EXIT_CANNOT_START)


def _show_progress(progress: bool | None, input_path: str) -> bool:
    from packflow.cli._common import json_logs

    if json_logs():  # a redrawn bar would break the one-JSON-object-per-line stream
        return False
    if progress is not None:
        return progress
    return input_path != "-" and sys.stderr.isatty()


# -- local run --------------------------------------------------------------------------------


def _run_locally(target: str, input_path: str, output_path: str, dead_letters_path: str | None, batch_size: int,
                 max_wait_ms: float, backend_kwargs: dict[str, Any], on_error: str, show: bool) -> dict[str, Any]:
    from packflow.cli._summary import ProgressBar, build_summary
    from packflow.runtime import BatchFailedError, Runner
    from packflow.runtime.interrupt import StopRequest, handle_stop_signals
    from packflow.runtime.jsonl import JsonLinesReader, JsonLinesWriter, run_jsonl

    runner = Runner(_load_or_exit(target, backend_kwargs), max_batch_size=batch_size, max_wait_ms=max_wait_ms,
                    on_error=on_error)  # type: ignore[arg-type]
    _settle_memory()
    stop = StopRequest()
    with _binary_in(input_path) as source, _binary_out(output_path) as sink, _DeadLetterSink(dead_letters_path) as dead:
        reader = JsonLinesReader(source, batch_size, max_wait_ms, stop=stop)
        bar = ProgressBar(sys.stderr, os.path.getsize(input_path) if input_path != "-" else None) if show else None
        on_batch = (lambda n: bar.update(n, reader.bytes_done)) if bar is not None else None
        exit_code = EXIT_OK
        restore = handle_stop_signals(stop, lambda s: _stop_now(s, sink, dead))
        try:
            run_jsonl(runner, reader, JsonLinesWriter(sink, flush=reader.waits), dead.write, on_batch, stop)
            if stop.is_set():
                exit_code = 128 + stop.signum
        except (SystemExit, KeyboardInterrupt):
            if not stop.is_set():  # not after a signal: the Runner lets only a real shutdown through
                raise
            exit_code = 128 + stop.signum  # the backend ended the batch in hand: it is not written
        except BatchFailedError as exc:
            say(f"Error: {exc}", "ERROR")
            exit_code = EXIT_FAILURE
        except BrokenPipeError:
            _silence_stdout()
            say("Error: the output was closed before every record was written.", "ERROR")
            exit_code = EXIT_FAILURE
        finally:
            restore()
            if bar is not None:
                bar.close(runner.counters.records_in, reader.bytes_done)
    snapshot = runner.snapshot()
    if exit_code == EXIT_OK and snapshot.dead_letters:
        exit_code = EXIT_DEAD_LETTERS
    dead.report()
    if stop.is_set():
        say(_stopped_message(stop))
    stop.close()
    return build_summary(snapshot, 0.0, exit_code, target=target, engine="local", metrics=_vocabulary(snapshot, target))


def _vocabulary(snapshot: Any, target: str) -> dict[str, Any]:
    """The run's metrics as ``/metrics`` of serve and stream name them (docs/metrics.md), JSON-ready."""
    from packflow.loaders.target import resolve_target
    from packflow.runtime.metrics_export import snapshot_families, to_json

    identity = resolve_target(target)
    return to_json(snapshot_families(snapshot, identity.name, identity.version))


def _stopped_message(stop: Any, now: bool = False) -> str:
    where = (f"up to input line {stop.completed:,} (lines 1-{stop.completed:,} are complete; nothing after line "
             f"{stop.completed:,} was processed)") if stop.completed else "for no input line (nothing was processed)"
    how = "a second " if now else ""
    return f"Error: stopped by {how}{stop.reason}: outputs and dead letters are written {where}."


def _stop_now(stop: Any, sink: BinaryIO, dead: _DeadLetterSink) -> None:
    """A second signal: end at once with what is complete, unless a batch is being written (then the
    run stops as soon as that batch is written whole, as after the first signal)."""
    if stop.writing:
        return
    for flush in (sink.flush, dead.flush):
        with contextlib.suppress(OSError, ValueError):
            flush()
    os.write(2, (_stopped_message(stop, now=True) + "\n").encode())
    os._exit(128 + stop.signum)


def _load_or_exit(target: str, backend_kwargs: dict[str, Any]) -> Any:
    from packflow.loaders.target import resolve_target

    try:
        return resolve_target(target).load(**backend_kwargs)
    except PackflowError as exc:
        fail(_one_line_cause(exc), EXIT_CANNOT_START)


@contextlib.contextmanager
def _binary_in(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    with open(path, "rb") as handle:
        yield handle


@contextlib.contextmanager
def _binary_out(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdout.buffer
        with contextlib.suppress(BrokenPipeError):
            sys.stdout.buffer.flush()
        return
    try:
        handle = open(path, "wb", buffering=1 << 20)
    except OSError as exc:
        fail(f"Cannot write --output {path!r}: {exc.strerror or exc}.", EXIT_CANNOT_START)
    try:
        with handle:
            yield handle
    except OSError as exc:  # ENOSPC, EIO...: usually seen when the buffer is flushed
        if isinstance(exc, BrokenPipeError):
            raise
        fail(f"Cannot write --output {path!r}: {exc.strerror or exc}; the output is incomplete.", EXIT_FAILURE)


def _silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _settle_memory() -> None:
    """Tune this process for a long run of short-lived records, once the backend is loaded.

    - ``gc.freeze()``: everything loaded so far (modules, the model) moves to the permanent
      generation, so the collections that batches of fresh dicts trigger do not re-scan it.
    - glibc only: keep up to 32 MiB of freed heap for reuse instead of returning it after every
      batch (one page fault per record otherwise); the same as ``MALLOC_TRIM_THRESHOLD_=33554432``,
      and skipped when that variable is set.
    """
    gc.collect()
    gc.freeze()
    if "MALLOC_TRIM_THRESHOLD_" in os.environ or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-1, 32 << 20)  # -1 = M_TRIM_THRESHOLD


class _DeadLetterSink:
    """Dead letters as JSON lines in a file, or counted with the first few reasons kept for stderr."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.count = 0
        self.first: list[Any] = []
        self._handle: IO[bytes] | None = None
        self._owned = True

    def __enter__(self) -> _DeadLetterSink:
        if self.path == "-":
            self._handle, self._owned = sys.stdout.buffer, False
        elif self.path is not None:
            try:
                self._handle = open(self.path, "wb")
            except OSError as exc:
                fail(f"Cannot write --dead-letters {self.path!r}: {exc.strerror or exc}.", EXIT_CANNOT_START)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._handle is None:
            return
        if self._owned:
            self._handle.close()
        else:
            self._handle.flush()

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def write(self, dead_letters: list[Any]) -> None:
        from packflow.runtime.jsonl import dumps

        self.count += len(dead_letters)
        if self._handle is not None:
            self._handle.write(b"".join(dumps(d.to_dict()) + b"\n" for d in dead_letters))
        elif len(self.first) < SHOWN_REASONS:
            self.first.extend(dead_letters[: SHOWN_REASONS - len(self.first)])

    def report(self) -> None:
        """On stderr: where the dead letters went, or their count and first reasons."""
        if not self.count:
            return
        if self.path is not None:
            where = "stdout" if self.path == "-" else self.path
            say(f"{plural(self.count, 'record')} {_were(self.count)} dead-lettered; see {where}.", "WARNING")
            return
        lines = [f"  {_where(dead.source)} [{dead.step}] {dead.error_type}: {dead.message}" for dead in self.first]
        say("\n".join([f"{plural(self.count, 'record')} {_were(self.count)} dead-lettered (use --dead-letters FILE to keep "
                        f"them). First {len(self.first)}:", *lines]), "WARNING")


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def _where(source: Any) -> str:
    return f"#{source}" if source is not None else "#?"


# -- cluster engines --------------------------------------------------------------------------


def _run_on_engine(engine: str, target: str, input_path: str, output_path: str, dead_letters_path: str | None,
                   batch_size: int, backend_kwargs: dict[str, Any], on_error: str) -> dict[str, Any]:
    try:
        from packflow.runtime.integrations.engine import run_with_engine
    except ModuleNotFoundError as exc:
        if (exc.name or "").startswith("packflow"):
            fail(f"--engine {engine} is not available in this installation of packflow "
                 f"(no module {exc.name}); use --engine local.", EXIT_CANNOT_START)
        fail(f"--engine {engine} needs {exc.name}: pip install 'packflow[{engine}]'.", EXIT_CANNOT_START)
    except ImportError as exc:
        fail(f"--engine {engine}: {exc}", EXIT_CANNOT_START)
    try:
        summary = run_with_engine(
            engine=engine, target=target, input_path=input_path, output_path=output_path,
            dead_letters_path=dead_letters_path, batch_size=batch_size, backend_kwargs=backend_kwargs,
            on_error="fail" if on_error == "fail" else "isolate",
        )
    except ImportError as exc:
        fail(f"--engine {engine}: {exc}", EXIT_CANNOT_START)
    except PackflowError as exc:
        failed_mid_job = type(exc).__name__ in ("BatchFailedError", "EngineJobError")
        fail(str(exc), EXIT_FAILURE if failed_mid_job else EXIT_CANNOT_START)
    summary = dict(summary)
    summary.setdefault("exit_code", EXIT_DEAD_LETTERS if summary.get("dead_letters") else EXIT_OK)
    summary.setdefault("engine", engine)
    summary.setdefault("target", target)
    return summary


# -- report -----------------------------------------------------------------------------------


def _report(summary: dict[str, Any], progress: bool | None, metrics_path: str | None) -> None:
    from packflow.cli._summary import format_summary

    if progress or (progress is None and sys.stderr.isatty()):
        say(format_summary(summary))
    if metrics_path is not None:
        try:
            Path(metrics_path).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"Cannot write --metrics-json {metrics_path!r}: {exc.strerror or exc}.", EXIT_FAILURE)
