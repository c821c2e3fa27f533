"""Helpers of the serve tests: in-process apps and real ``packflow serve`` processes."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def make_app(name: str, version: str = "1.2.3", **options: Any) -> Any:
    """An in-process ServeApp for ``serve_backends:<name>``."""
    from packflow.loaders.target import Target
    from packflow.runtime.serve import ServeConfig, create_app

    config = ServeConfig(target=f"serve_backends:{name}", **options)
    fatal: list[BaseException] = []
    app = create_app(config, target=Target("module", f"serve_backends:{name}", name, version), on_fatal=fatal.append)
    app.fatal = fatal  # type: ignore[attr-defined]
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A ``packflow serve`` subprocess on a free loopback port."""

    def __init__(self, target: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        command = [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", target, "--port", str(self.port), *args]
        self.log_path = Path(tempfile.gettempdir()) / f"packflow-serve-test-{self.port}.log"
        self.log = open(self.log_path, "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command, cwd=HERE, env={**os.environ, **(env or {})}, stdout=self.log, stderr=subprocess.STDOUT
        )

    def request(self, method: str, path: str, body: Any = None, raw: bytes | None = None, timeout: float = 30) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        if response.getheader("content-type", "").startswith("application/json"):
            return response.status, json.loads(payload)
        return response.status, payload.decode()

    def wait_status(self, path: str, status: int, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                last = self.request("GET", path, timeout=2)
                if last[0] == status:
                    return last[1]
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        raise AssertionError(f"{path} never returned {status} (last: {last!r}):\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.log_path).read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        with contextlib.suppress(OSError):
            (self.log_path).unlink()
        return self.proc.returncode
