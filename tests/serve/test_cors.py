"""CORS of ``packflow serve`` (``--cors-origin``, off by default), over a real socket."""

from __future__ import annotations

import http.client
from typing import Any

ORIGIN = "https://app.example.com"


def _request(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=b'[{"x": 1}]' if method == "POST" else None, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


def test_preflight_and_simple_request_with_auth(start_server: Any) -> None:
    server = start_server("serve_backends:Identity", "--cors-origin", ORIGIN, "--cors-origin", "http://localhost:3000",
                          env={"PACKFLOW_API_KEYS": "k"})
    server.wait_status("/health/ready", 200)
    status, headers = _request(server.port, "OPTIONS", "/invoke", PREFLIGHT)
    assert status == 200 and headers["access-control-allow-origin"] == ORIGIN  # no key needed for a preflight
    assert "POST" in headers["access-control-allow-methods"]
    assert "authorization" in headers["access-control-allow-headers"].lower()
    status, headers = _request(server.port, "POST", "/invoke", {"Origin": ORIGIN, "Authorization": "Bearer k",
                                                                 "Content-Type": "application/json"})
    assert status == 200 and headers["access-control-allow-origin"] == ORIGIN
    status, headers = _request(server.port, "POST", "/invoke", {"Origin": ORIGIN, "Content-Type": "application/json"})
    assert status == 401 and headers["access-control-allow-origin"] == ORIGIN  # the browser can read the 401
    status, headers = _request(server.port, "OPTIONS", "/invoke", {**PREFLIGHT, "Origin": "https://evil.example"})
    assert status == 400 and "access-control-allow-origin" not in headers


def test_cors_is_off_by_default(start_server: Any) -> None:
    server = start_server("serve_backends:Identity")
    server.wait_status("/health/ready", 200)
    status, headers = _request(server.port, "GET", "/health/live", {"Origin": ORIGIN})
    assert status == 200 and "access-control-allow-origin" not in headers
    assert _request(server.port, "OPTIONS", "/invoke", PREFLIGHT)[0] != 200
