"""Backends with controllable failures, and a checker for the one-result-per-input guarantee."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from packflow import InferenceBackend
from packflow.runtime import DeadLetter, is_dead_letter


class Doubler(InferenceBackend):
    """Outputs {"id", "y": 2x}; raises in execute when a batch holds a record with "poison"."""

    def execute(self, inputs: list[dict]) -> list[dict]:
        for record in inputs:
            if record.get("poison"):
                raise ValueError(f"poison record id={record['id']}")
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]


class SaysWhere(InferenceBackend):
    """Like Doubler, but the exception names the failing record (``record_index``)."""

    def execute(self, inputs: list[dict]) -> list[dict]:
        for index, record in enumerate(inputs):
            if record.get("poison"):
                error = ValueError(f"poison record id={record['id']}")
                error.record_index = index  # type: ignore[attr-defined]
                raise error
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]


class TooFew(InferenceBackend):
    """Drops the last output of every batch."""

    def execute(self, inputs: list[dict]) -> list[dict]:
        return [{"id": r["id"]} for r in inputs][:-1]


class Filtering(InferenceBackend):
    """Leaves out records marked "drop" (returns fewer outputs than inputs for such batches)."""

    def execute(self, inputs: list[dict]) -> list[dict]:
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs if not r.get("drop")]


class BadOutputs(InferenceBackend):
    """transform_outputs raises when a batch holds a record marked "bad_out"."""

    def execute(self, inputs: list[dict]) -> list[dict]:
        return inputs

    def transform_outputs(self, outputs: list[dict]) -> list[dict]:
        for record in outputs:
            if record.get("bad_out"):
                raise KeyError(f"cannot format record id={record['id']}")
        return [{"id": r["id"], "y": 2 * r["x"]} for r in outputs]


class NotDicts(InferenceBackend):
    """Returns a number instead of a dict for records marked "scalar"."""

    def execute(self, inputs: list[dict]) -> list[Any]:
        return [42 if r.get("scalar") else {"id": r["id"]} for r in inputs]


def make_records(n: int, **marks: list[int]) -> list[dict]:
    """``n`` records {"id": i, "x": i}; ``poison=[3, 5]`` marks records 3 and 5 with poison=True."""
    records = [{"id": i, "x": i} for i in range(n)]
    for flag, positions in marks.items():
        for i in positions:
            records[i][flag] = True
    return records


def check_results(records: list[dict], results: list, dead: dict[int, tuple[str, str]]) -> None:
    """Exactly one result per input, in order: outputs for ids not in ``dead``, else a dead letter
    carrying the very same record, the given step and a message containing the given text."""
    assert len(results) == len(records)
    for index, (record, result) in enumerate(zip(records, results)):
        if index in dead:
            step, text = dead[index]
            assert is_dead_letter(result), f"record {index} should be dead-lettered, got {result!r}"
            assert result.record is record
            assert result.step == step
            assert text in result.message, result.message
        else:
            assert isinstance(result, dict) and not isinstance(result, DeadLetter), f"record {index}: {result!r}"
            assert result["id"] == record["id"]


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The backends and helpers above (test modules cannot import conftest under importlib mode)."""
    return SimpleNamespace(
        Doubler=Doubler, SaysWhere=SaysWhere, TooFew=TooFew, Filtering=Filtering, BadOutputs=BadOutputs,
        NotDicts=NotDicts, make_records=make_records, check_results=check_results,
    )
