"""`packflow run`: the end-of-run summary and --metrics-json carry the field-level data-quality counts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]

BACKEND = '''
from packflow import InferenceBackend


class Width(InferenceBackend):
    def execute(self, inputs):
        return [{"n": int(row.shape[0])} for row in inputs]
'''


def test_summary_and_metrics_json_hold_field_counts(tmp_path: Path) -> None:
    (tmp_path / "backends.py").write_text(BACKEND)
    records = [{"a": 1, "b": 2}, {"a": 2, "x": 0}, {"a": None, "b": 1}, {"a": "bad", "b": 1}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    config = json.dumps({"input_format": "numpy", "feature_names": ["a", "b"]})
    result = subprocess.run(
        [*PACKFLOW, "run", "backends:Width", "-i", "in.jsonl", "-o", "out.jsonl", "--config", config,
         "--metrics-json", "m.json", "--progress", "--no-fail-on-dead-letters"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    quality = json.loads((tmp_path / "m.json").read_text())["data_quality"]
    assert quality["records"] == 4
    assert quality["fields"]["a"] == {"present": 3, "missing": 0, "null": 1, "type_mismatch": 1}
    assert quality["fields"]["b"] == {"present": 3, "missing": 1, "null": 0, "type_mismatch": 0}
    assert quality["unexpected"] == 1
    row = next(line for line in result.stderr.splitlines() if line.startswith("a "))
    assert row.split() == ["a", "3", "0", "1", "1"]
    assert "1 unexpected in 4 records" in result.stderr
