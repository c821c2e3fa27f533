"""``--log-format json``: one JSON object per line; a serve 500's error id is in it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from packflow._logjson import JsonFormatter, log_context


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_formatter_fields_and_context() -> None:
    record = logging.LogRecord("packflow.serve", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    with log_context(request_id="r1", batch_id=None):
        with log_context(trace_id="t1"):
            line = json.loads(JsonFormatter().format(record))
        outer = json.loads(JsonFormatter().format(record))
    assert line["message"] == "boom x" and line["level"] == "ERROR" and line["logger"] == "packflow.serve"
    assert line["request_id"] == "r1" and line["trace_id"] == "t1" and "batch_id" not in line
    assert line["time"].endswith("Z") and "trace_id" not in outer
    assert "request_id" not in json.loads(JsonFormatter().format(record))


def test_serve_500_error_id_is_in_the_json_log(start_server: Any) -> None:
    server = start_server("serve_backends:Poison", "--log-format", "json")
    server.wait_status("/health/ready", 200)
    status, body = server.request("POST", "/invoke", {"poison": True})
    assert status == 500
    error_id = body["error"]["id"]
    deadline = time.monotonic() + 10
    while error_id not in server.output():
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)
    text = server.output()
    lines = _lines(text)
    assert len(lines) == len(text.splitlines()) >= 3  # uvicorn's own lines too
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["level"] == "ERROR" and error_id in line["message"] for line in lines)


def test_run_logs_json_lines() -> None:
    out = subprocess.run([sys.executable, "-m", "packflow.cli", "run", "serve_backends:Identity", "--log-format", "json",
                          "--log-level", "INFO", "-i", "-", "-o", "-"], input='{"a": 1}\n', capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).parent)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.strip()]
    assert any(line["level"] == "INFO" and line["logger"].startswith("packflow") for line in lines), out.stderr
