"""The shipped example project is a valid project whose sample inputs pass check_io."""

from __future__ import annotations

from pathlib import Path

from packflow.project import PackflowProject

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "firewall-anomaly"


def test_example_project_validates_without_errors_or_warnings():
    report = PackflowProject(EXAMPLE).validate()
    assert report.errors == []
    assert report.warnings == []


def test_example_flags_the_attacks_in_its_event_file():
    import json

    backend = PackflowProject(EXAMPLE).load_backend()
    records = []
    for line in (EXAMPLE / "events.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event_id") in ("evt-0901", "evt-0902"):
            records.append(record)
    outputs = backend(records)
    assert len(outputs) == 2
    assert all(o["is_anomaly"] is True and o["anomaly_score"] > 6.0 for o in outputs)
