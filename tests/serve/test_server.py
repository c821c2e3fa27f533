"""The real ``packflow serve`` process over a real socket."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from serve_backends import GATE_ENV, SLOW_ENV


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_every_endpoint_over_a_socket(start_server):
    server = start_server("serve_backends:Poison")
    server.wait_status("/health/ready", 200)
    assert server.request("POST", "/invoke", {"a": 1}) == (200, {"a": 1, "seen": True})
    status, out = server.request("POST", "/invoke", [{"a": 1}, {"poison": True}])
    assert status == 200 and out[0] == {"a": 1, "seen": True} and out[1]["error"]["step"] == "execute"
    status, body = server.request("POST", "/invoke", {"poison": True})
    assert status == 500
    assert f"error id={body['error']['id']}" in server.output()
    assert server.request("POST", "/invoke", raw=b"{nope")[0] == 400
    assert server.request("POST", "/invoke", raw=b"[1, 2]")[0] == 422
    for path in ("/health/live", "/v2/health/live", "/v2/health/ready"):
        assert server.request("GET", path)[0] == 200
    status, text = server.request("GET", "/metrics")
    assert status == 200 and metric(text, "packflow_serve_requests_total", outcome="ok", backend="Poison") == 1
    assert metric(text, "packflow_serve_requests_total", outcome="bad_request") == 2
    assert server.request("GET", "/")[0] == 200
    assert "/invoke" in server.request("GET", "/openapi.json")[1]["paths"]
    assert server.stop() == 0


def test_streamed_body_over_the_limit_is_413_and_the_server_keeps_serving(start_server):
    server = start_server("serve_backends:Identity", "--max-body-bytes", "10000")
    server.wait_status("/health/ready", 200)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    chunks = (b'{"k": "' + b"x" * 4000 + b'"}' for _ in range(50))  # chunked: no Content-Length
    conn.request("POST", "/invoke", body=chunks, headers={"Content-Type": "application/json"}, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 413
    assert json.loads(response.read())["error"]["type"] == "PayloadTooLarge"
    conn.close()
    assert server.request("POST", "/invoke", {"after": 1}) == (200, {"after": 1})


def test_readiness_over_a_socket_waits_for_initialize(start_server, tmp_path):
    gate = tmp_path / "gate"
    server = start_server("serve_backends:Gated", env={GATE_ENV: str(gate)})
    body = server.wait_status("/health/ready", 503)
    assert "initialize()" in body["reason"]
    time.sleep(0.3)
    assert server.request("GET", "/health/ready")[0] == 503
    gate.touch()
    server.wait_status("/health/ready", 200)
    assert server.request("POST", "/invoke", {"a": 1}) == (200, {"a": 1})


def test_initialize_failure_exits_non_zero_with_the_cause_logged(start_server):
    server = start_server("serve_backends:BrokenInit")
    assert server.proc.wait(timeout=30) != 0
    assert "model weights missing" in server.output()


def test_bad_target_exits_2():
    result = subprocess.run(
        [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", "no_such_module_xyz.py"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "Error:" in result.stderr


def _post_many(port: int, bodies: list) -> list[tuple[int, object]]:
    def post(body: object) -> tuple[int, object]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/invoke", body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


def test_sigterm_drains_in_flight_requests(start_server):
    server = start_server("serve_backends:Slow", "--max-batch-size", "2", "--graceful-timeout-s", "20", env={SLOW_ENV: "100"})
    server.wait_status("/health/ready", 200)
    bodies = [{"i": i} for i in range(12)]  # 6 batches of 2 x 100 ms: still running when SIGTERM arrives
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_post_many, server.port, bodies)
        time.sleep(0.25)
        server.proc.send_signal(signal.SIGTERM)
        results = pending.result(timeout=60)
    assert results == [(200, body) for body in bodies]
    assert server.proc.wait(timeout=30) == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), timeout=2):
        pass


def test_workers_share_the_port_and_metrics_are_aggregated(start_server):
    server = start_server("serve_backends:Identity", "--workers", "2")
    server.wait_status("/health/ready", 200)
    pids = set()
    for i in range(40):  # a fresh connection each time: the kernel spreads them over the workers
        assert server.request("POST", "/invoke", {"i": i}) == (200, {"i": i})
        pids.add(server.request("GET", "/")[1]["pid"])
    _, text = server.request("GET", "/metrics")
    assert metric(text, "packflow_serve_requests_total", outcome="ok") == 40
    assert metric(text, "packflow_records_total") == 40
    assert metric(text, "packflow_serve_ready") == 2
    assert metric(text, "packflow_batch_size_sum") == 40 and metric(text, "packflow_step_latency_seconds_count", step="execute") == 40
    assert len(pids) == 2, f"all requests went to one worker: {pids}"
    assert server.stop() == 0


def test_a_worker_failing_to_initialize_stops_the_whole_server(start_server):
    server = start_server("serve_backends:BrokenInit", "--workers", "2")
    assert server.proc.wait(timeout=60) == 2
    assert "model weights missing" in server.output()


def test_project_target_labels_metrics_with_its_name_and_version_and_takes_config(start_server, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "packflow.yaml").write_text("name: sentiment\nversion: 2.0.1\ninference_backend: inference:Backend\n")
    (project / "inference.py").write_text(
        "from packflow import InferenceBackend\n\n"
        "class Backend(InferenceBackend):\n    def execute(self, inputs):\n        return inputs\n"
    )
    server = start_server(str(project), "--config", '{"rename_fields": {"a": "b"}}')
    server.wait_status("/health/ready", 200)
    status, out = server.request("POST", "/invoke", {"a": 1})
    assert status == 200 and out["b"] == 1  # --config reached the backend: rename_fields applied
    _, text = server.request("GET", "/metrics")
    assert metric(text, "packflow_serve_requests_total", backend="sentiment", version="2.0.1", outcome="ok") == 1
    assert server.request("GET", "/openapi.json")[1]["info"]["version"] == "2.0.1"


def test_bad_config_json_exits_2():
    result = subprocess.run(
        [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", "x:Y", "--config", "[1"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "--config" in result.stderr


@pytest.fixture(scope="module")
def fuzz_server():
    from serve_helpers import ServerProcess

    server = ServerProcess("serve_backends:Identity", "--max-body-bytes", "2000")
    try:
        server.wait_status("/health/ready", 200)
        yield server
    finally:
        server.stop()


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=3000) | st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=15,
).map(lambda v: json.dumps(v).encode()))
def test_fuzzed_bodies_over_a_socket_never_get_a_5xx(fuzz_server, body):
    status, payload = fuzz_server.request("POST", "/invoke", raw=body)
    assert status < 500, payload
