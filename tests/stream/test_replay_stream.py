"""`packflow replay --redis-url … --from-stream …`: a real stream's dead letters, replayed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.redis

HERE = Path(__file__).parent
PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]


def test_stream_dead_letters_replay_through_a_fixed_backend(r, redis_server, h, tmp_path):
    ids = h.fill(r, "in", 20, poison_every=5)  # records 4, 9, 14, 19 are poisoned
    h.make_driver(redis_server.url).run()
    assert len(h.read_all(r, "in:dead")) == 4

    done = subprocess.run(
        [*PACKFLOW, "replay", "--redis-url", redis_server.url, "--from-stream", "in:dead",
         "-t", "stream_backends:Identity", "-o", str(tmp_path / "rec.jsonl"), "--compare"],
        cwd=HERE, capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    recovered = [json.loads(line) for line in (tmp_path / "rec.jsonl").read_text().splitlines()]
    assert sorted(r["output"]["i"] for r in recovered) == [4, 9, 14, 19]
    assert {r["replay_of"]["source"].encode() for r in recovered} == {ids[4], ids[9], ids[14], ids[19]}
    assert "4 recovered, 0 still failing" in done.stderr.decode()
    assert "execute" in done.stderr.decode() and "ValueError" in done.stderr.decode()


@pytest.mark.parametrize("flag, code", [((), 0), (("--fail-on-dead-letters",), 3)])
def test_stream_exit_code_policy_follows_the_flag(r, redis_server, h, flag, code):
    h.fill(r, "in", 10, poison_every=5)
    proc = h.stream_cli(redis_server.url, "stream_backends:Poison", "--input-stream", "in", "--output-stream", "out",
                        "--exit-when-idle", "0.5", *flag)
    proc.communicate(timeout=60)
    assert proc.returncode == code
    assert len(h.read_all(r, "in:dead")) == 2
