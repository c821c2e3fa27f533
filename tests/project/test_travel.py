"""Projects that travel: the backend finds its own files from any working directory, from its
archive's extraction directory, and under a `module:Name` target run inside the project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from packflow.loaders import InferenceBackendLoader
from packflow.loaders.target import resolve_target
from packflow.project import PackflowProject

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]

INFERENCE = '''
import os
from packflow import BackendConfig, InferenceBackend


class Config(BackendConfig):
    factor: int = 1


class Scaler(InferenceBackend):
    backend_config_model = Config

    def initialize(self):
        self.offset = int((self.project_dir / "models" / "offset.txt").read_text())
        self.env_dir = os.environ.get("TRAVEL_MODEL_DIR")

    def execute(self, inputs):
        return [{"y": self.config.factor * r["x"] + self.offset, "env_dir": self.env_dir} for r in inputs]
'''


@pytest.fixture
def travel(project: PackflowProject) -> Path:
    root = project.base_dir
    (root / "inference.py").write_text(INFERENCE)
    (root / "models").mkdir()
    (root / "models" / "offset.txt").write_text("100")
    text = (root / "packflow.yaml").read_text()
    text = text.replace(text[text.index("inference_backend:"):].splitlines()[0], "inference_backend: inference:Scaler")
    text += "\nenv:\n  TRAVEL_MODEL_DIR: ./models\n"
    text = text.replace("backend_config:", "backend_config:\n  factor: 3", 1) if "backend_config:" in text else text + "backend_config:\n  factor: 3\n"
    (root / "packflow.yaml").write_text(text)
    (root / "sample_inputs.jsonl").write_text('{"x": 1}\n')
    return root


def _run(cwd: Path, target: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PACKFLOW, "run", target, *extra], cwd=cwd, input=b'{"x": 2}\n', capture_output=True,
                          timeout=60, env={k: v for k, v in os.environ.items() if k != "TRAVEL_MODEL_DIR"})


def test_project_dir_and_relative_env_paths_work_from_the_parent_directory(travel: Path) -> None:
    done = _run(travel.parent, travel.name)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["y"] == 3 * 2 + 100
    assert out["env_dir"] == str((travel / "models").resolve())  # ./models resolved against the project root


def test_project_dir_is_the_extraction_directory_of_an_archive(travel: Path, tmp_path: Path) -> None:
    archive = PackflowProject(travel).export(tmp_path / "dist")
    backend = InferenceBackendLoader.from_archive(archive)
    assert backend.project_dir is not None and backend.project_dir != travel.resolve()
    assert (backend.project_dir / "models" / "offset.txt").read_text() == "100"
    assert backend({"x": 1})["y"] == 103
    assert resolve_target(str(archive)).name == resolve_target(str(travel)).name  # same metric labels


def test_module_target_inside_the_project_uses_its_backend_config(travel: Path) -> None:
    done = _run(travel, "inference:Scaler")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["y"] == 3 * 2 + 100  # factor 3 from packflow.yaml


def test_a_different_module_target_is_told_loudly_that_the_project_config_is_not_used(travel: Path) -> None:
    (travel / "other.py").write_text(INFERENCE.replace("class Scaler", "class Other"))
    done = _run(travel, "other:Other")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["y"] == 1 * 2 + 100
    assert b"are NOT applied to 'other:Other'" in done.stderr


def test_a_backend_defined_outside_a_loader_gets_its_file_directory(tmp_path: Path) -> None:
    from packflow import InferenceBackend

    class Here(InferenceBackend):
        def execute(self, inputs):
            return inputs

    assert Here().project_dir == Path(__file__).resolve().parent
