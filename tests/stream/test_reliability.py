"""``packflow stream`` end to end in child processes: scale, crashes, broker restarts, sharing, drain."""

from __future__ import annotations

import signal
import time
from collections import Counter

import orjson
import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]

BASE = ("--input-stream", "in", "--output-stream", "out", "--group", "g")


def _finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _delivered(r, h):
    """(Counter of input ids seen in outputs and dead letters, number of dead letters)."""
    outputs = h.output_ids(r, "out")
    dead = [f[b"id"] for _, f in h.read_all(r, "in:dead")]
    return Counter(outputs + dead), len(dead)


def test_100k_records_with_1_percent_poison_each_appear_exactly_once(r, redis_server, h, processes):
    ids = h.fill(r, "in", 100_000, poison_every=100)
    proc = h.stream_cli(redis_server.url, "stream_backends:Poison", *BASE, "--batch-size", "1000", "--exit-when-idle", "1")
    processes.append(proc)
    code, err = _finish(proc)
    assert code == 0, err
    seen, dead = _delivered(r, h)
    assert seen == Counter(ids)  # every input id exactly once in output ∪ dead letters
    assert dead == 1000
    assert "records: 100,000 in, 99,000 out, 1,000 dead-lettered (execute 1,000)" in err  # per-step summary
    assert "packflow stream: 100,000 records" in err and "stopped: idle for 1s" in err
    assert r.xpending("in", "g")["pending"] == 0


@pytest.mark.parametrize("restart_as", ["c1", "c2"], ids=["same-consumer", "other-consumer-reclaims"])
def test_kill_9_mid_batch_then_restart_loses_nothing(r, redis_server, h, processes, restart_as):
    ids = h.fill(r, "in", 20_000)
    env = {"PACKFLOW_TEST_DELAY_S": "0.03"}
    args = ("stream_backends:Poison", *BASE, "--batch-size", "500", "--claim-idle-ms", "500")
    first = h.stream_cli(redis_server.url, *args, "--consumer", "c1", env=env)
    processes.append(first)
    assert h.wait_for(lambda: r.exists("out") and r.xlen("out") >= 2000, timeout=60)
    assert h.wait_for(lambda: r.xpending("in", "g")["pending"] > 0, timeout=10)  # a batch is in flight
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert r.xpending("in", "g")["pending"] <= 500  # at most the batch that was in flight
    second = h.stream_cli(redis_server.url, *args, "--consumer", restart_as, "--exit-when-idle", "1.5", env=env)
    processes.append(second)
    code, err = _finish(second)
    assert code == 0, err
    seen, _ = _delivered(r, h)
    assert set(seen) == set(ids)  # no input id missing
    assert sum(seen.values()) - len(ids) <= 500  # duplicates: at most one batch
    assert r.xpending("in", "g")["pending"] == 0


def test_redis_restart_mid_run_resumes_and_loses_nothing(persistent_redis, h, processes):
    r = persistent_redis.client()
    ids = h.fill(r, "in", 20_000, poison_every=2000)
    proc = h.stream_cli(
        persistent_redis.url, "stream_backends:Poison", *BASE, "--batch-size", "200", "--exit-when-idle", "2",
        env={"PACKFLOW_TEST_DELAY_S": "0.005"},
    )  # fmt: skip
    processes.append(proc)
    assert h.wait_for(lambda: r.exists("out") and r.xlen("out") >= 2000, timeout=60)
    persistent_redis.process.send_signal(signal.SIGKILL)  # a crash, not a clean shutdown
    persistent_redis.process.wait()
    time.sleep(1.0)
    persistent_redis.start()
    r = persistent_redis.client()
    code, err = _finish(proc)
    assert code == 0, err
    assert "broker retries" in err
    seen, dead = _delivered(r, h)
    assert set(seen) == set(ids)
    assert sum(seen.values()) - len(ids) <= 200
    assert r.xpending("in", "g")["pending"] == 0


def test_two_consumers_in_one_group_share_the_work_without_overlap(r, redis_server, h, processes):
    r.xgroup_create("in", "g", id="0", mkstream=True)
    env = {"PACKFLOW_TEST_DELAY_S": "0.01"}
    args = ("stream_backends:Poison", *BASE, "--batch-size", "200", "--exit-when-idle", "3", "--claim-idle-ms", "60000")
    for name in ("a", "b"):
        processes.append(h.stream_cli(redis_server.url, *args, "--consumer", name, env=env))
    assert h.wait_for(lambda: len(r.xinfo_consumers("in", "g")) == 2, timeout=30)
    ids = h.fill(r, "in", 30_000, poison_every=1000)
    for proc in processes:
        code, err = _finish(proc)
        assert code == 0, err
    seen, _ = _delivered(r, h)
    assert seen == Counter(ids)  # nothing processed by both
    by_pid = Counter(orjson.loads(f[b"data"])["pid"] for _, f in h.read_all(r, "out"))
    assert len(by_pid) == 2 and min(by_pid.values()) >= 0.2 * sum(by_pid.values()), by_pid


def test_sigterm_finishes_and_acknowledges_the_current_batch_then_exits_0(r, redis_server, h, processes):
    ids = h.fill(r, "in", 1000)
    proc = h.stream_cli(
        redis_server.url, "stream_backends:Poison", *BASE, "--batch-size", "100",
        env={"PACKFLOW_TEST_DELAY_S": "1.0"},
    )  # fmt: skip
    processes.append(proc)
    assert h.wait_for(lambda: r.exists("in") and r.xinfo_groups("in") and r.xpending("in", "g")["pending"] > 0, timeout=30)
    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    code, err = _finish(proc, timeout=30)
    assert code == 0, err
    assert time.monotonic() - started < 5
    assert "stopped: SIGTERM" in err
    assert r.xpending("in", "g")["pending"] == 0  # the batch in flight was written and acknowledged
    written = h.output_ids(r, "out")
    assert len(written) >= 100 and len(written) % 100 == 0
    assert written == ids[: len(written)]
    assert r.xinfo_groups("in")[0]["lag"] == len(ids) - len(written)  # the rest is left for later


def test_cli_start_errors_exit_2_with_a_message(h, tmp_path):
    dead_url = "redis://127.0.0.1:1/0"
    proc = h.stream_cli(dead_url, "stream_backends:Identity", *BASE)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Cannot reach Redis" in err and "--redis-url" in err
    proc = h.stream_cli(dead_url, "stream_backends:Identity", *BASE, "--config", "[1]")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--config must be a JSON object" in err
    proc = h.stream_cli("redis://127.0.0.1:1/0", "no_such_module_here:X", *BASE)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Error:" in err


def test_an_output_key_that_is_not_a_stream_is_refused_at_start(r, redis_server, h):
    r.set("out", "a string")
    r.xadd("in", {"data": b"{}"})
    proc = h.stream_cli(redis_server.url, "stream_backends:Identity", *BASE, "--exit-when-idle", "0.5")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--output-stream 'out' exists and holds a Redis string" in err
    assert r.xinfo_groups("in")[0]["pending"] == 0  # nothing was read, so nothing can be lost
