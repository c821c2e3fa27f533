"""resolve_target: project directory, .zip archive, file or installed module."""

from __future__ import annotations

from pathlib import Path

import pytest

from packflow.exceptions import InferenceBackendLoadError
from packflow.loaders.target import load_target, resolve_target


def _write_project(root: Path) -> None:
    root.mkdir()
    (root / "inference.py").write_text(
        "from packflow import InferenceBackend\n"
        "class Backend(InferenceBackend):\n"
        "    def execute(self, inputs):\n        return [{'ok': True} for _ in inputs]\n",
        encoding="utf-8",
    )
    (root / "packflow.yaml").write_text("name: demo-proj\nversion: 1.2.3\n", encoding="utf-8")


def test_project_directory(tmp_path: Path) -> None:
    _write_project(tmp_path / "p")
    target = resolve_target(str(tmp_path / "p"))
    assert (target.kind, target.name, target.version) == ("project", "demo-proj", "1.2.3")
    assert target.load()({"a": 1}) == {"ok": True}


def test_file_target_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_project(tmp_path / "p")
    monkeypatch.chdir(tmp_path / "p")
    target = resolve_target("inference:Backend")
    assert (target.kind, target.name) == ("file", "Backend")
    assert load_target("inference:Backend")([{"a": 1}]) == [{"ok": True}]


def test_module_target_and_errors(tmp_path: Path) -> None:
    assert resolve_target("packflow.testing:check_backend").kind == "module"
    with pytest.raises(InferenceBackendLoadError, match="without packflow.yaml"):
        resolve_target(str(tmp_path))
    with pytest.raises(InferenceBackendLoadError, match="does not exist"):
        resolve_target(str(tmp_path / "x-1.0.zip"))
    with pytest.raises(InferenceBackendLoadError, match="module:ClassName"):
        resolve_target("just-a-word")
