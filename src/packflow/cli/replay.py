"""``packflow replay``: re-run dead letters through a backend; write what recovered and what still fails.

Exit codes follow the one policy (docs/cli.md): 0 every replayed record recovered, 3 some still
fail (0 with ``--no-fail-on-dead-letters``), 2 the replay could not start (bad target, file or
dead letter).
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import IO, Any, Iterator

import click

from packflow._text import plural
from packflow.cli._common import fail, say, setup_logging
from packflow.cli._options import log_format_option, config_option, dead_letters_exit_option, exit_code_for
from packflow.cli._options import redis_tls_options
from packflow.constants import EXIT_CANNOT_START

__all__ = ["replay"]


@click.command()
@log_format_option
@click.argument("dead_letters", required=False, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--target", "-t", required=True,
              help="The backend to replay through: project directory, .zip archive or module:Name.")
@click.option("--output", "-o", "output_path", default="-", show_default=True,
              type=click.Path(dir_okay=False, allow_dash=True),
              help='Recovered outputs as JSON lines: {"output": {...}, "replay_of": {...}}; "-" is stdout.')
@click.option("--dead-letters", "dead_path", default=None, type=click.Path(dir_okay=False),
              help="Write the records that still fail here, as dead letters (replayable again).")
@click.option("--batch-size", "-b", default=256, show_default=True, type=click.IntRange(min=1),
              help="Records per backend call.")
@config_option
@click.option("--redis-url", default=None, help="Replay a Redis dead-letter stream instead of a file.")
@click.option("--from-stream", default=None, help="With --redis-url: the dead-letter stream, e.g. events:dead.")
@redis_tls_options
@dead_letters_exit_option(default=True)
@click.option("--compare", is_flag=True, help="Print, per original step and error type, what was fixed and what is new.")
@click.option("--compare-json", default=None, type=click.Path(dir_okay=False),
              help="Write the comparison as JSON to this file.")
def replay(dead_letters: str | None, target: str, output_path: str, dead_path: str | None, batch_size: int,
           backend_config: dict, redis_url: str | None, from_stream: str | None, fail_on_dead_letters: bool,
           compare: bool, compare_json: str | None, **redis_tls: str | None) -> None:
    """Replay DEAD_LETTERS (a dead-letter file of run or stream) through --target."""
    from packflow.cli.run import _load_or_exit
    from packflow.runtime import Runner
    from packflow.runtime.replay import ReplayInputError
    from packflow.runtime.replay import replay as run_replay

    setup_logging()
    _check_sources(dead_letters, redis_url, from_stream)
    runner = Runner(_load_or_exit(target, backend_config), max_batch_size=batch_size)
    with _items(dead_letters, redis_url, from_stream, redis_tls) as items, _lines_out(output_path) as out, \
            _lines_out(dead_path) as dead:
        try:
            result = run_replay(runner.process_batch, items, lambda o: _write(out, o),
                                lambda d: _write(dead, d.to_dict()), batch_size)
        except ReplayInputError as exc:
            fail(str(exc), EXIT_CANNOT_START)
    report = result.to_dict()
    still = sum(row["still_failing"] + row["failing_differently"] for row in report["by_original_failure"])
    total = sum(row["records"] for row in report["by_original_failure"])
    say(f"Replayed {plural(total, 'dead letter')}: {total - still:,} recovered, {still:,} still failing.")
    if compare:
        say(format_comparison(report))
    if compare_json is not None:
        with open(compare_json, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
    sys.exit(exit_code_for(still, fail_on_dead_letters))


def _check_sources(path: str | None, redis_url: str | None, stream: str | None) -> None:
    if (redis_url is None) != (stream is None):
        fail("--redis-url and --from-stream go together: the server and the dead-letter stream on it.",
             EXIT_CANNOT_START)
    if (path is None) == (redis_url is None):
        fail("Give either a DEAD_LETTERS file ('-' for stdin) or --redis-url with --from-stream.", EXIT_CANNOT_START)


@contextlib.contextmanager
def _items(path: str | None, redis_url: str | None, stream: str | None, tls: dict[str, str | None]) -> Iterator[Any]:
    from packflow.exceptions import PackflowError
    from packflow.runtime.replay import iter_dead_letter_lines

    if redis_url is not None:
        from packflow.runtime.replay_redis import connect_for_replay, iter_stream_dead_letters

        try:
            client = connect_for_replay(redis_url, tls["redis_ca_certs"], tls["redis_certfile"], tls["redis_keyfile"])
        except PackflowError as exc:  # bad URL or TLS files, unreachable server, refused login
            fail(str(exc), EXIT_CANNOT_START)
        yield iter_stream_dead_letters(client, stream or "", redis_url)
        return
    if path == "-":
        yield iter_dead_letter_lines(sys.stdin.buffer, "<stdin>")
        return
    with open(path or "", "rb") as handle:
        yield iter_dead_letter_lines(handle, path or "")


@contextlib.contextmanager
def _lines_out(path: str | None) -> Iterator[IO[bytes]]:
    if path is None:
        yield _Discard()  # type: ignore[misc]
        return
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        handle = open(path, "wb")
    except OSError as exc:
        fail(f"Cannot write {path!r}: {exc.strerror or exc}.", EXIT_CANNOT_START)
    with handle:
        yield handle


class _Discard:
    """Where still-failing records go without --dead-letters: they are only counted."""

    def write(self, data: bytes) -> int:
        return len(data)


def _write(handle: IO[bytes], value: Any) -> None:
    from packflow.runtime.codec import encode as dumps

    handle.write(dumps(value) + b"\n")


def format_comparison(report: dict[str, Any]) -> str:
    """The comparison as an aligned text table."""
    rows = [("original step", "error type", "records", "fixed", "same", "different")]
    rows += [(r["step"], r["error_type"], str(r["records"]), str(r["fixed"]), str(r["still_failing"]),
              str(r["failing_differently"])) for r in report["by_original_failure"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    if report["new_failures"]:
        lines.append("new failures:")
        lines += [f"  {n['step']} {n['error_type']}: {n['records']}" for n in report["new_failures"]]
    return "\n".join(lines)
