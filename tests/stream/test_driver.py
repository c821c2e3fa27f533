"""The Redis stream driver in-process against a real redis-server: formats, modes, limits, recovery."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections import Counter

import orjson
import pytest

pytestmark = pytest.mark.redis


def _run(driver):
    return driver.run()


def test_dead_letters_carry_payload_id_step_and_reason(r, redis_server, h):
    ids = h.fill(r, "in", 10, poison_every=5)
    bad = r.xadd("in", {"data": b"{oops"})
    flat = r.xadd("in", {"name": "ada", "n": "3"})
    driver = h.make_driver(redis_server.url)
    stats = _run(driver)
    assert (stats.records, stats.outputs, stats.dead_letters) == (12, 9, 3)
    dead = {f[b"id"]: f for _, f in h.read_all(r, "in:dead")}
    assert set(dead) == {ids[4], ids[9], bad}
    poisoned = dead[ids[4]]
    assert orjson.loads(poisoned[b"data"]) == {"i": 4, "poison": True}
    assert poisoned[b"step"] == b"execute" and poisoned[b"error_type"] == b"ValueError"
    assert b"poison record 4" in poisoned[b"reason"] and poisoned[b"timestamp"].endswith(b"Z")
    assert dead[bad][b"data"] == b"{oops" and dead[bad][b"step"] == b"decode"
    assert b"not valid JSON" in dead[bad][b"reason"]
    outputs = {f[b"id"]: orjson.loads(f[b"data"]) for _, f in h.read_all(r, "out")}
    assert outputs[flat]["name"] == "ada" and outputs[flat]["n"] == "3"
    assert outputs[ids[0]]["i"] == 0
    assert r.xpending("in", "g")["pending"] == 0
    snap = driver.runner.snapshot()
    assert snap.dead_letters_by_step == {"execute": 2, "decode": 1}


def test_backpressure_keeps_at_most_max_pending_unacknowledged(r, redis_server, h, background, monkeypatch):
    monkeypatch.setenv("PACKFLOW_TEST_DELAY_S", "0.01")
    h.fill(r, "in", 300)
    r.xgroup_create("in", "g", id="0")
    driver = h.make_driver(redis_server.url, batch_size=100, max_pending=10)
    seen = []
    thread = background(driver)
    while thread.is_alive():
        seen.append(r.xpending("in", "g")["pending"])
        time.sleep(0.002)
    thread.join()
    assert driver.stats.records == 300 and max(seen) > 0
    assert max(seen) <= 10
    assert driver.runner.snapshot().batch_sizes["16"] == 30  # every batch held 10 records (bucket 9..16)


def test_output_maxlen_caps_the_output_stream_but_not_dead_letters(r, redis_server, h):
    h.fill(r, "in", 5000, poison_every=10)
    driver = h.make_driver(redis_server.url, batch_size=500, maxlen=300)
    _run(driver)
    assert driver.stats.outputs == 4500
    assert 300 <= r.xlen("out") < 1000
    assert r.xlen("in:dead") == 500


def test_batch_output_mode_writes_one_entry_per_batch_with_aligned_ids(r, redis_server, h):
    ids = h.fill(r, "in", 250, poison_every=50)
    driver = h.make_driver(redis_server.url, batch_size=100, output_mode="batch")
    _run(driver)
    entries = h.read_all(r, "out")
    assert len(entries) == 3
    seen = []
    for _, fields in entries:
        data, batch_ids = orjson.loads(fields[b"data"]), orjson.loads(fields[b"ids"])
        assert len(data) == len(batch_ids) == int(fields[b"count"])
        for record, entry_id in zip(data, batch_ids):
            assert ids[record["i"]] == entry_id.encode()
        seen.extend(batch_ids)
    assert len(seen) == 245 and r.xlen("in:dead") == 5


def test_batch_input_mode_reads_packed_entries(r, redis_server, h):
    entry_ids = []
    for e in range(20):
        records = [{"i": e * 50 + k, "poison": k == 7} for k in range(50)]
        entry_ids.append(r.xadd("in", {"data": orjson.dumps(records)}))
    mixed = r.xadd("in", {"data": orjson.dumps([{"i": -1}, 5, "x"])})
    broken = r.xadd("in", {"data": b"[{"})
    driver = h.make_driver(redis_server.url, batch_size=200, input_mode="batch", output_mode="batch")
    _run(driver)
    outputs = h.output_ids(r, "out")
    dead = [f[b"id"] for _, f in h.read_all(r, "in:dead")]
    assert len(outputs) == 20 * 49 + 1 and len(set(outputs)) == len(outputs)
    assert entry_ids[0] + b"#0" in outputs and entry_ids[0] + b"#7" in dead
    assert {mixed + b"#1", mixed + b"#2", broken} <= set(dead) and len(dead) == 20 + 3
    assert r.xpending("in", "g")["pending"] == 0


def test_a_crashed_consumers_entries_are_reclaimed_after_the_idle_time(r, redis_server, h):
    ids = h.fill(r, "in", 50)
    r.xgroup_create("in", "g", id="0")
    r.xreadgroup("g", "crashed", {"in": ">"}, count=20)  # read, never acknowledged
    time.sleep(0.15)
    driver = h.make_driver(redis_server.url, claim_idle_ms=100)
    _run(driver)
    assert sorted(h.output_ids(r, "out")) == sorted(ids)
    assert r.xpending("in", "g")["pending"] == 0


def test_a_restarted_consumer_resumes_its_own_pending_entries_at_once(r, redis_server, h):
    ids = h.fill(r, "in", 30)
    r.xgroup_create("in", "g", id="0")
    r.xreadgroup("g", "c1", {"in": ">"}, count=10)
    driver = h.make_driver(redis_server.url, consumer="c1", claim_idle_ms=600_000)
    _run(driver)
    assert Counter(h.output_ids(r, "out")) == Counter(ids)


def test_entries_delivered_too_often_are_dead_lettered_not_retried(r, redis_server, h):
    ids = h.fill(r, "in", 5)
    r.xgroup_create("in", "g", id="0")
    r.xreadgroup("g", "crashed", {"in": ">"}, count=2)
    r.execute_command("XCLAIM", "in", "g", "crashed", 0, ids[0], ids[1], "RETRYCOUNT", 9)
    time.sleep(0.05)
    driver = h.make_driver(redis_server.url, claim_idle_ms=20, max_deliveries=5)
    _run(driver)
    dead = {f[b"id"]: f for _, f in h.read_all(r, "in:dead")}
    assert set(dead) == {ids[0], ids[1]}
    assert dead[ids[0]][b"step"] == b"deliver" and b"delivered 10 times" in dead[ids[0]][b"reason"]
    assert orjson.loads(dead[ids[0]][b"data"]) == {"i": 0, "poison": False}
    assert sorted(h.output_ids(r, "out")) == sorted(ids[2:])


def test_start_from_new_skips_entries_older_than_the_group(r, redis_server, h, background):
    h.fill(r, "in", 10)
    driver = h.make_driver(redis_server.url, start_from="new", exit_when_idle=1.0)
    thread = background(driver)
    assert h.wait_for(lambda: r.exists("in") and r.xinfo_groups("in"), timeout=10)
    new = h.fill(r, "in", 5, start=10)
    thread.join()
    assert sorted(h.output_ids(r, "out")) == sorted(new)


def test_unencodable_outputs_are_dead_lettered_at_step_encode(r, redis_server, h):
    r.xadd("in", {"data": b'{"bad": true}'})
    good = r.xadd("in", {"data": b'{"bad": false}'})
    for mode in ("record", "batch"):
        r.delete("out", "in:dead")
        driver = h.make_driver(redis_server.url, backend="Unencodable", output_mode=mode, consumer=mode)
        r.xgroup_setid("in", "g", id="0") if r.exists("in") and r.xinfo_groups("in") else None
        _run(driver)
        assert h.output_ids(r, "out") == [good], mode
        (_, dead), = h.read_all(r, "in:dead")
        assert dead[b"step"] == b"encode" and b"not JSON-serialisable" in dead[b"reason"]
        assert driver.runner.snapshot().dead_letters_by_step == {"encode": 1}


def test_connection_loss_is_retried_and_nothing_is_lost(r, redis_server, h, background, monkeypatch):
    monkeypatch.setenv("PACKFLOW_TEST_DELAY_S", "0.002")
    ids = h.fill(r, "in", 20_000)
    driver = h.make_driver(redis_server.url, batch_size=200, exit_when_idle=0.5)
    thread = background(driver)
    h.wait_for(lambda: driver.stats.records > 0, timeout=10)
    cuts = 0
    # A connection cut between two commands is reconnected by redis-py unseen; keep cutting until
    # one lands mid-command (a retry), at least 5 times, while the driver runs.
    while thread.is_alive() and (cuts < 5 or not driver.stats.retries) and cuts < 200:
        time.sleep(0.03)
        r.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        cuts += 1
    thread.join(60)
    assert not thread.is_alive()
    got = Counter(h.output_ids(r, "out"))
    assert set(got) == set(ids)
    assert sum(got.values()) - len(ids) <= cuts * 200  # at most one re-written batch per cut
    assert driver.stats.retries >= 1 and r.xpending("in", "g")["pending"] == 0


def test_status_line_and_prometheus_metrics(r, redis_server, h):
    from packflow.runtime.stream.metrics import serve_metrics
    from packflow.runtime.stream.status import Monitor, format_totals

    h.fill(r, "in", 100, poison_every=10)
    driver = h.make_driver(redis_server.url)
    _run(driver)
    r.xadd("in", {"data": b"{}"})  # one entry still waiting: lag 1
    monitor = Monitor(driver)
    monitor.sample()
    assert monitor.gauges == {"lag": 1, "pending": 0}
    line = monitor.line()
    assert "100 records" in line and "lag 1" in line and "pending 0" in line and "dead letters 10" in line
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = serve_metrics(monitor, port, backend="b", version="1")
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
    assert 'packflow_records_total{backend="b",version="1"} 100.0' in text
    assert 'packflow_dead_letters_total{backend="b",step="execute",version="1"} 10.0' in text
    assert 'packflow_stream_lag{backend="b",version="1"} 1.0' in text
    assert 'packflow_step_latency_seconds_bucket{backend="b",le="+Inf",step="execute",version="1"}' in text
    totals = format_totals(driver)
    assert "100 records" in totals and "90 outputs, 10 dead letters" in totals and "stopped: idle" in totals


def test_entries_deleted_while_pending_are_dead_lettered_on_reclaim(r, redis_server, h):
    ids = h.fill(r, "in", 6)
    r.xgroup_create("in", "g", id="0")
    r.xreadgroup("g", "crashed", {"in": ">"}, count=3)
    r.xdel("in", ids[1])
    time.sleep(0.05)
    driver = h.make_driver(redis_server.url, claim_idle_ms=20)
    driver.run()
    dead = {f[b"id"]: f for _, f in h.read_all(r, "in:dead")}
    assert set(dead) == {ids[1]} and b"deleted" in dead[ids[1]][b"reason"]
    assert sorted(h.output_ids(r, "out")) == sorted(ids[:1] + ids[2:])
    assert r.xpending("in", "g")["pending"] == 0


def test_the_live_status_line_is_redrawn_in_place(r, redis_server, h, background):
    import io

    from packflow.runtime.stream.status import Monitor

    h.fill(r, "in", 500)
    driver = h.make_driver(redis_server.url, exit_when_idle=0.5)
    out = io.StringIO()
    monitor = Monitor(driver, out=out, interval=0.05).start()
    background(driver).join(30)
    time.sleep(0.12)
    monitor.stop()
    text = out.getvalue()
    assert text.startswith("\rpackflow stream") and text.endswith("\n")
    assert "500 records" in text.split("\r")[-1] and "lag 0" in text
