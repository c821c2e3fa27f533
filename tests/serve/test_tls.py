"""TLS and mutual TLS of ``packflow serve``: throw-away certificates, real TLS clients."""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _issue(name: str, key: Any, issuer: Any, issuer_key: Any, *, ca: bool = False, server: bool = False) -> Any:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: Any, key: Any) -> tuple[str, str]:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("test CA", ca_key, None, ca_key, ca=True)
    out: dict[str, Any] = {"ca": _write(root / "ca", ca, ca_key)[0]}
    for name, server in (("server", True), ("client", False)):
        key = ec.generate_private_key(ec.SECP256R1())
        out[name] = _write(root / name, _issue(name, key, ca.subject, ca_key, server=server), key)
    return out


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
