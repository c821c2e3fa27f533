"""``packflow run --engine ray|spark --tracing otlp``: the workers' batches are traced too (a real CLI
process, a local cluster, spans received by an OTLP/HTTP receiver)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("opentelemetry.sdk", reason="needs the packflow[otel] extra")
pytestmark = [pytest.mark.cluster]


@pytest.mark.parametrize("engine", [pytest.param("ray", marks=pytest.mark.ray), pytest.param("spark", marks=pytest.mark.spark)])
def test_engine_workers_export_a_span_per_batch_with_its_steps(engine, identity_project, records, records_jsonl,
                                                                tmp_path, otlp_receiver):
    pytest.importorskip(engine if engine == "ray" else "pyspark")
    output = tmp_path / "out.jsonl"
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    done = subprocess.run(
        [sys.executable, "-c", "from packflow.cli import cli; cli()", "run", "--engine", engine, identity_project,
         "--input", records_jsonl, "--output", str(output), "--batch-size", "50", "--tracing", "otlp"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()] == records

    def batches(receiver) -> list:
        return [s for s in receiver.spans if s.name == "packflow.batch"]

    otlp_receiver.wait_for(lambda r: sum(s.attributes["packflow.batch.size"] for s in batches(r)) >= len(records))
    spans = batches(otlp_receiver)
    assert sum(s.attributes["packflow.batch.size"] for s in spans) == len(records)  # each record in one batch span
    assert max(s.attributes["packflow.batch.size"] for s in spans) <= 50
    assert {s.attributes["packflow.backend.name"] for s in spans} == {"Identity"}
    steps = {s.name for s in otlp_receiver.spans if s.parent_id in {b.span_id for b in spans}}
    assert "execute" in steps
