"""The engine process behind ``--workers N``: real spawned processes killed by a real ``os._exit``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from packflow.runtime import Runner, is_dead_letter
from packflow.runtime.serve.engine import BackendProcess
from packflow.loaders.target import resolve_target

HERE = Path(__file__).resolve().parent


@pytest.fixture
def engine(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))  # spawned engines import serve_backends from here
    monkeypatch.setenv("PYTHONPATH", str(HERE) + ":" + ":".join(sys.path))
    process = BackendProcess(resolve_target("serve_backends:Exiting"), {})
    yield process
    process.close()


def _pid(engine: BackendProcess) -> int:
    return engine._proc.pid


def test_a_killer_in_a_batch_costs_two_deaths_and_the_second_swaps_in_the_spare(engine):
    """The batch dies (replacement and spare start side by side), the killer dies alone (the spare
    takes over): every innocent record is answered once, and no third engine start is waited for."""
    first = _pid(engine)
    records = [{"i": i} for i in range(8)]
    records[5] = {"i": 5, "raise": "kill"}
    results = Runner(engine, max_batch_size=8).process_batch(records)
    assert [r for i, r in enumerate(results) if i != 5] == [{"i": i} for i in range(8) if i != 5]
    assert is_dead_letter(results[5]) and results[5].error_type == "BackendProcessDied"
    assert engine.restarts == 2
    assert _pid(engine) != first and engine._spare is not None and engine._spare[0].is_alive()
    assert engine([{"i": 99}]) == [{"i": 99}]


def test_the_spare_serves_after_the_first_replacement_dies_too(engine):
    spare_pid = None
    for round_ in range(3):  # each death promotes the spare launched at the previous one
        with pytest.raises(Exception, match="backend process died") as info:
            engine([{"raise": "kill"}])
        assert type(info.value).__name__ == "BackendProcessDied"
        if spare_pid is not None:
            assert _pid(engine) == spare_pid
        spare_pid = engine._spare[0].pid
        assert engine([{"round": round_}]) == [{"round": round_}]
    assert engine.restarts == 3


def test_close_ends_the_engine_and_its_spare(engine):
    with pytest.raises(Exception, match="backend process died"):
        engine([{"raise": "kill"}])
    proc, spare = engine._proc, engine._spare[0]
    engine.close()
    assert not proc.is_alive() and not spare.is_alive()


def test_a_call_past_the_call_timeout_ends_the_engine_and_the_next_call_is_served(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.setenv("PYTHONPATH", str(HERE) + ":" + ":".join(sys.path))
    import time

    from packflow.runtime.serve.engine import BackendCallTimedOut

    engine = BackendProcess(resolve_target("serve_backends:Sleepy"), {}, call_timeout_s=1.0)
    try:
        hung = _pid(engine)
        start = time.monotonic()
        results = Runner(engine, max_batch_size=4).process_batch([{"i": 0}, {"sleep": 60}, {"i": 2}])
        assert time.monotonic() - start < 30  # not the 60 s the call would sleep
        assert all(is_dead_letter(r) and r.error_type == "BackendCallTimedOut" for r in results)  # not retried
        assert engine.restarts == 1 and _pid(engine) != hung
        assert engine([{"i": 3}]) == [{"i": 3}]
        with pytest.raises(BackendCallTimedOut, match="ran past 1 s"):
            engine([{"sleep": 60}])
    finally:
        engine.close()
