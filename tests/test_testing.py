"""packflow.testing: the conformance checks pass on a good backend and each fails on a broken one."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import pytest

from packflow import InferenceBackend
from packflow.backend.metrics import ExecutionMetrics, ExecutionTimes
from packflow.testing import (
    CHECKS,
    BackendCheckError,
    check_backend,
    check_batch_matches_single_calls,
    check_contract,
    check_inputs_not_mutated,
    check_metrics,
    check_ready,
    check_rejects_non_records,
    check_single_record_call,
    parametrize_backend_checks,
)

SAMPLES = [{"x": 1, "tags": ["a"]}, {"x": 2, "tags": []}, {"x": 3, "tags": ["b", "c"]}]


class Good(InferenceBackend):
    def execute(self, inputs: list[dict]) -> list[dict]:
        return [{"y": r["x"] * 2, "n_tags": len(r["tags"])} for r in inputs]


class NotSerialisable(Good):
    def transform_outputs(self, outputs: list[dict]) -> list[dict]:
        return [{"y": object()} for _ in outputs]


class CountsCalls(Good):
    calls = itertools.count()

    def transform_outputs(self, outputs: list[dict]) -> list[dict]:
        return [{**o, "call": next(self.calls)} for o in outputs]


class DependsOnBatch(Good):
    def transform_outputs(self, outputs: list[dict]) -> list[dict]:
        return [{**o, "batch": len(outputs)} for o in outputs]


class Mutates(Good):
    def transform_inputs(self, inputs: list[dict]) -> list[dict]:
        for record in inputs:
            record["tags"].append("seen")
        return inputs


class LyingMetrics(Good):
    def get_metrics(self) -> ExecutionMetrics:
        return ExecutionMetrics(batch_size=0, execution_times=ExecutionTimes(preprocess=-1.0, execute=0.0))


class NeverReady(Good):
    def ready(self) -> bool:
        return False


class AcceptsAnything(Good):
    def __call__(self, inputs: Any) -> Any:  # overriding __call__ is exactly what the check catches
        if isinstance(inputs, str):
            return {"y": inputs}
        return super().__call__(inputs)


BROKEN: list[tuple[Callable[..., None], type[InferenceBackend], str]] = [
    (check_contract, NotSerialisable, "not JSON-serialisable"),
    (check_single_record_call, CountsCalls, "backend([record])[0]"),
    (check_batch_matches_single_calls, DependsOnBatch, "batch neighbours"),
    (check_inputs_not_mutated, Mutates, "modified its input records"),
    (check_metrics, LyingMetrics, "batch_size is 0, expected 3"),
    (check_ready, NeverReady, "falsy"),
    (check_rejects_non_records, AcceptsAnything, "accepted a str"),
]


def test_every_check_is_exercised_by_a_broken_backend() -> None:
    assert {check for check, _, _ in BROKEN} == set(CHECKS)


@pytest.mark.parametrize(("check", "cls", "why"), BROKEN, ids=[c.__name__ for c, _, _ in BROKEN])
def test_check_fails_on_broken_backend_and_passes_on_good_one(check: Callable[..., None], cls: type, why: str) -> None:
    check(Good(), SAMPLES)
    with pytest.raises(BackendCheckError) as info:
        check(cls(), SAMPLES)
    assert str(info.value).startswith(f"{check.__name__}: ") and why in str(info.value)
    assert isinstance(info.value, AssertionError)


def test_check_backend_lists_all_failures_at_once() -> None:
    check_backend(Good(), SAMPLES)

    class TwoProblems(Mutates):
        def ready(self) -> bool:
            return False

    with pytest.raises(BackendCheckError) as info:
        check_backend(TwoProblems(), SAMPLES)
    assert "2 conformance check(s) failed" in str(info.value)
    assert "check_inputs_not_mutated" in str(info.value) and "check_ready" in str(info.value)
    with pytest.raises(ValueError, match="at least one sample"):
        check_backend(Good(), [])


@parametrize_backend_checks(Good, SAMPLES)
def test_parametrize_backend_checks_gives_one_test_per_check(check: Callable[[], None]) -> None:
    check()
