"""Per-record isolation: every input gets one output or one dead letter, in order."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packflow import InferenceBackend
from packflow.runtime import BatchFailedError, Runner, is_dead_letter


@pytest.mark.parametrize("positions", [[0], [7], [15], [0, 15], [2, 3, 4], [1, 8, 9, 14]],
                         ids=["start", "middle", "end", "both-ends", "adjacent", "several"])
def test_poison_records_anywhere_are_isolated(kit, positions):
    records = kit.make_records(16, poison=positions)
    runner = Runner(kit.Doubler(), max_batch_size=16)
    results = runner.process_batch(records)
    kit.check_results(records, results, {i: ("execute", f"poison record id={i}") for i in positions})
    assert [r["y"] for r in results if not is_dead_letter(r)] == [2 * i for i in range(16) if i not in positions]
    dead = results[positions[0]]
    assert dead.error_type == "ValueError"
    assert "on record 0" not in dead.message


def test_all_records_bad(kit):
    records = kit.make_records(9, poison=list(range(9)))
    results = Runner(kit.Doubler(), max_batch_size=9).process_batch(records)
    kit.check_results(records, results, {i: ("execute", f"id={i}") for i in range(9)})


def test_a_whole_large_batch_of_bad_records_does_not_recurse(kit):
    records = kit.make_records(3000, poison=list(range(3000)))
    runner = Runner(kit.SaysWhere(), max_batch_size=3000)
    results = runner.process_batch(records)
    assert all(is_dead_letter(r) for r in results)
    assert runner.snapshot().dead_letters == 3000


def test_backend_returning_too_few_outputs_dead_letters_each_record(kit):
    records = kit.make_records(5)
    results = Runner(kit.TooFew(), max_batch_size=5).process_batch(records)
    kit.check_results(records, results, {i: ("output-contract", "returned 0 outputs for a batch of 1") for i in range(5)})
    assert results[0].error_type == "OutputContractError"


def test_backend_dropping_some_records_only_loses_those(kit):
    records = kit.make_records(12, drop=[3, 10])
    results = Runner(kit.Filtering(), max_batch_size=12).process_batch(records)
    kit.check_results(records, results, {3: ("output-contract", "0 outputs"), 10: ("output-contract", "0 outputs")})
    assert [r["y"] for r in results if not is_dead_letter(r)] == [2 * i for i in range(12) if i not in (3, 10)]


def test_transform_outputs_failing_for_some_records(kit):
    records = kit.make_records(10, bad_out=[0, 6])
    results = Runner(kit.BadOutputs(), max_batch_size=10).process_batch(records)
    kit.check_results(records, results, {0: ("transform_outputs", "cannot format record id=0"),
                                         6: ("transform_outputs", "cannot format record id=6")})
    assert results[6].error_type == "KeyError"


def test_non_dict_output_is_an_output_contract_dead_letter_without_retries(kit):
    records = kit.make_records(6, scalar=[2])
    runner = Runner(kit.NotDicts(), max_batch_size=6)
    results = runner.process_batch(records)
    kit.check_results(records, results, {2: ("output-contract", "returned a int for this record")})
    assert runner.snapshot().backend_calls == 1


def test_bisection_cost_is_logarithmic(kit):
    records = kit.make_records(1000, poison=[617])
    runner = Runner(kit.Doubler(), max_batch_size=1000)
    runner.process_batch(records)
    snap = runner.snapshot()
    assert snap.backend_calls <= 1 + 2 * math.ceil(math.log2(1000))
    assert snap.isolation_calls == snap.backend_calls - 1
    assert (snap.records_out, snap.dead_letters) == (999, 1)


def test_failure_naming_its_record_is_isolated_in_a_few_calls(kit):
    records = kit.make_records(1000, poison=[617])
    runner = Runner(kit.SaysWhere(), max_batch_size=1000)
    results = runner.process_batch(records)
    kit.check_results(records, results, {617: ("execute", "id=617")})
    assert runner.snapshot().backend_calls == 4  # the batch, [0, 617), [617], [618, 1000)


class _Expensive(RuntimeError):
    """A failure whose every attempt is costly (like serve's BackendProcessDied)."""

    isolate_one_by_one = True


class _Crashes(InferenceBackend):
    """Raises ``error`` for any batch holding a poison record; logs the size of each failed call."""

    def __init__(self, error: type[Exception], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.error, self.failed = error, []

    def execute(self, inputs: list[dict]) -> list[dict]:
        if any(r.get("poison") for r in inputs):
            self.failed.append(len(inputs))
            raise self.error("the process died")
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]


def test_an_expensive_failure_is_retried_one_record_at_a_time(kit):
    """k + 1 failed calls for k bad records, where bisection fails about k·log2(n/k) + 1 times."""
    records = kit.make_records(64, poison=[5, 40])
    expensive, cheap = _Crashes(_Expensive), _Crashes(RuntimeError)
    runner = Runner(expensive, max_batch_size=64)
    results = runner.process_batch(records)
    kit.check_results(records, results, {5: ("execute", "the process died"), 40: ("execute", "the process died")})
    assert expensive.failed == [64, 1, 1]  # the batch, then each killer alone
    assert runner.snapshot().backend_calls == 1 + 64
    bisected = Runner(cheap, max_batch_size=64).process_batch(records)
    assert [r for r in bisected if not is_dead_letter(r)] == [r for r in results if not is_dead_letter(r)]
    assert len(cheap.failed) == 13  # bisection: 64, both 32s, then 16, 8, 4, 2, 1 towards each killer


class _Pointless(TimeoutError):
    isolate_no_retry = True


def test_a_failure_retrying_cannot_help_dead_letters_the_call_without_more_calls(kit):
    records = kit.make_records(10, poison=[4])
    backend = _Crashes(_Pointless)
    runner = Runner(backend, max_batch_size=10)
    results = runner.process_batch(records)
    kit.check_results(records, results, {i: ("execute", "the process died") for i in range(10)})
    assert backend.failed == [10] and runner.snapshot().backend_calls == 1


def test_on_error_fail_raises_with_the_failure(kit):
    runner = Runner(kit.Doubler(), max_batch_size=8, on_error="fail")
    with pytest.raises(BatchFailedError, match="A batch of 8 records failed in execute") as info:
        runner.process_batch(kit.make_records(8, poison=[5]))
    assert info.value.size == 8
    assert info.value.dead_letter.error_type == "ValueError"
    assert runner.process_batch(kit.make_records(3))[2] == {"id": 2, "y": 4}


def test_dead_letters_are_json_serialisable(kit):
    records = kit.make_records(4, poison=[1])
    dead = Runner(kit.Doubler()).process_batch(records)[1].with_source(42)
    data = json.loads(json.dumps(dead.to_dict()))
    assert data["record"] == {"id": 1, "x": 1, "poison": True}
    assert data["step"] == "execute" and data["source"] == 42
    assert data["timestamp"].endswith("Z") and "T" in data["timestamp"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n=st.integers(1, 80), where=st.booleans())
def test_property_exactly_the_poison_records_are_dead_lettered(kit, data, n, where):
    positions = sorted(data.draw(st.sets(st.integers(0, n - 1), max_size=n)))
    records = kit.make_records(n, poison=positions)
    runner = Runner(kit.SaysWhere() if where else kit.Doubler(), max_batch_size=n)
    results = runner.process_batch(records)
    kit.check_results(records, results, {i: ("execute", f"id={i}") for i in positions})
    snap = runner.snapshot()
    assert (snap.records_in, snap.records_out, snap.dead_letters) == (n, n - len(positions), len(positions))
    k = len(positions)
    if k and not where:
        assert snap.backend_calls <= 1 + 2 * k * max(1, math.ceil(math.log2(n)))
    if where:
        assert snap.backend_calls <= 1 + 3 * k


FAILURES = {  # flag -> (step the dead letter must name, text its message must contain)
    "poison": ("execute", "poison record"),
    "drop": ("output-contract", "0 outputs for a batch of 1"),
    "bad_out": ("transform_outputs", "cannot format record"),
    "scalar": ("output-contract", "returned a int for this record"),
}


class Chaos(InferenceBackend):
    """Fails in a different way for each flag in FAILURES."""

    def execute(self, inputs):
        if any(r.get("poison") for r in inputs):
            raise ValueError("poison record")
        return [r for r in inputs if not r.get("drop")]

    def transform_outputs(self, outputs):
        if any(r.get("bad_out") for r in outputs):
            raise RuntimeError("cannot format record")
        return [42 if r.get("scalar") else {"id": r["id"]} for r in outputs]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=st.lists(st.sampled_from([None, None, None, *FAILURES]), min_size=1, max_size=60),
       batch=st.integers(1, 64))
def test_property_mixed_failures_each_get_their_own_step(kit, flags, batch):
    records = [{"id": i, **({flag: True} if flag else {})} for i, flag in enumerate(flags)]
    runner = Runner(Chaos(), max_batch_size=batch)
    results = runner.process_batch(records)
    kit.check_results(records, results, {i: FAILURES[f] for i, f in enumerate(flags) if f})
    snap = runner.snapshot()
    assert snap.records_out == flags.count(None)
    assert sum(snap.dead_letters_by_step.values()) == len(flags) - flags.count(None)
