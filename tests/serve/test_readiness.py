"""Readiness across workers: a worker reads the other workers' reports (live, fresh, per model)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from packflow.runtime.serve.readiness import WorkerReadiness, forget_worker


@pytest.fixture
def peer_process():
    """A live process standing in for another worker (its pid names the peer's report)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def as_worker(folder, pid: int) -> WorkerReadiness:
    worker = WorkerReadiness(str(folder), 2, ready_timeout_s=1.0)
    worker.pid, worker.path, worker.mark = pid, folder / f"verdicts-{pid}.json", folder / f"ready-{pid}"
    return worker


def test_a_model_is_ready_only_when_every_other_live_worker_reports_it_ready(tmp_path, peer_process):
    me = WorkerReadiness(str(tmp_path), 2, ready_timeout_s=1.0)
    assert me.others("m") == (False, "1 of 2 workers have reported this model")
    peer = as_worker(tmp_path, peer_process.pid)
    peer.publish("other", True, "ready")
    assert me.others("m") == (False, f"worker pid {peer_process.pid} has not loaded this model yet")
    peer.publish("m", False, "backend.ready() returned False")
    assert me.others("m") == (False, f"worker pid {peer_process.pid}: backend.ready() returned False")
    peer.publish("m", True, "ready")
    assert me.others("m") == (True, "ready") and me.others("other") == (True, "ready")
    me.stale_s = -1.0  # every report is now too old: that worker cannot answer
    assert me.others("m")[1].startswith(f"worker pid {peer_process.pid} has not reported for")


def test_reports_of_dead_or_stopping_workers_do_not_count(tmp_path, peer_process):
    me = WorkerReadiness(str(tmp_path), 2, ready_timeout_s=1.0)
    peer = as_worker(tmp_path, peer_process.pid)
    peer.publish("m", True, "ready")
    assert me.others("m") == (True, "ready")
    peer_process.kill()
    peer_process.wait()
    assert me.others("m") == (False, "1 of 2 workers have reported this model")
    forget_worker(str(tmp_path), peer_process.pid)
    assert not peer.path.exists()


def test_the_loaded_mark_waits_for_every_model_and_withdraw_removes_the_reports(tmp_path):
    me = WorkerReadiness(str(tmp_path), 2, ready_timeout_s=1.0)
    me.expect("a")
    me.expect("b")
    me.loaded("a")
    assert not me.mark.exists()  # the launcher must not think this worker started while "b" may still fail
    me.loaded("b")
    me.publish("a", True, "ready")
    assert me.mark.exists() and me.path.exists()
    me.withdraw()
    me.publish("a", False, "the server is shutting down")
    assert not me.mark.exists() and not me.path.exists()
