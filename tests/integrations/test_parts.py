"""Engine-free parts of the integrations: Arrow ⇄ records, metric aggregation, archive shipping, lazy imports."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")

from packflow.exceptions import ArchiveError, ConfigurationError  # noqa: E402
from packflow.runtime.deadletter import DeadLetter  # noqa: E402
from packflow.runtime.integrations import _metrics, _records, _shipping  # noqa: E402

# -- records ------------------------------------------------------------------------------------

_leaf = st.one_of(st.integers(-(2**62), 2**62), st.floats(allow_nan=False), st.text(max_size=8), st.booleans())
_nested = st.fixed_dictionaries({
    "id": st.integers(0, 10**9),
    "meta": st.fixed_dictionaries({"name": st.text(max_size=8), "tags": st.lists(st.text(max_size=4), max_size=3)}),
    "x": st.floats(allow_nan=False),
})


@settings(max_examples=60, deadline=None)
@given(st.lists(_nested, min_size=1, max_size=20))
def test_nested_records_round_trip_through_arrow(records):
    schema = _records.with_status_fields(_records.derive_schema(records))
    table, failures = _records.results_to_table(records, records, schema)
    back = _records.table_to_records(table.drop_columns([_records.STATUS_COLUMN, _records.DEAD_LETTER_COLUMN]))
    assert failures == 0 and back == records
    assert table[_records.STATUS_COLUMN].to_pylist() == ["ok"] * len(records)


def test_dead_letters_carry_the_input_record_and_unencodable_outputs_become_encode_dead_letters():
    schema = _records.with_status_fields(pa.schema([("n", pa.int64())]))
    inputs = [{"id": 1}, {"id": 2}, {"id": 3}]
    results = [{"n": 1}, DeadLetter(None, "execute", "ValueError", "boom"), {"n": "not an int"}]
    table, failures = _records.results_to_table(results, inputs, schema)
    rows = table.to_pylist()
    assert failures == 1 and [r["_packflow_status"] for r in rows] == ["ok", "dead_letter", "dead_letter"]
    assert json.loads(rows[1]["_packflow_dead_letter"])["record"] == {"id": 2}
    encode = json.loads(rows[2]["_packflow_dead_letter"])
    assert encode["step"] == "encode" and encode["record"] == {"id": 3} and "output_schema" in encode["message"]


def test_output_fields_missing_from_the_schema_are_dead_lettered_not_dropped():
    schema = _records.with_status_fields(pa.schema([("n", pa.int64())]))
    table, failures = _records.results_to_table([{"n": 1, "extra": 2}], [{"id": 1}], schema)
    assert failures == 1 and "extra" in json.loads(table.to_pylist()[0]["_packflow_dead_letter"])["message"]


def test_schema_derivation_errors_name_the_fix():
    with pytest.raises(ConfigurationError, match="output_schema"):
        _records.derive_schema([])
    with pytest.raises(ConfigurationError, match=r"only nulls in \['y'\]"):
        _records.derive_schema([{"x": 1, "y": None}])
    with pytest.raises(ConfigurationError, match="reserved"):
        _records.with_status_fields(pa.schema([("_packflow_status", pa.string())]))


# -- metrics ------------------------------------------------------------------------------------

def _snapshot(records_in, dead, calls, mean, p95):
    step = {"count": calls, "errors": 0, "mean_ms": mean, "p50_ms": mean, "p95_ms": p95, "p99_ms": p95,
            "max_ms": p95 * 2, "window": calls}
    return {"records_in": records_in, "records_out": records_in - dead, "dead_letters": dead, "batches": calls,
            "backend_calls": calls, "isolation_calls": 0, "dead_letters_by_step": {"execute": dead} if dead else {},
            "steps": {"execute": step, "total": step}}


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(1, 50), st.floats(0.01, 100.0)), min_size=1, max_size=8))
def test_merged_counts_are_exact_and_means_weighted_by_calls(workers):
    total = _metrics.empty_part()
    for i, (n, calls, mean) in enumerate(workers):
        total = _metrics.merge_parts(total, _metrics.part_from_snapshot(_snapshot(n, 0, calls, mean, mean), f"w{i}"))
    summary = _metrics.summarize(total)
    assert summary["records_in"] == sum(n for n, _, _ in workers)
    assert summary["workers"] == len(workers)
    expected_mean = sum(c * m for _, c, m in workers) / sum(c for _, c, _ in workers)
    assert summary["steps"]["execute"]["mean_ms"] == pytest.approx(expected_mean)
    assert summary["steps"]["execute"]["p95_ms"] <= summary["steps"]["execute"]["max_ms"]


def test_deltas_between_cumulative_snapshots_and_encode_failures():
    start = _metrics.part_from_snapshot(_snapshot(100, 1, 4, 2.0, 3.0), "w")
    end = _metrics.part_from_snapshot(_snapshot(300, 2, 10, 3.0, 5.0), "w", encode_dead=1)
    delta = _metrics.subtract_parts(end, start)
    summary = _metrics.summarize(delta)
    assert (summary["records_in"], summary["records_out"], summary["dead_letters"]) == (200, 198, 2)
    assert summary["dead_letters_by_step"] == {"execute": 1, "encode": 1}
    assert summary["steps"]["execute"]["count"] == 6
    assert summary["steps"]["execute"]["mean_ms"] == pytest.approx((30.0 - 8.0) / 6)


# -- shipping -----------------------------------------------------------------------------------

def test_project_and_file_targets_become_absolute(identity_project, tmp_path, monkeypatch):
    monkeypatch.chdir(identity_project)
    assert _shipping.prepare_target("inference:Identity").base_dir == str(Path(identity_project).resolve())
    assert _shipping.prepare_target(".").location == str(Path(identity_project).resolve())


def test_archive_copy_with_other_bytes_is_refused(identity_archive):
    spec = _shipping.prepare_target(identity_archive)
    assert spec.archive_sha256 == hashlib.sha256(Path(identity_archive).read_bytes()).hexdigest()
    with pytest.raises(ArchiveError, match="corrupted or replaced"):
        _shipping.write_verified_archive(Path(identity_archive).read_bytes() + b"x", spec)
    copy = _shipping.write_verified_archive(Path(identity_archive).read_bytes(), spec)
    assert _shipping.load_spec(spec, copy)([{"id": 1}]) == [{"id": 1}]


def test_tampered_archive_member_is_refused(identity_archive, tmp_path, monkeypatch):
    # A fresh cache: the cache is keyed by the manifest, so a genuine copy extracted earlier would be
    # reused (and re-checked) instead of the tampered archive being extracted at all.
    monkeypatch.setenv("PACKFLOW_CACHE_DIR", str(tmp_path / "cache"))
    tampered = tmp_path / "clustertest-0.1.0.zip"
    with zipfile.ZipFile(identity_archive) as src, zipfile.ZipFile(tampered, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data + b"\n# injected\n" if name == "inference.py" else data)
    spec = _shipping.prepare_target(str(tampered))
    with pytest.raises(ArchiveError, match="manifest"):
        _shipping.load_spec(spec, str(tampered))


def test_importing_the_package_does_not_import_ray_or_pyspark():
    code = ("import sys, packflow.runtime.integrations as i; "
            "print(sorted(m for m in ('ray', 'pyspark', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_map_columns_become_dicts_even_when_nested():
    kind = pa.struct([("labels", pa.map_(pa.string(), pa.int64()))])
    table = pa.table({"meta": pa.array([{"labels": [("a", 1), ("b", 2)]}], type=kind), "n": [1]})
    assert _records.table_to_records(table) == [{"meta": {"labels": {"a": 1, "b": 2}}, "n": 1}]
