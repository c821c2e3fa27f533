"""Issue 10 on ``packflow stream``: killers, failed writes, loops, records as received, BaseException.

Real redis-server, real ``packflow stream`` child processes, real process deaths and restarts.
"""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

pytestmark = pytest.mark.redis

BASE = ("--input-stream", "in", "--output-stream", "out", "--group", "g")


def _dead(r, h, stream="in:dead"):
    return {f[b"id"]: f for _, f in h.read_all(r, stream)}


@pytest.mark.parametrize("consumer", ["same", "new"], ids=["restart-same-consumer", "restart-as-new-consumer"])
def test_a_record_that_kills_the_process_takes_only_itself_down(r, redis_server, h, processes, consumer):
    payloads = [orjson.dumps({"i": k, "kill": k == 4}) for k in range(10)]
    ids = [r.xadd("in", {"data": p}) for p in payloads]
    limit = 3
    codes = []
    for run in range(limit + 3):
        name = "c1" if consumer == "same" else f"c{run}"
        proc = h.stream_cli(
            redis_server.url, "stream_backends:Killer", *BASE, "--consumer", name, "--batch-size", "100",
            "--max-deliveries", str(limit), "--claim-idle-ms", "100", "--exit-when-idle", "1",
        )  # fmt: skip
        processes.append(proc)
        _, err = proc.communicate(timeout=120)
        codes.append(proc.returncode)
        if proc.returncode == 0:
            break
    assert codes == [17] * limit + [0], (codes, err)  # died once per delivery of the killer, then finished
    outputs = h.output_ids(r, "out")
    assert Counter(outputs) == Counter(ids[:4] + ids[5:])  # every good entry exactly once
    dead = _dead(r, h)
    assert set(dead) == {ids[4]}
    assert dead[ids[4]][b"step"] == b"deliver" and dead[ids[4]][b"data"] == payloads[4]
    assert f"delivered {limit + 1} times".encode() in dead[ids[4]][b"reason"]
    assert r.xpending("in", "g")["pending"] == 0


def test_a_restart_runs_each_pending_entry_in_its_own_backend_call(r, redis_server, h):
    ids = h.fill(r, "in", 30)
    r.xgroup_create("in", "g", id="0")
    r.xreadgroup("g", "c1", {"in": ">"}, count=10)  # read by c1, never acknowledged: c1 "died"
    driver = h.make_driver(redis_server.url, backend="Identity", consumer="c1", batch_size=100)
    driver.run()
    assert Counter(h.output_ids(r, "out")) == Counter(ids)
    snap = driver.runner.snapshot()
    assert snap.batch_sizes["1"] == 10  # the 10 suspects one per call; the 20 fresh ones in one batch
    assert snap.batch_sizes["32"] == 1


@pytest.mark.parametrize("mode", ["record", "batch"])
def test_a_write_that_fails_inside_the_transaction_is_never_acknowledged(r, redis_server, h, processes, mode):
    ids = h.fill(r, "in", 3000, poison_every=50)
    args = ("stream_backends:Poison", *BASE, "--consumer", "c1", "--batch-size", "100", "--output-mode", mode)
    proc = h.stream_cli(redis_server.url, *args, env={"PACKFLOW_TEST_DELAY_S": "0.05"})
    processes.append(proc)
    assert h.wait_for(lambda: r.exists("out") and len(h.output_ids(r, "out")) >= 300, timeout=60)
    r.rename("out", "out-before")  # keep what was written so far ...
    r.set("out", "not a stream any more")  # ... and make the output key a string mid-run
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "'out' now holds a Redis string" in err and "were NOT acknowledged" in err, err
    assert "2 entries whose results were all written were acknowledged" in err  # the batch's 2 dead letters
    before = h.output_ids(r, "out-before")
    dead = list(_dead(r, h))
    pending = [p["message_id"] for p in r.xpending_range("in", "g", "-", "+", 1000)]
    assert len(pending) == 98 and not set(pending) & (set(before) | set(dead))  # unwritten = unacknowledged
    r.delete("out")  # the operator fixes the key and restarts: nothing was lost
    again = h.stream_cli(redis_server.url, *args, "--exit-when-idle", "1")
    processes.append(again)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    seen = Counter(before + h.output_ids(r, "out") + list(_dead(r, h)))
    assert seen == Counter(ids)  # every input exactly once in outputs or dead letters
    assert r.xpending("in", "g")["pending"] == 0


@pytest.mark.parametrize("option", ["--output-stream", "--dead-letter-stream"])
def test_results_to_the_input_stream_are_refused_at_start(r, redis_server, h, processes, option):
    r.xadd("in", {"data": b'{"i": 1}'})
    args = ["--input-stream", "in", "--group", "g", "--output-stream", "out", option, "in"]
    proc = h.stream_cli(redis_server.url, "stream_backends:Identity", *args, "--exit-when-idle", "1")
    processes.append(proc)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert f"{option} 'in' is the input stream" in err
    assert r.xlen("in") == 1 and not r.exists("out")


@pytest.mark.parametrize("output_mode", ["record", "batch"])
def test_dead_letters_hold_the_record_as_received_not_the_backends_copy(r, redis_server, h, output_mode):
    raw = [b'{"i": 0,  "fail": false}', b'{ "i": 1, "fail": true }', b'{"i":2}']
    ids = [r.xadd("in", {"data": p}) for p in raw]
    driver = h.make_driver(redis_server.url, backend="MutatesThenFails", output_mode=output_mode, batch_size=10)
    driver.run()
    dead = _dead(r, h)
    assert set(dead) == {ids[1]}
    assert dead[ids[1]][b"data"] == raw[1]  # the bytes as they came, not {"i": "changed ...", "injected": ...}
    assert dead[ids[1]][b"step"] == b"execute"


@pytest.mark.parametrize("output_mode", ["record", "batch"])
def test_encode_failures_keep_the_input_not_the_repr_of_the_output(r, redis_server, h, output_mode):
    raw = b'{"bad": true, "n": 7}'
    bad = r.xadd("in", {"data": raw})
    r.xadd("in", {"data": b'{"bad": false}'})
    driver = h.make_driver(redis_server.url, backend="Unencodable", output_mode=output_mode)
    driver.run()
    dead = _dead(r, h)
    assert dead[bad][b"step"] == b"encode" and dead[bad][b"data"] == raw


def test_packed_input_dead_letters_hold_the_item_as_received(r, redis_server, h):
    items = [{"i": 0}, {"i": 1, "fail": True}, {"i": 2}]
    entry = r.xadd("in", {"data": orjson.dumps(items)})
    driver = h.make_driver(redis_server.url, backend="MutatesThenFails", input_mode="batch", output_mode="batch")
    driver.run()
    dead = _dead(r, h)
    assert set(dead) == {entry + b"#1"}
    assert orjson.loads(dead[entry + b"#1"][b"data"]) == {"i": 1, "fail": True}


@pytest.mark.parametrize("exception", ["SystemExit", "KeyboardInterrupt"])
def test_backend_base_exceptions_are_dead_letters_and_the_stream_goes_on(r, redis_server, h, processes, exception):
    raw = [orjson.dumps({"i": k, **({"raise": exception} if k == 3 else {})}) for k in range(8)]
    ids = [r.xadd("in", {"data": p}) for p in raw]
    proc = h.stream_cli(redis_server.url, "stream_backends:RaisesBaseException", *BASE, "--exit-when-idle", "1")
    processes.append(proc)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert Counter(h.output_ids(r, "out")) == Counter(ids[:3] + ids[4:])
    dead = _dead(r, h)
    assert set(dead) == {ids[3]} and dead[ids[3]][b"error_type"] == exception.encode()
    assert dead[ids[3]][b"data"] == raw[3]
