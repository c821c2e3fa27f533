"""Schemathesis against /openapi.json of a real server: ≥ 2,000 generated requests, no 5xx, responses match.

Bounded: the coverage phase, then fuzzing passes of at most 45 s each until the server has answered
2,000 requests or 90 s have passed (generation is CPU-bound, so a loaded machine needs a second pass).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("schemathesis")

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
TARGET_REQUESTS = 2000


def schemathesis(url: str, report: Path, *options: str) -> dict:
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    proc = subprocess.run(
        [cli, "run", url, "--checks", CHECKS, "--generation-database", "none", "--no-color", "--no-shrink",
         "--report", "json", "--report-json-path", str(report), *options],
        capture_output=True, text=True, timeout=120, cwd=report.parent, check=False,
    )
    summary = json.loads(report.read_text())
    assert proc.returncode == 0 and summary["failures"] == [] and summary["errors"] == [], proc.stdout[-3000:]
    return summary


def test_generated_requests_get_documented_answers_and_never_a_5xx(start_server, tmp_path):
    server = start_server("protocol_backends:TypedEcho", "--access-log")
    server.wait_status("/v2/health/ready", 200)
    url = f"http://127.0.0.1:{server.port}/openapi.json"
    start = len(server.output())  # the readiness polls before this (503 while loading) are not counted

    def statuses() -> list[int]:
        return [int(s) for s in re.findall(r'HTTP/1\.1" (\d{3})', server.output()[start:])]

    schemathesis(url, tmp_path / "coverage.json", "--phases", "coverage", "--workers", "1", "--seed", "1")
    deadline = time.monotonic() + 90
    seed = 2
    while len(statuses()) < TARGET_REQUESTS and time.monotonic() < deadline - 10:
        budget = str(int(min(45, deadline - time.monotonic())))
        schemathesis(url, tmp_path / f"fuzz-{seed}.json", "--phases", "fuzzing", "--workers", "2", "--seed", str(seed),
                     "--max-time", budget)
        seed += 1
    seen = statuses()
    assert len(seen) >= TARGET_REQUESTS, f"only {len(seen)} requests reached the server"
    assert not [s for s in seen if s >= 500]
    assert {200, 400, 404, 422} <= set(seen)  # valid and invalid requests both reached the server
