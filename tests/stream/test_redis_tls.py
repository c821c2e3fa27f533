"""``packflow stream`` on a TLS + ACL redis-server: certificates from openssl, credentials never shown."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from packflow.runtime.stream.redis_security import redact_text, redact_url

redis = pytest.importorskip("redis")
HERE = Path(__file__).parent
PASSWORD = "pw-Xy7-never-shown"
REPLAYER = "pw-Rp9-never-shown"  # an ACL user that may only read dead-letter streams
OPENSSL = shutil.which("openssl")
REDIS_SERVER = shutil.which("redis-server")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _pki(root: Path) -> None:
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
             "-subj", "/CN=test-ca", cwd=root)
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=root)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.crt", "-days", "1", "-extfile", "san.ext", cwd=root)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not (OPENSSL and REDIS_SERVER):
        pytest.skip("needs openssl and redis-server")
    root = tmp_path_factory.mktemp("redis-tls")
    _pki(root)
    (root / "users.acl").write_text(f"user default off\nuser app on >{PASSWORD} ~* &* +@all\n"
                                    f"user replayer on >{REPLAYER} ~*:dead +xrange +ping +client\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file", "server.crt",
         "--tls-key-file", "server.key", "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "yes",
         "--aclfile", "users.acl", "--save", "", "--appendonly", "no", "--dir", str(root)],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    tls = {"ssl_ca_certs": str(root / "ca.crt"), "ssl_certfile": str(root / "client.crt"),
           "ssl_keyfile": str(root / "client.key")}
    client = redis.Redis(host="127.0.0.1", port=port, username="app", password=PASSWORD, ssl=True, protocol=2, **tls)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("TLS redis-server did not start")
            time.sleep(0.05)
    yield {"port": port, "root": root, "client": client, "tls": tls}
    proc.terminate()
    proc.wait(timeout=10)


def _stream(url: str, root: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "packflow.cli", "stream", "stream_backends:Identity", "--redis-url", url,
               "--input-stream", "in", "--output-stream", "out", "--exit-when-idle", "0.5", "--status",
               "--log-level", "DEBUG", "--redis-ca-certs", str(root / "ca.crt"), *extra]
    return subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=120)


def test_stream_over_tls_with_an_acl_user_and_client_cert(tls_redis: dict[str, Any]) -> None:
    client, root = tls_redis["client"], tls_redis["root"]
    client.delete("in", "out")
    client.xadd("in", {"data": json.dumps({"i": 1})})
    url = f"rediss://app:{PASSWORD}@127.0.0.1:{tls_redis['port']}/0"
    out = _stream(url, root, "--redis-certfile", str(root / "client.crt"), "--redis-keyfile", str(root / "client.key"))
    assert out.returncode == 0, out.stderr
    assert [json.loads(fields[b"data"]) for _, fields in client.xrange("out")] == [{"i": 1}]
    assert PASSWORD not in out.stdout + out.stderr


def test_wrong_password_and_missing_client_cert_never_show_the_password(tls_redis: dict[str, Any]) -> None:
    root, port = tls_redis["root"], tls_redis["port"]
    wrong = f"rediss://app:{PASSWORD}-wrong@127.0.0.1:{port}/0"
    out = _stream(wrong, root, "--redis-certfile", str(root / "client.crt"), "--redis-keyfile", str(root / "client.key"))
    assert out.returncode == 2
    assert "Cannot reach Redis" in out.stderr and "app:***@127.0.0.1" in out.stderr
    assert PASSWORD not in out.stdout + out.stderr
    no_cert = _stream(f"rediss://app:{PASSWORD}@127.0.0.1:{port}/0", root)  # --tls-auth-clients yes refuses it
    assert no_cert.returncode == 2 and PASSWORD not in no_cert.stdout + no_cert.stderr


def test_tls_files_need_rediss() -> None:
    out = subprocess.run([sys.executable, "-m", "packflow.cli", "stream", "stream_backends:Identity", "--redis-url",
                          "redis://127.0.0.1:1/0", "--input-stream", "a", "--output-stream", "b",
                          "--redis-ca-certs", __file__], cwd=HERE, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "rediss://" in out.stderr


@given(st.text(alphabet="XYZ!$~", min_size=1, max_size=20))
def test_redaction_removes_any_password(password: str) -> None:
    url = f"rediss://user:{password}@host:6380/0?ssl_cert_reqs=required"
    shown = redact_url(url)
    assert password not in shown
    assert redact_url(f"redis://h:1/0?password={password}") == "redis://h:1/0?password=***"
    assert shown.startswith("rediss://user:***@host:6380/0")
    assert password not in redact_text(f"auth failed for {password} at {url}", url)


def _replay(url: str, root: Path, tmp_path: Path, stream: str, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "packflow.cli", "replay", "--redis-url", url, "--from-stream", stream,
               "-t", "stream_backends:Identity", "-o", str(tmp_path / "recovered.jsonl"), "--log-format", "json",
               "--redis-ca-certs", str(root / "ca.crt"), *extra]
    return subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=120)


def _client_cert(root: Path) -> list[str]:
    return ["--redis-certfile", str(root / "client.crt"), "--redis-keyfile", str(root / "client.key")]


def test_replay_over_tls_as_a_read_only_acl_user(tls_redis: dict[str, Any], tmp_path: Path) -> None:
    client, root, port = tls_redis["client"], tls_redis["root"], tls_redis["port"]
    client.delete("in", "out", "in:dead")
    client.xadd("in", {"data": json.dumps({"i": 1})})
    client.xadd("in", {"data": json.dumps({"poison": True, "i": 2})})
    admin = f"rediss://app:{PASSWORD}@127.0.0.1:{port}/0"
    done = subprocess.run(
        [sys.executable, "-m", "packflow.cli", "stream", "stream_backends:Poison", "--redis-url", admin,
         "--input-stream", "in", "--output-stream", "out", "--exit-when-idle", "0.5", "--redis-ca-certs",
         str(root / "ca.crt"), *_client_cert(root)], cwd=HERE, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and client.xlen("in:dead") == 1, done.stderr
    url = f"rediss://replayer:{REPLAYER}@127.0.0.1:{port}/0"
    out = _replay(url, root, tmp_path, "in:dead", *_client_cert(root))
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["output"] for line in (tmp_path / "recovered.jsonl").read_text().splitlines()] == [
        {"poison": True, "i": 2}]
    assert REPLAYER not in out.stdout + out.stderr and PASSWORD not in out.stdout + out.stderr
    denied = _replay(url, root, tmp_path, "in", *_client_cert(root))  # the ACL user may not read "in"
    assert denied.returncode == 2 and "Cannot read redis stream 'in'" in denied.stderr, denied.stderr
    assert "no permissions" in denied.stderr and "ACL" in denied.stderr and REPLAYER not in denied.stdout + denied.stderr


@pytest.mark.parametrize("case", ["wrong password", "no client certificate", "plain redis:// to a TLS port"])
def test_replay_refusals_exit_2_without_the_password(tls_redis: dict[str, Any], tmp_path: Path, case: str) -> None:
    root, port = tls_redis["root"], tls_redis["port"]
    password = REPLAYER + "-wrong" if case == "wrong password" else REPLAYER
    scheme = "redis" if case.startswith("plain") else "rediss"
    extra = _client_cert(root) if case == "wrong password" else []
    ca = [] if scheme == "redis" else ["--redis-ca-certs", str(root / "ca.crt")]
    command = [sys.executable, "-m", "packflow.cli", "replay", "--redis-url",
               f"{scheme}://replayer:{password}@127.0.0.1:{port}/0", "--from-stream", "in:dead",
               "-t", "stream_backends:Identity", "-o", str(tmp_path / "r.jsonl"), *ca, *extra]
    out = subprocess.run(command, cwd=HERE, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Cannot reach Redis at" in out.stderr and "replayer:***@127.0.0.1" in out.stderr
    assert REPLAYER not in out.stdout + out.stderr and "Traceback" not in out.stderr


def test_replay_tls_files_need_rediss(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "packflow.cli", "replay", "--redis-url", "redis://127.0.0.1:1/0",
                          "--from-stream", "a:dead", "-t", "stream_backends:Identity", "--redis-ca-certs", __file__],
                         cwd=HERE, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "need a rediss:// URL" in out.stderr
