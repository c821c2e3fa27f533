"""`make demo`: run the firewall-anomaly example project with `packflow run`.

Scores examples/firewall-anomaly/sample_inputs.jsonl (normal traffic, two attacks, and four
deliberately broken lines), then prints the output records, the dead letters and the per-step
latency table that `packflow run` reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "firewall-anomaly"
PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="packflow-demo-") as tmp:
        out, dead, metrics = (Path(tmp) / name for name in ("outputs.jsonl", "dead.jsonl", "metrics.json"))
        command = [
            "run", str(PROJECT), "--input", str(PROJECT / "sample_inputs.jsonl"), "--output", str(out),
            "--dead-letters", str(dead), "--metrics-json", str(metrics), "--batch-size", "8", "--progress",
        ]
        shown = " ".join(a.replace(str(PROJECT), "examples/firewall-anomaly").replace(tmp, "$TMP") for a in command)
        print(f"$ packflow {shown}")
        done = subprocess.run(PACKFLOW + command, capture_output=True, text=True, timeout=120)
        print(f"exit code {done.returncode} (0 = all records ok, 3 = some dead-lettered)\n")
        print("== outputs (input order) ==")
        for line in out.read_text().splitlines():
            record = json.loads(line)
            flag = "ANOMALY" if record["is_anomaly"] else "ok     "
            print(f"  {flag} {record['event_id']}  score {record['anomaly_score']:>7.3f}  most unusual: {record['most_unusual']}")
        print("\n== dead letters ==")
        for line in dead.read_text().splitlines():
            letter = json.loads(line)
            print(f"  line {letter['source']:>2} [{letter['step']}] {letter['error_type']}: {letter['message']}")
        print("\n== packflow run's report (stderr) ==")
        print(done.stderr.rstrip())
        summary = json.loads(metrics.read_text())
        print(f"\n--metrics-json: records_in={summary['records_in']} records_out={summary['records_out']} "
              f"dead_letters={summary['dead_letters']} exit_code={summary['exit_code']}")
        return 0 if done.returncode in (0, 3) else done.returncode


if __name__ == "__main__":
    sys.exit(main())
