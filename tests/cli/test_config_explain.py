"""`packflow config explain`: layers of every key, as a table and as JSON, without running initialize()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]

SOURCE = '''
from packflow import BackendConfig, InferenceBackend


class Settings(BackendConfig):
    threshold: float = 0.5
    model: dict = {"name": "base", "params": {"lr": 0.1}}


class Backend(InferenceBackend):
    backend_config_model = Settings

    def initialize(self):
        raise RuntimeError("explain must not run initialize()")

    def execute(self, inputs):
        return inputs
'''


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "inference.py").write_text(SOURCE)
    (root / "packflow.yaml").write_text("name: proj\nbackend_config:\n  threshold: 0.8\n  modle: {}\n")
    return root


def _explain(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*PACKFLOW, "config", "explain", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_explain_json_lists_every_key_with_its_layer(tmp_path: Path) -> None:
    root = _project(tmp_path)
    override = tmp_path / "override.json"
    override.write_text('{"configs": {"model": {"params": {"lr": 0.3}}}}')
    result = _explain(tmp_path, str(root), "--config", '{"model": {"name": "big"}}', "--json",
                      env={"BACKEND_CONFIG_FILE_PATH": str(override)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    keys = {k["key"]: (k["value"], k["layer"]) for k in data["keys"]}
    assert keys["threshold"] == (0.8, "packflow.yaml backend_config")
    assert keys["model.name"] == ("big", "kwargs / --config")
    assert keys["model.params.lr"] == (0.3, "BACKEND_CONFIG_FILE_PATH")
    assert keys["verbose"] == (False, "model default")
    assert data["unknown"] == [{"key": "modle", "layer": "packflow.yaml backend_config", "suggestion": "model"}]
    assert data["override_path"] == str(override)


def test_explain_table_for_a_module_target(tmp_path: Path) -> None:
    (tmp_path / "backends.py").write_text(SOURCE)
    result = _explain(tmp_path, "backends:Backend", "--config", '{"treshold": 1}')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Settings: layers model default < kwargs / --config"
    assert any(line.split() == ["threshold", "0.5", "model", "default"] for line in lines)
    assert "  'treshold' (from kwargs / --config; did you mean 'threshold'?)" in lines


def test_explain_of_a_target_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    result = _explain(tmp_path, "nowhere:Backend")
    assert result.returncode == 2 and result.stderr.startswith("Error:") and "Traceback" not in result.stderr
