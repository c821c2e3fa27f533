"""API-key authentication of ``packflow serve``, over real sockets to real server processes."""

from __future__ import annotations

import hashlib
import http.client
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from packflow.exceptions import ConfigurationError
from packflow.runtime.serve.auth import ApiKeys, parse_keys, presented_key

BODY = json.dumps([{"x": 1}]).encode()


def call(conn: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def fresh(server: Any, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        return call(conn, method, path, headers, body)
    finally:
        conn.close()


def wait_ready(server: Any, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline and server.proc.poll() is None, server.output()
        try:
            if fresh(server, "GET", "/health/ready", headers)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)


def keys_file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "keys.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_parse_plain_hashed_and_comments() -> None:
    hashed = "sha256:" + hashlib.sha256(b"s3cret").hexdigest()
    digests = parse_keys(["# ops keys", "", "plain-key", hashed.upper().replace("SHA256:", "sha256:")], "f")
    assert digests == [hashlib.sha256(b"plain-key").digest(), hashlib.sha256(b"s3cret").digest()]


def test_bad_hash_line_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="64 hex digits"):
        parse_keys(["sha256:abc"], "keys.txt")


def test_empty_keys_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no key"):
        ApiKeys(str(keys_file(tmp_path, "# nothing")))


KEYS = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Z"), blacklist_characters=",#"),
               min_size=1, max_size=40).filter(lambda k: not k.startswith("sha256:"))


@given(KEYS, KEYS)
def test_a_key_is_accepted_plain_and_hashed_and_no_other(key: str, other: str) -> None:
    plain = ApiKeys(env_value=key)
    hashed = ApiKeys(env_value="sha256:" + hashlib.sha256(key.encode()).hexdigest())
    assert plain.accepts(key) and hashed.accepts(key)
    assert plain.accepts(other) == hashed.accepts(other) == (other == key)


def test_header_forms() -> None:
    assert presented_key([(b"Authorization", b"Bearer abc")]) == "abc"
    assert presented_key([(b"authorization", b"bearer  abc ")]) == "abc"
    assert presented_key([(b"x-api-key", b"k1")]) == "k1"
    assert presented_key([(b"authorization", b"Basic Zm9vOmJhcg==")]) is None
    assert presented_key([]) is None


def test_keys_are_required_on_invoke_and_probes_metrics_stay_open(start_server: Any, tmp_path: Path) -> None:
    hashed = "sha256:" + hashlib.sha256(b"file-key").hexdigest()
    server = start_server("serve_backends:Identity", "--api-keys-file", str(keys_file(tmp_path, hashed)),
                          env={"PACKFLOW_API_KEYS": "env-key-1,env-key-2"})
    server.wait_status("/health/ready", 200)
    status, headers, body = fresh(server, "POST", "/invoke", body=BODY)
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert json.loads(body)["error"]["type"] == "Unauthorized"
    status, headers, _ = fresh(server, "POST", "/invoke", {"Authorization": "Bearer wrong"}, BODY)
    assert status == 401 and "invalid_token" in headers["www-authenticate"]
    for auth in ({"Authorization": "Bearer file-key"}, {"X-API-Key": "env-key-2"}, {"Authorization": "Bearer env-key-1"}):
        status, _, body = fresh(server, "POST", "/invoke", auth, BODY)
        assert status == 200 and json.loads(body) == [{"x": 1}]
    assert fresh(server, "GET", "/stats")[0] == 401
    assert fresh(server, "GET", "/v2/health/live")[0] == 200
    status, _, metrics = fresh(server, "GET", "/metrics")
    assert status == 200
    assert 'packflow_serve_auth_failures_total{protocol="http",reason="missing"} 2.0' in metrics.decode()
    assert 'packflow_serve_auth_failures_total{protocol="http",reason="invalid"} 1.0' in metrics.decode()


def test_protected_probes_and_metrics(start_server: Any) -> None:
    server = start_server("serve_backends:Identity", "--auth-probes", "protected", "--auth-metrics", "protected",
                          env={"PACKFLOW_API_KEYS": "k"})
    wait_ready(server, {"X-API-Key": "k"})
    for path in ("/health/live", "/v2/health/ready", "/metrics"):
        assert fresh(server, "GET", path)[0] == 401
        assert fresh(server, "GET", path, {"X-API-Key": "k"})[0] == 200


def test_unreadable_keys_file_exits_2(start_server: Any, tmp_path: Path) -> None:
    server = start_server("serve_backends:Identity", "--api-keys-file", str(keys_file(tmp_path, "sha256:zz")))
    assert server.proc.wait(timeout=30) == 2
    assert "64 hex digits" in server.output() and "Traceback" not in server.output()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sighup_reloads_keys_without_dropping_connections(start_server: Any, tmp_path: Path, workers: str) -> None:
    path = keys_file(tmp_path, "old-key")
    server = start_server("serve_backends:Identity", "--api-keys-file", str(path), "--workers", workers)
    server.wait_status("/health/ready", 200)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        assert call(conn, "POST", "/invoke", {"Authorization": "Bearer old-key"}, BODY)[0] == 200
        sock = conn.sock
        path.write_text("sha256:" + hashlib.sha256(b"new-key").hexdigest() + "\n")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while call(conn, "POST", "/invoke", {"Authorization": "Bearer old-key"}, BODY)[0] != 401:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        status, _, body = call(conn, "POST", "/invoke", {"Authorization": "Bearer new-key"}, BODY)
        assert status == 200 and json.loads(body) == [{"x": 1}]
        assert conn.sock is sock, "the keep-alive connection was dropped"
    finally:
        conn.close()
    assert server.proc.poll() is None
    assert "API keys reloaded" in server.output()


def test_bad_reload_keeps_previous_keys(start_server: Any, tmp_path: Path) -> None:
    path = keys_file(tmp_path, "old-key")
    server = start_server("serve_backends:Identity", "--api-keys-file", str(path))
    server.wait_status("/health/ready", 200)
    path.write_text("sha256:not-hex\n")
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while "API keys not reloaded" not in server.output():
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    assert fresh(server, "POST", "/invoke", {"Authorization": "Bearer old-key"}, BODY)[0] == 200
