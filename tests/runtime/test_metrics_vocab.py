"""The metric vocabulary: its definitions, the Runner's histograms, the exporters and the docs table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from packflow import InferenceBackend
from packflow.cli._metrics_reference import render_table, replace_table
from packflow.runtime import Runner
from packflow.runtime import metrics_vocab as vocab
from packflow.runtime.metrics_export import snapshot_families, to_json, to_prometheus

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


class Picky(InferenceBackend):
    def transform_inputs(self, inputs):
        return inputs

    def execute(self, inputs):
        if any(r.get("poison") for r in inputs):
            raise ValueError("poison")
        return inputs


def test_names_are_unique_prefixed_and_typed():
    names = [m.name for m in vocab.METRICS]
    assert len(names) == len(set(names))
    for m in vocab.METRICS:
        assert m.name.startswith("packflow_") and not m.name.endswith("_total"), m.name
        assert m.kind in ("counter", "gauge", "histogram")
        assert bool(m.buckets) == (m.kind == "histogram"), m.name
        if len(m.drivers) == 1:  # driver-specific: the driver's prefix
            assert m.name.startswith(f"packflow_{m.drivers[0]}_"), m.name
        if m.name != "packflow_serve_auth_failures":  # server-wide, not per model
            assert m.labels[:2] == vocab.COMMON_LABELS, m.name
        assert m.help.endswith(".") and m.unit


def test_docs_table_is_current():
    text = DOCS.read_text(encoding="utf-8")
    assert render_table() in text, "stale: python -m packflow.cli._metrics_reference --write docs/metrics.md"
    assert replace_table(text) == text
    for m in vocab.METRICS:
        assert f"`{m.samples[0] if m.kind == 'counter' else m.name}`" in text


def test_write_replaces_a_stale_table(tmp_path: Path):
    page = tmp_path / "metrics.md"
    stale = DOCS.read_text(encoding="utf-8").replace("| `packflow_records_total` |", "| `packflow_old_name` |", 1)
    page.write_text(stale, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "packflow.cli._metrics_reference", "--write", str(page)],
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert page.read_text(encoding="utf-8") == DOCS.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="no generated metrics table"):
        replace_table("# no table here")


def test_step_histograms_count_every_successful_call_like_get_statistics():
    backend = Picky()
    runner = Runner(backend, max_batch_size=16)
    runner.process_batch([{"i": i, "poison": i == 5} for i in range(16)])
    runner.process_batch([{"i": i} for i in range(3)])
    snap = runner.snapshot()
    stats = backend.get_statistics()
    for step in ("transform_inputs", "execute"):
        hist = snap.step_latency[step]
        assert hist["count"] == sum(hist["buckets"]) == stats[step].count > 2
        assert hist["sum"] > 0
    assert snap.batches == 2 and snap.batch_records == 19 and snap.backend_calls > 2


def test_json_and_prometheus_exports_hold_the_same_samples():
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    runner = Runner(Picky(feature_names=["i", "poison"]), max_batch_size=8)
    runner.process_batch([{"i": i, "poison": i == 2} for i in range(8)])
    runner.record_dead_letter("decode", 2)
    families = snapshot_families(runner.snapshot(), "picky", "0.1")

    class Collector:
        def collect(self):
            return to_prometheus(families)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())  # type: ignore[arg-type]
    scraped = {
        f.name: (f.type, {(s.name, tuple(sorted(s.labels.items())), s.value) for s in f.samples})
        for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    written = {
        name: (f["type"], {(s["name"], tuple(sorted(s["labels"].items())), float(s["value"])) for s in f["samples"]})
        for name, f in to_json(families).items()
    }
    assert scraped == written
    dead = {labels: v for n, labels, v in written["packflow_dead_letters"][1]}
    assert dead[(("backend", "picky"), ("step", "decode"), ("version", "0.1"))] == 2
    assert dead[(("backend", "picky"), ("step", "execute"), ("version", "0.1"))] == 1
    records = written["packflow_records"][1]
    assert records == {("packflow_records_total", (("backend", "picky"), ("version", "0.1")), 10.0)}
