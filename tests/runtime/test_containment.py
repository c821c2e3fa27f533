"""Runner-level guarantees: anything backend code raises stays a per-record error, a bogus
``record_index`` falls back to bisection, and retries/dead letters use the records as received."""

from __future__ import annotations

import copy
import sys
import threading

import pytest

from packflow import InferenceBackend
from packflow.runtime import DeadLetter, Runner
from packflow.runtime import shutdown
from tests.runtime.conftest import make_records


class Raises(InferenceBackend):
    """Raises ``self.error()`` in ``self.where`` when a batch holds a record marked "poison"."""

    def __init__(self, error, where: str = "execute", **kwargs) -> None:
        self.error, self.where = error, where
        super().__init__(**kwargs)

    def _maybe(self, records):
        if any(r.get("poison") for r in records):
            raise self.error()
        return records

    def execute(self, inputs):
        inputs = self._maybe(inputs) if self.where == "execute" else inputs
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]

    def transform_outputs(self, outputs):
        if self.where == "transform_outputs" and any(r["id"] == 3 for r in outputs):
            raise self.error()
        return outputs


def _outcome(results):
    return [(r.step, r.error_type) if type(r) is DeadLetter else r for r in results]


@pytest.mark.parametrize("error", [lambda: SystemExit(3), GeneratorExit, lambda: SystemExit("bye")])
def test_system_exit_and_friends_from_backend_code_are_per_record_errors(error):
    runner = Runner(Raises(error), max_batch_size=8)
    results = runner.process_batch(make_records(8, poison=[3]))
    name = type(error()).__name__
    assert _outcome(results) == [{"id": i, "y": 2 * i} if i != 3 else ("execute", name) for i in range(8)]
    assert "must not exit or interrupt the process" in results[3].message


def test_the_step_that_raised_system_exit_is_named():
    results = Runner(Raises(lambda: SystemExit(1), where="transform_outputs")).process_batch(make_records(5))
    assert _outcome(results)[3] == ("transform_outputs", "SystemExit")
    assert [r["id"] for r in results if type(r) is dict] == [0, 1, 2, 4]


def test_keyboard_interrupt_on_a_backend_thread_is_contained():
    out: list = []
    worker = threading.Thread(target=lambda: out.extend(Runner(Raises(KeyboardInterrupt)).process_batch(
        make_records(4, poison=[0]))))
    worker.start()
    worker.join(10)
    assert _outcome(out)[0] == ("execute", "KeyboardInterrupt") and len(out) == 4


def test_keyboard_interrupt_on_the_main_thread_is_contained_when_a_driver_handles_sigint():
    import signal

    previous = signal.signal(signal.SIGINT, lambda *_: shutdown.request_shutdown())
    try:
        results = Runner(Raises(KeyboardInterrupt)).process_batch(make_records(4, poison=[2]))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert _outcome(results)[2] == ("execute", "KeyboardInterrupt") and len(results) == 4


def test_a_real_shutdown_propagates():
    shutdown.request_shutdown()
    try:
        with pytest.raises(SystemExit):
            Runner(Raises(lambda: SystemExit(0))).process_batch(make_records(4, poison=[1]))
    finally:
        shutdown.clear_shutdown()


def test_ctrl_c_in_a_plain_script_on_the_main_thread_propagates():
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ray/Spark may have replaced it
    try:
        with pytest.raises(KeyboardInterrupt):
            Runner(Raises(KeyboardInterrupt)).process_batch(make_records(4, poison=[1]))
    finally:
        signal.signal(signal.SIGINT, previous)


class PointsAt(InferenceBackend):
    """Names a bogus ``record_index`` on the error for a batch holding the poison record."""

    def __init__(self, index, **kwargs) -> None:
        self.index = index
        super().__init__(**kwargs)

    def execute(self, inputs):
        if any(r.get("poison") for r in inputs):
            error = ValueError("poison")
            error.record_index = self.index  # type: ignore[attr-defined]
            raise error
        return [{"id": r["id"]} for r in inputs]


@pytest.mark.parametrize("index", ["3", 2.0, True, None, -1, 99, 10**30, [1]])
def test_a_record_index_that_is_not_a_valid_int_falls_back_to_bisection(index):
    runner = Runner(PointsAt(index), max_batch_size=16)
    results = runner.process_batch(make_records(16, poison=[5]))
    assert [type(r) is DeadLetter for r in results] == [i == 5 for i in range(16)]
    assert results[5].error_type == "ValueError" and [r["id"] for r in results if type(r) is dict] == [
        i for i in range(16) if i != 5]


class Mutates(InferenceBackend):
    """Doubles ``x`` in place (a contract violation) and fails on the poison record."""

    def execute(self, inputs):
        for record in inputs:
            record["x"] *= 2
            record.setdefault("seen", 0)
            record["seen"] += 1
        if any(r.get("poison") for r in inputs):
            raise ValueError("poison")
        return [{"id": r["id"], "x": r["x"]} for r in inputs]


def test_with_fresh_copies_retries_and_dead_letters_see_the_records_as_received():
    received = make_records(8, poison=[6])
    records = copy.deepcopy(received)
    results = Runner(Mutates()).process_batch_counted(
        records, fresh=lambda lo, hi: copy.deepcopy(received[lo:hi]))[0]
    assert [r for r in results if type(r) is dict] == [{"id": i, "x": 2 * i} for i in range(8) if i != 6]
    assert results[6].record == received[6]


def test_fresh_copies_follow_chunking_of_a_large_batch():
    received = make_records(10, poison=[7])
    results = Runner(Mutates(), max_batch_size=4).process_batch_counted(
        copy.deepcopy(received), fresh=lambda lo, hi: copy.deepcopy(received[lo:hi]))[0]
    assert results[7].record == received[7]
    assert [r["x"] for r in results if type(r) is dict] == [2 * i for i in range(10) if i != 7]


def test_without_fresh_copies_a_mutating_backend_corrupts_retries():
    """Why drivers pass ``fresh``: the record objects themselves were changed by the failed call."""
    results = Runner(Mutates()).process_batch(make_records(8, poison=[6]))
    assert results[1]["x"] == 4  # record 1 (x=1) was doubled by the failed call, then again by its retry


def test_max_wait_ms_must_be_a_finite_number():
    for bad in (float("inf"), float("nan"), -1):
        with pytest.raises(ValueError, match="max_wait_ms"):
            Runner(Mutates(), max_wait_ms=bad)


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("signals")
