"""``packflow stream --log-format json``: logs, --status lines and the end summary are JSON lines; a URL password never shows."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.redis


def test_stream_status_and_summary_are_json_lines(r, redis_server, h, processes):
    h.fill(r, "in", 50, poison_every=10)
    proc = h.stream_cli(redis_server.url, "stream_backends:Poison", "--input-stream", "in", "--output-stream", "out",
                        "--exit-when-idle", "2.5", "--status", "--log-format", "json", "--log-level", "INFO",
                        env={"PACKFLOW_TEST_DELAY_S": "0.02"})
    processes.append(proc)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = [json.loads(text) for text in err.splitlines()]  # no "\r" status redraws, no text summary
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    status = [line for line in lines if line["logger"] == "packflow.stream.status"]
    assert status and status[-1]["message"].startswith("packflow stream  50 records")
    assert any(line["logger"] == "packflow.cli" and "records: 50 in" in line["message"] for line in lines)


def test_an_acl_password_in_the_url_is_masked_in_json_errors(redis_server, h, processes):
    port = urlsplit(redis_server.url).port
    url = f"redis://app:pw-Json-9q@127.0.0.1:{port}/0"  # the default user has no such ACL user: refused
    proc = h.stream_cli(url, "stream_backends:Identity", "--input-stream", "in", "--output-stream", "out",
                        "--log-format", "json", "--log-level", "DEBUG")
    processes.append(proc)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    lines = [json.loads(text) for text in err.splitlines()]
    assert lines[-1]["level"] == "ERROR" and "app:***@127.0.0.1" in lines[-1]["message"]
    assert "pw-Json-9q" not in err
