"""packflow validate: each error and warning the issue lists, -v, --no-warnings, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from packflow.cli import cli
from packflow.project import PackflowProject


def _messages(project: PackflowProject) -> tuple[list[str], list[str]]:
    report = project.validate()
    return report.errors, report.warnings


def test_clean_project_has_no_errors_or_warnings(project: PackflowProject) -> None:
    errors, warnings = _messages(project)
    assert errors == [] and warnings == []
    result = CliRunner().invoke(cli, ["validate", str(project.base_dir)])
    assert result.exit_code == 0
    assert "All validation checks passed." in result.output


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda r: (r / "packflow.yaml").unlink(), "required file 'packflow.yaml' is missing"),
        (lambda r: (r / "requirements.txt").unlink(), "Required file 'requirements.txt' is missing"),
        (lambda r: (r / "requirements.txt").write_text("numpy\n# packflow\n"), "'packflow' is not listed in requirements.txt"),
        (lambda r: (r / "inference.py").unlink(), "Backend file 'inference.py'"),
        (lambda r: (r / "inference.py").write_text("raise RuntimeError('broken model')\n"), "does not load: .*broken model"),
        (lambda r: (r / "packflow.yaml").write_text((r / "packflow.yaml").read_text() + "colour: red\n"), "unknown key 'colour'"),
        (lambda r: (r / "sample_inputs.jsonl").write_text('{"text": 1}\nnot json\n'), "sample_inputs.jsonl line 2 is not valid JSON"),
        (lambda r: (r / "sample_inputs.jsonl").write_text('[1, 2]\n'), "record 1 is a list, not a JSON object"),
    ],
)
def test_errors(project: PackflowProject, breakage, expected: str) -> None:
    breakage(project.base_dir)
    errors, _ = _messages(project)
    assert any(__import__("re").search(expected, e) for e in errors), errors
    result = CliRunner().invoke(cli, ["validate", str(project.base_dir)])
    assert result.exit_code == 1
    assert "Error:" in result.output


def test_failing_sample_check_is_an_error(project: PackflowProject) -> None:
    (project.base_dir / "inference.py").write_text(
        "from packflow import InferenceBackend\n"
        "class Backend(InferenceBackend):\n"
        "    def execute(self, inputs):\n"
        "        return [{'v': object()} for _ in inputs]\n"
    )
    errors, _ = _messages(project)
    assert len(errors) == 1 and "check_io on sample_inputs.jsonl failed" in errors[0] and "JSON-serialisable" in errors[0]


def test_sample_inputs_named_in_packflow_yaml(project: PackflowProject) -> None:
    root = project.base_dir
    (root / "sample_inputs.jsonl").unlink()
    config = project.config.model_copy(update={"extra": {"sample_inputs": "data/samples.jsonl"}})
    config.write_yaml(root)
    errors, _ = _messages(project)
    assert errors == ["extra.sample_inputs names 'data/samples.jsonl', which does not exist in " + str(root) + "."]
    (root / "data").mkdir()
    (root / "data" / "samples.jsonl").write_text(json.dumps({"text": "x y"}) + "\n")
    report = project.validate()
    assert report.valid
    assert any("check_io passed on 1 record(s) from data/samples.jsonl" in c.message for c in report.checks)
    assert project.load_sample_inputs() == [{"text": "x y"}]


def test_warnings(project: PackflowProject, tmp_path: Path) -> None:
    root = project.base_dir
    (root / "README.md").unlink()
    (root / "LICENSE.txt").write_text("  \n")
    fresh = PackflowProject.create("fresh", parent_dir=tmp_path).base_dir
    (root / "MODEL_CARD.md").write_bytes((fresh / "MODEL_CARD.md").read_bytes())
    (root / "requirements.txt").write_text("packflow==0.4.1\nnot-a-real-package-xyz>=1\nnumpy<1.0\n")
    config = project.config.model_copy(update={"python_version": "2.7.18", "description": ""})
    config.write_yaml(root)
    errors, warnings = _messages(project)
    assert errors == []
    text = "\n".join(warnings)
    for expected in ["'README.md' is missing", "'LICENSE.txt' is empty", "'MODEL_CARD.md' appears to be unchanged",
                     "'packflow==0.4.1' does not match the installed packflow", "'not-a-real-package-xyz>=1' is not installed",
                     "'numpy<1.0' does not match", "specifies Python 2.7.18", "'description' is empty"]:
        assert expected in text, expected

    runner = CliRunner()
    result = runner.invoke(cli, ["validate", str(root)])
    assert result.exit_code == 0 and f"0 error(s), {len(warnings)} warning(s) found" in result.output
    assert "Validation passed with warnings." in result.output
    quiet = runner.invoke(cli, ["validate", str(root), "--no-warnings"])
    assert quiet.exit_code == 0 and "Warning:" not in quiet.output


def test_verbose_lists_each_check(project: PackflowProject) -> None:
    result = CliRunner().invoke(cli, ["validate", str(project.base_dir), "-v"])
    assert result.exit_code == 0
    for line in ["✓ packflow.yaml (demo-proj 0.1.0)", "✓ inference:Backend loads (local loader)",
                 "✓ check_io passed on 3 record(s) from sample_inputs.jsonl", "✓ README.md"]:
        assert line in result.output


def test_validate_in_a_real_subprocess(project: PackflowProject, tmp_path: Path) -> None:
    import subprocess

    ok = subprocess.run([str(Path(sys.executable).with_name("packflow")), "validate"], cwd=project.base_dir,
                        capture_output=True, text=True, timeout=60)
    (project.base_dir / "requirements.txt").unlink()
    bad = subprocess.run([str(Path(sys.executable).with_name("packflow")), "validate", str(project.base_dir)],
                         capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert bad.returncode == 1 and "requirements.txt' is missing" in bad.stdout


def test_json_list_sample_inputs(project: PackflowProject) -> None:
    root = project.base_dir
    (root / "samples.json").write_text(json.dumps([{"text": "a"}, {"text": "b c"}]))
    project.config.model_copy(update={"extra": {"sample_inputs": "samples.json"}}).write_yaml(root)
    assert project.load_sample_inputs() == [{"text": "a"}, {"text": "b c"}]
    project.config.model_copy(update={"extra": {"sample_inputs": "../outside.jsonl"}}).write_yaml(root)
    errors, _ = _messages(project)
    assert errors == ["extra.sample_inputs '../outside.jsonl' must be a path inside the project, relative to it."]
