"""backend.config_sources(): every effective key, its value and the layer that set it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from packflow import BackendConfig, InferenceBackend
from packflow.backend.provenance import LAYER_DEFAULT, LAYER_KWARGS, LAYER_OVERRIDE, LAYER_PROJECT
from packflow.loaders.base import InferenceBackendLoader


class Settings(BackendConfig):
    threshold: float = 0.5
    model: dict = {"name": "base", "params": {"lr": 0.1, "depth": 3}}


class Backend(InferenceBackend):
    backend_config_model = Settings

    def execute(self, inputs: Any) -> Any:
        return inputs


def _layers(backend: InferenceBackend) -> dict[str, tuple[Any, str]]:
    return {s.key: (s.value, s.layer) for s in backend.config_sources().sources()}


def test_each_leaf_names_its_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = tmp_path / "override.json"
    override.write_text(json.dumps({"configs": {"model": {"params": {"depth": 9}}}}))
    monkeypatch.setenv("BACKEND_CONFIG_FILE_PATH", str(override))
    backend = Backend(threshold=0.7, model={"params": {"lr": 0.2}})
    layers = _layers(backend)
    assert layers["threshold"] == (0.7, LAYER_KWARGS)
    assert layers["model.name"] == ("base", LAYER_DEFAULT)
    assert layers["model.params.lr"] == (0.2, LAYER_KWARGS)
    assert layers["model.params.depth"] == (9, LAYER_OVERRIDE)
    assert layers["input_format"] == ("records", LAYER_DEFAULT)
    resolution = backend.config_sources()
    assert resolution.override_path == str(override)
    assert json.loads(json.dumps(resolution.to_dict()))["layers"] == [LAYER_DEFAULT, LAYER_KWARGS, LAYER_OVERRIDE]


def test_the_project_layer_sits_between_defaults_and_kwargs(tmp_path: Path) -> None:
    (tmp_path / "inference.py").write_text(
        "from packflow import BackendConfig, InferenceBackend\n"
        "class Settings(BackendConfig):\n    threshold: float = 0.5\n    label: str = 'x'\n"
        "class Backend(InferenceBackend):\n    backend_config_model = Settings\n"
        "    def execute(self, inputs):\n        return inputs\n"
    )
    (tmp_path / "packflow.yaml").write_text(
        "name: p\nbackend_config:\n  threshold: 0.9\n  label: from-yaml\n  treshold: 1\n"
    )
    backend = InferenceBackendLoader.from_project(tmp_path, label="from-kwargs")
    layers = _layers(backend)
    assert layers["threshold"] == (0.9, LAYER_PROJECT)
    assert layers["label"] == ("from-kwargs", LAYER_KWARGS)
    [unknown] = backend.config_sources().unknown
    assert (unknown.key, unknown.layer, unknown.suggestion) == ("treshold", LAYER_PROJECT, "threshold")


def test_a_backend_built_inside_initialize_does_not_inherit_the_project_layer(tmp_path: Path) -> None:
    (tmp_path / "inference.py").write_text(
        "from packflow import InferenceBackend\n"
        "class Inner(InferenceBackend):\n    def execute(self, inputs):\n        return inputs\n"
        "class Backend(InferenceBackend):\n    def initialize(self):\n        self.inner = Inner()\n"
        "    def execute(self, inputs):\n        return inputs\n"
    )
    (tmp_path / "packflow.yaml").write_text("name: p\nbackend_config:\n  verbose: true\n")
    backend = InferenceBackendLoader.from_project(tmp_path)
    assert backend.config.verbose is True and backend.inner.config.verbose is False
