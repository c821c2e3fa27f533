"""Progress and summaries tell the truth: the bar follows processed records, counts are pluralised."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]
BACKEND = (
    "from packflow import InferenceBackend\n"
    "class B(InferenceBackend):\n"
    "    def execute(self, inputs):\n"
    "        return [{'y': 1 / r['x']} for r in inputs]\n"
)


def _run(tmp_path: Path, lines: list[dict], *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "b.py").write_text(BACKEND)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return subprocess.run([*PACKFLOW, "run", "b:B", "-i", "in.jsonl", "-o", "out.jsonl", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_the_bar_follows_processed_records_not_read_ahead(tmp_path: Path) -> None:
    done = _run(tmp_path, [{"x": i + 1} for i in range(22)], "--batch-size", "8", "--progress")
    assert done.returncode == 0, done.stderr
    bars = [line for line in done.stderr.splitlines() if line.startswith("[")]
    first, last = bars[0], bars[-1]
    assert re.search(r"\b8 records", first) and "100%" not in first  # 8 of 22 records: about 36%
    percent = int(re.search(r"(\d+)%", first).group(1))
    assert 30 <= percent <= 40
    assert re.search(r"100%\s+22 records", last)


def test_one_dead_letter_is_one_record(tmp_path: Path) -> None:
    done = _run(tmp_path, [{"x": 1}, {"x": 0}], "--progress")
    assert done.returncode == 3
    assert "1 record was dead-lettered" in done.stderr
    assert "in 1 batch;" in done.stderr
