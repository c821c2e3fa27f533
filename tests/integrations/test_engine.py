"""``run_with_engine`` (what ``packflow run --engine ray|spark`` calls) on JSON-lines and Parquet files."""

from __future__ import annotations

import json

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from packflow.exceptions import ConfigurationError  # noqa: E402
from packflow.runtime.integrations import run_with_engine  # noqa: E402

pytestmark = [pytest.mark.cluster]


@pytest.fixture(scope="module")
def poisoned_inputs(poisoned, tmp_path_factory):
    records, bad = poisoned
    folder = tmp_path_factory.mktemp("engine-in")
    jsonl = folder / "in.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    parquet = folder / "in.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet)
    return {"jsonl": str(jsonl), "parquet": str(parquet)}, records, bad


def _read_outputs(path: str) -> list[dict]:
    if path.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.parametrize("engine", [pytest.param("ray", marks=pytest.mark.ray), pytest.param("spark", marks=pytest.mark.spark)])
@pytest.mark.parametrize(("fmt", "out_name"), [("jsonl", "out.jsonl"), ("parquet", "out.parquet")])
def test_run_with_engine_writes_outputs_and_dead_letters(engine, fmt, out_name, poisoned_inputs, identity_project,
                                                        tmp_path, request):
    request.getfixturevalue("ray_session" if engine == "ray" else "spark")
    inputs, records, bad = poisoned_inputs
    output, dead_path = str(tmp_path / out_name), str(tmp_path / "dead.jsonl")
    summary = run_with_engine(engine, identity_project, inputs[fmt], output, dead_path, batch_size=128,
                              backend_kwargs={}, on_error="isolate")
    expected = [r for r in records if r["id"] not in bad]
    assert sorted(_read_outputs(output), key=lambda r: r["id"]) == expected
    with open(dead_path, encoding="utf-8") as handle:
        dead = [json.loads(line) for line in handle]
    assert sorted(d["record"]["id"] for d in dead) == sorted(bad)
    assert {d["step"] for d in dead} == {"execute"}
    assert (summary["records_in"], summary["records_out"], summary["dead_letters"]) == (2000, 2000 - len(bad), len(bad))
    assert summary["dead_letters_by_step"] == {"execute": len(bad)}
    assert summary["steps"]["execute"]["count"] > 0 and summary["workers"] >= 1


def test_unknown_engine_and_unknown_format_are_clear_errors(tmp_path, identity_project):
    with pytest.raises(ConfigurationError, match="Unknown engine 'dask'"):
        run_with_engine("dask", identity_project, str(tmp_path), str(tmp_path / "o.jsonl"))
    bad = tmp_path / "in.csv"
    bad.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="JSON lines"):
        run_with_engine("ray", identity_project, str(bad), str(tmp_path / "o.jsonl"))
    with pytest.raises(ConfigurationError, match="not stdin"):
        run_with_engine("spark", identity_project, "-", str(tmp_path / "o.jsonl"))


@pytest.mark.spark
def test_packflow_run_engine_command(spark, records_jsonl, records, identity_project, tmp_path):
    """End to end through the CLI, once ``packflow run`` (another module) is present with --engine."""
    import importlib.util

    if importlib.util.find_spec("packflow.cli.run") is None:
        pytest.skip("packflow.cli.run is not in this build yet")
    from click.testing import CliRunner

    from packflow.cli import cli

    output = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["run", "--engine", "spark", identity_project, "--input", records_jsonl,
                                      "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()] == records


@pytest.mark.ray
def test_fail_mode_turns_the_engine_error_into_a_typed_error(ray_session, poisoned_inputs, identity_project, tmp_path):
    from packflow.runtime.integrations.engine import EngineJobError

    inputs, _, _ = poisoned_inputs
    with pytest.raises(EngineJobError, match="The ray job failed"):
        run_with_engine("ray", identity_project, inputs["jsonl"], str(tmp_path / "o.jsonl"), on_error="fail")
