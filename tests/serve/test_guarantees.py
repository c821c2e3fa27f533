"""Serve keeps its guarantees under hangs, exits and poison: real ``packflow serve`` processes, real sockets."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from serve_backends import READY_SLEEP_ENV, SLOW_ENV


def post(port: int, body: object, timeout: float) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/invoke", body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_hanging_record_never_blocks_liveness_timeouts_or_other_requests(start_server):
    server = start_server("serve_backends:Sleepy", "--request-timeout-s", "1", "--graceful-timeout-s", "1")
    server.wait_status("/health/ready", 200)
    for i in range(40):  # warm: many fast batches in a row (this used to move batches onto the loop)
        assert server.request("POST", "/invoke", {"i": i}) == (200, {"i": i})
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        hung = pool.submit(post, server.port, {"sleep": 8}, 6)
        time.sleep(0.3)  # the backend is now inside the 8 s call
        assert server.request("GET", "/health/live", timeout=1) == (200, {"status": "live"})
        queued = pool.submit(post, server.port, {"behind": 1}, 6)
        status, body = hung.result(timeout=6)  # answered by --request-timeout-s, not after 8 s
        assert status == 504 and body["error"]["type"] == "Timeout"
        assert queued.result(timeout=6)[0] == 504
        status, body = server.request("GET", "/health/ready", timeout=1)
        assert status == 503 and "stuck" in body["reason"] and "--request-timeout-s" in body["reason"]
        assert server.request("GET", "/health/live", timeout=1)[0] == 200
    assert server.proc.poll() is None


@pytest.mark.parametrize("how, error_type", [("exit", "SystemExit"), ("interrupt", "KeyboardInterrupt"), ("base", "BaseException")])
def test_system_exit_and_friends_from_the_backend_are_per_record_500s_and_the_server_stays_up(start_server, how, error_type):
    server = start_server("serve_backends:Exiting")
    server.wait_status("/health/ready", 200)
    status, body = server.request("POST", "/invoke", {"raise": how})
    assert status == 500 and set(body["error"]) == {"id", "step", "type", "message"}
    assert body["error"]["step"] == "execute" and body["error"]["type"] == error_type
    time.sleep(0.3)
    assert server.request("POST", "/invoke", {"ok": 1}) == (200, {"ok": 1})
    assert server.request("GET", "/health/ready")[0] == 200
    assert server.proc.poll() is None
    assert server.stop() == 0


def test_initialize_raising_system_exit_is_reported_and_exits_2(start_server):
    server = start_server("serve_backends:ExitingInit")
    assert server.proc.wait(timeout=30) == 2
    assert "weights volume not mounted" in server.output()


def test_one_poison_among_64_concurrent_requests_does_not_time_out_its_batch_mates(start_server):
    server = start_server("serve_backends:Slow", "--request-timeout-s", "3", env={SLOW_ENV: "400"})
    server.wait_status("/health/ready", 200)
    bodies = [{"i": i, "poison": i == 40} for i in range(64)]
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        results = list(pool.map(lambda b: post(server.port, b, 20), bodies))
    innocent_ok = sum(1 for i, (status, _) in enumerate(results) if i != 40 and status == 200)
    print(f"innocent requests answered 200: {innocent_ok} of 63")
    assert innocent_ok >= 44, [status for status, _ in results]
    assert results[40][0] in (500, 504)
    assert all(body == {"i": i, "poison": False} for i, (status, body) in enumerate(results) if status == 200)


def test_the_drain_timeout_answers_json_503_and_exits_non_zero(start_server):
    server = start_server("serve_backends:Sleepy", "--graceful-timeout-s", "1")
    server.wait_status("/health/ready", 200)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        computing = pool.submit(post, server.port, {"sleep": 6}, 10)
        time.sleep(0.2)
        queued = pool.submit(post, server.port, {"queued": 1}, 10)
        time.sleep(0.2)
        server.proc.send_signal(signal.SIGTERM)
        for future in (computing, queued):
            status, body = future.result(timeout=10)
            assert status == 503 and body["error"]["type"] == "ShuttingDown"
            assert "--graceful-timeout-s 1" in body["error"]["message"]
    assert server.proc.wait(timeout=15) == 1
    assert "cut off" in server.output()


@pytest.mark.parametrize("partial", [b"", b"POST /inv", b"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\""])
def test_a_partial_request_does_not_hold_its_connection(start_server, partial):
    server = start_server("serve_backends:Identity", "--read-timeout-s", "1")
    server.wait_status("/health/ready", 200)
    with socket.create_connection(("127.0.0.1", server.port), timeout=6) as sock:
        sock.sendall(partial)
        start = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server (a socket.timeout here means it was held)
        waited = time.monotonic() - start
    assert waited < 5
    assert server.request("POST", "/invoke", {"after": 1}) == (200, {"after": 1})


def test_a_slow_ready_does_not_block_invoke_and_times_out(start_server):
    server = start_server("serve_backends:SlowReady", "--ready-timeout-s", "0.5", env={READY_SLEEP_ENV: "6"})
    server.wait_status("/health/live", 200)
    deadline = time.monotonic() + 30
    while server.request("POST", "/invoke", {"a": 0})[0] != 200:  # loaded (readiness would wait on ready())
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        probe = pool.submit(server.request, "GET", "/health/ready", None, None, 10)
        time.sleep(0.1)  # ready() is now sleeping on its thread
        assert post(server.port, {"a": 1}, 2.5) == (200, {"a": 1})  # main: blocked until ready() returns
        status, body = probe.result(timeout=10)
    assert status == 503 and "did not answer within 0.5 s" in body["reason"]


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_max_wait_ms_must_be_finite(value):
    result = subprocess.run(
        [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", "serve_backends:Identity", "--max-wait-ms", value],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "max_wait_ms" in result.stderr and "finite" in result.stderr


def _worker_pid(server) -> str:
    return str(server.request("GET", "/")[1]["pid"])


@pytest.mark.parametrize("options", [("--workers", "2"), ("--workers", "1", "--isolate-process")], ids=["two-workers", "one-isolated"])
def test_a_record_that_kills_its_process_fails_alone(start_server, options):
    server = start_server("serve_backends:Exiting", *options)
    server.wait_status("/health/ready", 200)
    bodies = [{"i": i} for i in range(12)] + [{"raise": "kill"}]
    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(lambda b: post(server.port, b, 60), bodies))
    assert results[:12] == [(200, {"i": i}) for i in range(12)]
    status, body = results[12]
    assert status == 500 and body["error"]["type"] == "BackendProcessDied" and body["error"]["step"] == "execute"
    status, out = server.request("POST", "/invoke", [{"a": 1}, {"raise": "kill"}, {"b": 2}], timeout=60)
    assert status == 200 and out[0] == {"a": 1} and out[2] == {"b": 2}
    assert out[1]["error"]["type"] == "BackendProcessDied"
    server.wait_status("/health/ready", 200)
    assert "restarting it" in server.output()
    assert server.stop() == 0


def test_with_two_workers_a_dead_worker_is_replaced(start_server):
    server = start_server("serve_backends:Identity", "--workers", "2")
    server.wait_status("/health/ready", 200)
    victim = int(_worker_pid(server))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while f"Worker pid {victim} died" not in server.output():
        assert time.monotonic() < deadline and server.proc.poll() is None, server.output()
        time.sleep(0.1)
    server.wait_status("/health/ready", 200, timeout=60)  # 2 of 2 workers ready again
    for i in range(10):
        assert server.request("POST", "/invoke", {"i": i}) == (200, {"i": i})
    assert server.stop() == 0


def test_with_two_workers_a_hanging_record_never_blocks_liveness_or_timeouts(start_server):
    server = start_server("serve_backends:Sleepy", "--workers", "2", "--request-timeout-s", "1", "--graceful-timeout-s", "1")
    server.wait_status("/health/ready", 200)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        hung = pool.submit(post, server.port, {"sleep": 8}, 6)
        time.sleep(0.3)
        for _ in range(4):  # whichever worker answers, it answers
            assert server.request("GET", "/health/live", timeout=1)[0] == 200
        status, body = hung.result(timeout=6)
    assert status == 504 and body["error"]["type"] == "Timeout"


def test_with_an_engine_a_hung_call_is_ended_at_the_request_timeout_and_the_worker_serves_again(start_server):
    """The hanging record's call runs past --request-timeout-s: its engine is ended and replaced, so
    requests after the 504 are answered at once instead of queueing behind a call that sleeps 30 s."""
    server = start_server("serve_backends:Sleepy", "--workers", "1", "--isolate-process", "--request-timeout-s", "2")
    server.wait_status("/health/ready", 200)
    start = time.monotonic()
    status, body = post(server.port, {"sleep": 30}, 20)
    assert status == 504 and body["error"]["type"] == "Timeout"
    answers = [post(server.port, {"i": i}, 15) for i in range(5)]
    took = time.monotonic() - start
    assert answers == [(200, {"i": i}) for i in range(5)]
    assert took < 20, f"{took:.1f}s: the worker waited for the hung call"
    deadline = time.monotonic() + 10
    while "ran past 2 s (--request-timeout-s); ending the backend process" not in server.output():
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    assert server.stop() == 0
