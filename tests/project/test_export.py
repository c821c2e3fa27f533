"""packflow export: file selection, the manifest, reproducibility, blocking on validation errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from packflow._version import __version__
from packflow.cli import cli
from packflow.exceptions import ProjectError
from packflow.loaders.config import get_python_version
from packflow.project import PackflowProject


def _names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()


def test_archive_layout_and_manifest(project: PackflowProject, tmp_path: Path) -> None:
    archive = project.export(tmp_path / "out")
    assert archive == (tmp_path / "out" / "demo_proj-0.1.0.zip").resolve()
    names = _names(archive)
    assert names[-1] == "packflow-manifest.json"
    assert names[:-1] == sorted(names[:-1])
    assert "inference.py" in names and "packflow.yaml" in names  # project files at the archive root
    with zipfile.ZipFile(archive) as zf:
        manifest = json.loads(zf.read("packflow-manifest.json"))
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
        for name, entry in manifest["files"].items():
            data = zf.read(name)
            assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert set(manifest["files"]) == set(names) - {"packflow-manifest.json"}
    assert manifest["packflow_version"] == __version__
    assert manifest["python_version"] == get_python_version()
    assert manifest["metadata"] == {"name": "demo-proj", "version": "0.1.0", "description": "Counts words.",
                                    "maintainers": ["a@example.com"]}
    assert manifest["runtime"]["inference_backend"] == "inference:Backend"


def test_reexport_is_byte_identical(project: PackflowProject, tmp_path: Path) -> None:
    first = project.export(tmp_path / "a").read_bytes()
    for path in project.base_dir.rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
    os.chmod(project.base_dir / "inference.py", 0o755)
    second = project.export(tmp_path / "b").read_bytes()
    moved = tmp_path / "elsewhere" / "demo-proj"
    shutil.copytree(project.base_dir, moved)
    third = PackflowProject(moved).export(tmp_path / "c").read_bytes()
    assert first == second == third


def test_exclusions_and_gitignore(project: PackflowProject, tmp_path: Path) -> None:
    root = project.base_dir
    for rel in [".git/config", ".venv/bin/python", "venv/x", "__pycache__/inference.cpython-311.pyc", "pkg/mod.pyc",
                ".mypy_cache/x", "node_modules/a.js", "secret.txt", "data/big.bin", "logs/today.log",
                "wheels/stray.whl", "packflow-manifest.json"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "helpers.py").write_text("X = 1\n")
    (root / "models").mkdir()
    (root / "models" / "weights.json").write_text("{}")
    (root / ".gitignore").write_text("secret.txt\ndata/\n*.log\n")
    names = set(_names(project.export(root)))  # output inside the project: the archive must not include itself
    assert names == {".gitignore", "LICENSE.txt", "MODEL_CARD.md", "README.md", "inference.py", "packflow.yaml",
                     "requirements.txt", "sample_inputs.jsonl", "test_inference.py", "pkg/__init__.py",
                     "pkg/helpers.py", "models/weights.json", "packflow-manifest.json"}
    again = set(_names(project.export(root)))
    assert "demo_proj-0.1.0.zip" not in again and again == names


def test_symlink_leaving_the_project_is_not_exported(project: PackflowProject, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (project.base_dir / "link.txt").symlink_to(outside)
    (project.base_dir / "inside.txt").symlink_to(project.base_dir / "README.md")
    names = _names(project.export(tmp_path / "out"))
    assert "link.txt" not in names and "inside.txt" in names


def test_export_blocked_by_validation_errors(project: PackflowProject, tmp_path: Path) -> None:
    (project.base_dir / "requirements.txt").write_text("numpy\n")
    with pytest.raises(ProjectError, match=r"Export blocked by 1 validation error\(s\):\n  - 'packflow' is not listed"):
        project.export(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(cli, ["export", str(project.base_dir), "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Error: 'packflow' is not listed" in result.output and "Export blocked" in result.output
    assert not (tmp_path / "out").exists()


def test_wheel_options_need_with_wheels_and_a_matching_pin(project: PackflowProject, tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="add --with-wheels"):
        project.export(tmp_path, platforms=("manylinux2014_x86_64",))
    (project.base_dir / "requirements.txt").write_text("packflow==0.4.1\n")
    with pytest.raises(ProjectError, match="pins 'packflow==0.4.1' but --with-wheels bundles the running packflow"):
        project.export(tmp_path, with_wheels=True)


def test_cli_export(project: PackflowProject, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(project.base_dir), "-o", str(out), "-v"])
    assert result.exit_code == 0, result.output
    assert "✓ inference:Backend loads" in result.output
    assert f"Success: Saved Package to {out.resolve() / 'demo_proj-0.1.0.zip'}" in result.output
    missing = CliRunner().invoke(cli, ["export", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "packflow.yaml' is missing" in missing.output
