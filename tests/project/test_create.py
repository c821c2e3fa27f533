"""packflow create: the template, existing directories, and undoing a failed create."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from packflow._version import __version__
from packflow.cli import cli
from packflow.exceptions import ProjectError
from packflow.loaders.config import PackflowConfig
from packflow.project import PackflowProject
from packflow.project import template as template_module

TEMPLATE_FILES = {"inference.py", "packflow.yaml", "requirements.txt", "README.md", "MODEL_CARD.md",
                  "LICENSE.txt", "test_inference.py", "sample_inputs.jsonl", ".gitignore"}


def test_create_writes_the_template(tmp_path: Path) -> None:
    project = PackflowProject.create("my-proj", parent_dir=tmp_path, config_data={"version": "1.2.3", "maintainers": ["m@x"]})
    root = project.base_dir
    assert root == (tmp_path / "my-proj").resolve()
    assert {p.name for p in root.iterdir()} == TEMPLATE_FILES
    assert (root / "requirements.txt").read_text().splitlines()[0] == f"packflow=={__version__}"
    config = PackflowConfig.from_project_path(root)
    assert (config.name, config.version, config.maintainers, config.inference_backend) == ("my-proj", "1.2.3", ["m@x"], "inference:Backend")
    assert "# my-proj" in (root / "README.md").read_text()
    assert project.load_backend()([{"text": "a b c"}]) == [{"word_count": 3}]


def test_existing_directory_needs_force(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("mine")
    (tmp_path / "p" / "README.md").write_text("old")
    with pytest.raises(ProjectError, match="already exists.*--force"):
        PackflowProject.create("p", parent_dir=tmp_path)
    assert {p.name for p in (tmp_path / "p").iterdir()} == {"keep.txt", "README.md"}
    PackflowProject.create("p", parent_dir=tmp_path, force=True)
    assert (tmp_path / "p" / "keep.txt").read_text() == "mine"
    assert (tmp_path / "p" / "inference.py").is_file()


def test_failed_create_removes_only_what_it_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "keep.txt").write_text("mine")
    (root / "README.md").write_text("my readme")

    def boom(source: object) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(template_module, "_requirements", boom)
    with pytest.raises(OSError, match="disk full"):
        PackflowProject.create("p", parent_dir=tmp_path, force=True)
    assert {p.name for p in root.iterdir()} == {"keep.txt", "README.md"}
    assert (root / "README.md").read_text() == "my readme"
    with pytest.raises(OSError):
        PackflowProject.create("fresh", parent_dir=tmp_path)
    assert not (tmp_path / "fresh").exists()


def test_optional_files(tmp_path: Path) -> None:
    project = PackflowProject.create("p", parent_dir=tmp_path, optional_files=["README.md"])
    assert {p.name for p in project.base_dir.iterdir()} == {"inference.py", "packflow.yaml", "requirements.txt", "README.md"}


def test_cli_create(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["create", "cli-proj", "-d", str(tmp_path), "--description", "hello", "--maintainer", "a@x",
            "--maintainer", "b@x", "--version", "0.2.0", "--no-input"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Success: Created" in result.output
    config = PackflowConfig.from_project_path(tmp_path / "cli-proj")
    assert (config.description, config.maintainers, config.version) == ("hello", ["a@x", "b@x"], "0.2.0")
    again = runner.invoke(cli, args)
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(cli, ["create", "9lives", "-d", str(tmp_path)])
    assert bad.exit_code == 1 and "must start with a letter" in bad.output
    assert not (tmp_path / "9lives").exists()


def test_template_test_file_passes_under_pytest(tmp_path: Path) -> None:
    root = PackflowProject.create("p", parent_dir=tmp_path).base_dir
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root)],
                          cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout


def test_failed_create_removes_the_parents_it_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(template_module, "_requirements", lambda source: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        PackflowProject.create("p", parent_dir=tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []
