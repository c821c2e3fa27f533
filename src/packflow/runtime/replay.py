"""Dead-letter replay: re-run the original records of dead letters through a (fixed) backend.

A dead letter carries the record as it was received, so replaying one is running that record
again. Every recovered output and every still-failing record keeps a reference to where its dead
letter came from (``replay_of``: the file or stream, the line or entry id, and the original
``source`` the first driver recorded), so a replay of a replay still points at the first input.

Accepted dead-letter shapes (one JSON object per line, or entries of a Redis stream):

- ``packflow run`` (also ``--engine ray|spark``) and ``replay`` itself:
  ``{"record", "step", "error_type", "message", "timestamp", "source"?}``;
- Ray/Spark ``split_results`` written as JSON lines: the same keys, ``record`` as JSON text;
- ``packflow stream``'s dead-letter stream: ``{"data", "id", "step", "error_type", "reason"}``.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
from typing import Any, Callable, Iterable, Iterator

from packflow.exceptions import PackflowError
from packflow.runtime.codec import decode as loads
from packflow.runtime.deadletter import DeadLetter

__all__ = ["ReplayComparison", "ReplayInputError", "ReplayItem", "parse_dead_letter", "replay"]


class ReplayInputError(PackflowError, ValueError):
    """A line or entry given to replay is not a dead letter."""


@dataclasses.dataclass(frozen=True)
class ReplayItem:
    """One dead letter to replay: the original record, why it failed, and where the letter came from."""

    record: Any
    step: str
    error_type: str
    replay_of: dict[str, Any]


def parse_dead_letter(data: Any, origin: str, position: Any) -> ReplayItem:
    """The :class:`ReplayItem` of one decoded dead letter (``position``: its line or entry id)."""
    if not isinstance(data, dict) or "step" not in data or not ({"record", "data"} & data.keys()):
        raise ReplayInputError(
            f"{origin} at {position}: expected a dead letter (a JSON object with 'record' or 'data', and "
            f"'step'), got {_preview(data)}. Give replay the dead-letter file of run or stream, not their input."
        )
    earlier = data.get("source")
    if isinstance(earlier, dict) and "origin" in earlier:  # a replay's dead letter: keep the first source
        replay_of = dict(earlier)
    else:
        replay_of = {"origin": origin, "position": position}
        if earlier is not None:
            replay_of["source"] = earlier
        elif "id" in data:
            replay_of["source"] = data["id"]
    record = data["record"] if "record" in data else data["data"]
    return ReplayItem(_decoded(record), str(data["step"]), str(data.get("error_type", "")), replay_of)


def _decoded(record: Any) -> Any:
    """Records kept as JSON text (stream payloads, Ray/Spark columns, decode failures) are decoded."""
    if isinstance(record, (str, bytes)):
        try:
            return loads(record)
        except ValueError:
            return record  # still not JSON: it will fail again, in step "decode"
    return record


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def iter_dead_letter_lines(lines: Iterable[bytes], origin: str) -> Iterator[ReplayItem]:
    """Replay items from JSON lines (blank lines skipped); line numbers start at 1."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = loads(line)
        except ValueError as exc:
            raise ReplayInputError(f"{origin} line {number} is not JSON ({exc}); expected one dead letter per line.") from exc
        yield parse_dead_letter(data, origin, number)


@dataclasses.dataclass
class ReplayComparison:
    """Per original (step, error type): how many replayed records were fixed, failed the same way, or
    failed differently; and the new failures by (step, error type)."""

    before: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    fixed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    same: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    changed: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    new: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add(self, item: ReplayItem, result: Any) -> None:
        """Count one replayed record."""
        old = (item.step, item.error_type)
        self.before[old] += 1
        if type(result) is not DeadLetter:
            self.fixed[old] += 1
        elif (result.step, result.error_type) == old:
            self.same[old] += 1
        else:
            self.changed[old] += 1
            self.new[(result.step, result.error_type)] += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: one row per original failure, and the new failures."""
        rows = [
            {"step": step, "error_type": etype, "records": count, "fixed": self.fixed[(step, etype)],
             "still_failing": self.same[(step, etype)], "failing_differently": self.changed[(step, etype)]}
            for (step, etype), count in sorted(self.before.items())
        ]
        new = [{"step": s, "error_type": t, "records": n} for (s, t), n in sorted(self.new.items())]
        return {"by_original_failure": rows, "new_failures": new}


def replay(
    process: Callable[[list], list],
    items: Iterable[ReplayItem],
    on_output: Callable[[dict[str, Any]], None],
    on_dead: Callable[[DeadLetter], None],
    batch_size: int = 256,
) -> ReplayComparison:
    """Run each item's record through ``process`` (e.g. ``Runner.process_batch``) in batches.

    Outputs reach ``on_output`` as ``{"output": record, "replay_of": {...}}``; records that fail
    again reach ``on_dead`` as dead letters whose ``source`` is the same ``replay_of`` reference.
    """
    comparison = ReplayComparison()
    batch: list[ReplayItem] = []
    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            _replay_batch(process, batch, on_output, on_dead, comparison)
            batch = []
    if batch:
        _replay_batch(process, batch, on_output, on_dead, comparison)
    return comparison


def _replay_batch(process: Callable[[list], list], batch: list[ReplayItem], on_output: Callable[[dict], None],
                  on_dead: Callable[[DeadLetter], None], comparison: ReplayComparison) -> None:
    runnable = [i for i, item in enumerate(batch) if isinstance(item.record, dict)]
    results: list[Any] = [None if isinstance(item.record, dict) else _undecodable(item) for item in batch]
    # Replay is not a hot path: the backend gets copies, so dead letters keep the records as they were.
    for i, result in zip(runnable, process([copy.deepcopy(batch[i].record) for i in runnable])):
        results[i] = result
    for item, result in zip(batch, results):
        comparison.add(item, result)
        if type(result) is DeadLetter:
            on_dead(DeadLetter(item.record, result.step, result.error_type, result.message, source=item.replay_of))
        else:
            on_output({"output": result, "replay_of": item.replay_of})


def _undecodable(item: ReplayItem) -> DeadLetter:
    kind = type(item.record).__name__
    return DeadLetter(item.record, "decode", "DecodeError",
                      f"the dead letter's record is a {kind}, not a JSON object; fix the record by hand to replay it")
