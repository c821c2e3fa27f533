"""``packflow run --engine ray|spark`` writes the same bytes as the local run (the shared codec)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from packflow.runtime import Runner, codec
from packflow.runtime.integrations import run_with_engine
from packflow.runtime.jsonl import JsonLinesReader, JsonLinesWriter, run_jsonl

pytestmark = [pytest.mark.cluster]

SOURCE = (Path(__file__).parent.parent / "conformance" / "conformance_backend.py").read_text(encoding="utf-8")


def _lines() -> bytes:
    """Ints and floats in one field, >64-bit ints, nested values, NaN/invalid lines, misbehaving records."""
    records = [{"id": i, "x": i if i % 3 else i + 0.5, "n": {"k": [i, 2**70 + i]}} for i in range(40)]
    records[7]["do"] = "poison"
    records[11]["do"] = "mutate"
    records[13]["do"] = "unencodable"
    records[17]["do"] = "nan"
    records[19]["do"] = "sysexit"
    records[23]["x"] = 2**64 + 5
    lines = [codec.encode(r) for r in records]
    lines[29] = b'{"id": 29, "x": NaN}'
    lines[31] = b'{"id": 31, "x": '
    return b"\n".join(lines) + b"\n"


@pytest.fixture(scope="module")
def conformance_project(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("conformance-project")
    (root / "inference.py").write_text(SOURCE, encoding="utf-8")
    config = {"name": "conformance", "version": "0.1.0", "inference_backend": "inference:Conformance"}
    (root / "packflow.yaml").write_text(json.dumps(config), encoding="utf-8")
    return str(root)


def _local(project: str, data: bytes) -> tuple[bytes, list[tuple]]:
    from packflow.loaders.target import load_target

    out, dead = io.BytesIO(), []
    run_jsonl(Runner(load_target(project)), JsonLinesReader(io.BytesIO(data), 8), JsonLinesWriter(out), dead.extend)
    return out.getvalue(), sorted((json.dumps(d.record, sort_keys=True), d.step, d.error_type) for d in dead)


def _dead_file(path: Path) -> list[tuple]:
    letters = [codec.decode(line) for line in path.read_bytes().splitlines()]
    return sorted((json.dumps(d["record"], sort_keys=True), d["step"], d["error_type"]) for d in letters)


@pytest.mark.parametrize("engine", [pytest.param("ray", marks=pytest.mark.ray), pytest.param("spark", marks=pytest.mark.spark)])
def test_engine_output_is_byte_identical_to_the_local_run(engine, conformance_project, tmp_path, request):
    request.getfixturevalue("ray_session" if engine == "ray" else "spark")
    data = _lines()
    (tmp_path / "in.jsonl").write_bytes(data)
    expected_out, expected_dead = _local(conformance_project, data)
    summary = run_with_engine(engine, conformance_project, str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"),
                              str(tmp_path / "dead.jsonl"), batch_size=8)
    assert (tmp_path / "out.jsonl").read_bytes() == expected_out
    assert b'{"id":1,"y":2}\n' in expected_out and b'{"id":3,"y":7.0}\n' in expected_out  # ints stay ints
    assert b'{"id":23,"y":%d}\n' % (2 * (2**64 + 5)) in expected_out  # wide ints stay exact
    assert _dead_file(tmp_path / "dead.jsonl") == expected_dead
    assert {d[1] for d in expected_dead} == {"execute", "encode", "decode"} and len(expected_dead) == 6
    assert summary["dead_letters"] == 6 and summary["records_out"] == 34
