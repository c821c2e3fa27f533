"""TLS and mutual TLS of ``packflow serve``: throw-away certificates, real TLS clients."""

from __future__ import annotations

import http.client
import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cryptography.x509")
from pki import make_pki  # noqa: E402


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _context(pki: dict[str, Any], client_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"])
    if client_cert:
        context.load_cert_chain(*pki["client"])
    return context


def _invoke(port: int, context: ssl.SSLContext) -> tuple[int, Any]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        conn.request("POST", "/invoke", body=b'[{"x": 1}]', headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _wait_tls(server: Any, context: ssl.SSLContext) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert server.proc.poll() is None and time.monotonic() < deadline, server.output()
        try:
            conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)
            conn.request("GET", "/health/ready")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)


def _tls_args(pki: dict[str, Any], *extra: str) -> list[str]:
    return ["--ssl-certfile", pki["server"][0], "--ssl-keyfile", pki["server"][1], *extra]


def test_https_with_a_verified_server_certificate(start_server: Any, pki: dict[str, Any]) -> None:
    server = start_server("serve_backends:Identity", *_tls_args(pki))
    _wait_tls(server, _context(pki, False))
    assert _invoke(server.port, _context(pki, False)) == (200, [{"x": 1}])
    with pytest.raises(ssl.SSLError):  # a client that does not trust the CA refuses the server
        _invoke(server.port, ssl.create_default_context())
    with pytest.raises((ConnectionError, http.client.HTTPException)):  # plain HTTP is not answered
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/health/live")
        conn.getresponse()
    assert "on https://127.0.0.1" in server.output()


def test_mutual_tls_required(start_server: Any, pki: dict[str, Any]) -> None:
    server = start_server("serve_backends:Identity",
                          *_tls_args(pki, "--ssl-ca-certs", pki["ca"], "--ssl-client-cert", "required"))
    _wait_tls(server, _context(pki, True))
    assert _invoke(server.port, _context(pki, True)) == (200, [{"x": 1}])
    with pytest.raises((ssl.SSLError, ConnectionError)):  # no client certificate: the handshake is refused
        _invoke(server.port, _context(pki, False))


def test_client_cert_without_ca_exits_2(start_server: Any, pki: dict[str, Any]) -> None:
    server = start_server("serve_backends:Identity", *_tls_args(pki, "--ssl-client-cert", "required"))
    assert server.proc.wait(timeout=30) == 2
    assert "--ssl-ca-certs" in server.output() and "Traceback" not in server.output()
