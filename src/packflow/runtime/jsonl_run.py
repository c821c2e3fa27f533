"""Writing JSON lines a batch at a time, and :func:`run_jsonl`: the loop behind ``packflow run``.

Re-exported by :mod:`packflow.runtime.jsonl` (import them from there).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, BinaryIO, Callable

from packflow.runtime.codec import dead_letter
from packflow.runtime.codec import encode as dumps
from packflow.runtime.codec import encode_native as _dumps_native
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.isolation import BatchFailedError

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.interrupt import StopRequest
    from packflow.runtime.jsonl import InputBatch, JsonLinesReader
    from packflow.runtime.runner import Runner

__all__ = ["JsonLinesWriter", "run_jsonl"]


class JsonLinesWriter:
    """Write records as JSON lines, a batch at a time (``flush=True``: flush after each batch)."""

    def __init__(self, stream: BinaryIO, flush: bool = False) -> None:
        self.stream = stream
        self.flush = flush

    def write(self, records: list) -> list[tuple[int, str, str]]:
        """Write every encodable record; return ``(index, error type, message)`` for the others."""
        if not records:
            return []
        try:
            data = b"\n".join(map(_dumps_native, records))
        except (TypeError, ValueError, OverflowError):
            try:  # numpy / pandas / torch values: convert them
                data = b"\n".join(map(dumps, records))
            except (TypeError, ValueError, OverflowError):
                return self._write_slowly(records)
        self.stream.write(data)
        self.stream.write(b"\n")
        if self.flush:
            self.stream.flush()
        return []

    def _write_slowly(self, records: list) -> list[tuple[int, str, str]]:
        encoded, failures = [], []
        for index, record in enumerate(records):
            try:
                encoded.append(dumps(record))
            except (TypeError, ValueError, OverflowError) as exc:
                message = f"the output record cannot be written as JSON: {exc}"
                failures.append((index, type(exc).__name__, message))
        if encoded:
            self.stream.write(b"\n".join(encoded) + b"\n")
        if self.flush:
            self.stream.flush()
        return failures


def run_jsonl(
    runner: Runner,
    reader: JsonLinesReader,
    writer: JsonLinesWriter,
    on_dead: Callable[[list[DeadLetter]], None],
    on_batch: Callable[[int], None] | None = None,
    stop: StopRequest | None = None,
) -> int:
    """Run every batch of ``reader`` through ``runner``; outputs to ``writer``, dead letters to ``on_dead``.

    Dead letters carry the original record and its line number as ``source`` and are handed on a
    batch at a time, in input order. With ``runner.on_error == "fail"`` the first failed record of
    any kind raises :class:`BatchFailedError`. ``on_batch`` gets the number of records read so far.
    Once ``stop`` is set, the batch in hand is finished and no other is started. Returns the last
    input line (element) number whose results are all handed on (0 if none).
    """
    fail_fast = runner.on_error == "fail"
    seen = done = 0
    for batch in reader:
        if stop is not None and stop.is_set():
            break
        results, positions, dead = _process(runner, batch, fail_fast)
        if stop is not None:
            stop.writing = True  # a second signal now waits for this batch to be written whole
        dead = _write(runner, batch, writer, results, positions, dead, fail_fast)
        if dead:
            on_dead(dead)
        done = batch.last
        if stop is not None:
            stop.completed, stop.writing = done, False
        seen += len(batch.records) + len(batch.dead)
        if on_batch is not None:
            on_batch(seen)
    return done


def _process(runner: Runner, batch: InputBatch, fail_fast: bool) -> tuple[list, list[int] | None, list[DeadLetter]]:
    """Run one batch: the outputs to write, their positions in the batch (None: all), its dead letters."""
    if batch.dead:
        runner.record_dead_letter("decode", len(batch.dead))
        if fail_fast:
            _abort(batch.dead[0])
    results, dead_count = runner.process_batch_counted(batch.records, known_dicts=True, fresh=batch.fresh)
    if dead_count:
        return _take_dead(results, batch, batch.dead)
    return results, None, batch.dead


def _write(
    runner: Runner, batch: InputBatch, writer: JsonLinesWriter, results: list, positions: list[int] | None,
    dead: list[DeadLetter], fail_fast: bool,
) -> list[DeadLetter]:
    """Write one batch's outputs; return its dead letters (decode, backend, encode) in input order."""
    failures = writer.write(results)
    if failures:
        dead = dead + _encode_dead(failures, batch, positions)
        runner.record_dead_letter("encode", len(failures))
        if fail_fast:
            _abort(dead[-1])
    return sorted(dead, key=_source_key) if dead else dead


def _take_dead(results: list, batch: InputBatch, dead: list[DeadLetter]) -> tuple[list, list[int], list[DeadLetter]]:
    """The outputs, their positions in the batch, and dead letters carrying original record and source."""
    outputs, positions, dead = [], [], list(dead)
    for index, result in enumerate(results):
        if type(result) is DeadLetter:
            dead.append(dead_letter(batch.original(index), result.step, result, source=batch.source(index)))
        else:
            outputs.append(result)
            positions.append(index)
    return outputs, positions, dead


def _encode_dead(failures: list[tuple[int, str, str]], batch: InputBatch, positions: list[int] | None) -> list:
    dead = []
    for index, error_type, message in failures:
        where = positions[index] if positions is not None else index
        dead.append(dead_letter(batch.original(where), "encode", error_type, message=message, source=batch.source(where)))
    return dead


def _source_key(dead: DeadLetter) -> int:
    return dead.source if isinstance(dead.source, int) else 0


def _abort(dead: DeadLetter) -> None:
    raise BatchFailedError(
        f"Record at {dead.source} failed in {dead.step}: {dead.message} (--on-error fail stops at the first failure)",
        dead,
        1,
    )
