"""BackendConfig loading: defaults < project backend_config < kwargs < BACKEND_CONFIG_FILE_PATH file."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from packflow import BackendConfig, InferenceBackend
from packflow.backend.configuration import InputFormats, deep_merge, load_backend_configuration
from packflow.exceptions import ConfigurationError
from packflow.loaders import InferenceBackendLoader


class Nested(BackendConfig):
    model: dict[str, Any] = {"name": "base", "params": {"depth": 3, "lr": 0.1}, "tags": ["a", "b"]}
    labels: list[str] = ["x"]


class Echo(InferenceBackend):
    backend_config_model = Nested

    def execute(self, inputs: Any) -> Any:
        return inputs


def _override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: Any, raw: bool = False) -> Path:
    path = tmp_path / "override.json"
    path.write_text(content if raw else json.dumps(content), encoding="utf-8")
    monkeypatch.setenv("BACKEND_CONFIG_FILE_PATH", str(path))
    return path


def test_defaults_match_packflow_04() -> None:
    config = BackendConfig()
    added = {"numpy_dtype": None, "feature_dtypes": {}, "required_fields": [], "strict_config": False}
    dumped = config.model_dump()
    assert {k: dumped.pop(k) for k in added} == added  # new fields, all off by default
    assert dumped == {
        "verbose": False,
        "input_format": InputFormats.RECORDS,
        "rename_fields": {},
        "feature_names": [],
        "flatten_nested_inputs": False,
        "flatten_lists": False,
        "nested_field_delimiter": ".",
        "ignore_delimiter_collisions": False,
        "output_keys": [],
    }


def test_kwargs_override_defaults_and_accept_model_instance() -> None:
    config = load_backend_configuration(BackendConfig(), verbose=True, input_format="numpy", feature_names=["a"])
    assert type(config) is BackendConfig
    assert config.verbose and config.input_format is InputFormats.NUMPY


def test_override_file_wins_over_kwargs_with_dict_deep_merge_and_list_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _override(tmp_path, monkeypatch, {"configs": {"model": {"params": {"lr": 0.5}, "tags": ["z"]}, "verbose": True}})
    backend = Echo(model={"name": "kw", "params": {"depth": 7, "lr": 0.2}, "tags": ["k1", "k2"]}, labels=["kw"])
    assert backend.config.model == {"name": "kw", "params": {"depth": 7, "lr": 0.5}, "tags": ["z"]}
    assert backend.config.labels == ["kw"]
    assert backend.config.verbose is True


def test_project_backend_config_is_below_kwargs_and_override_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "inference.py").write_text(
        "from typing import Any\n"
        "from packflow import BackendConfig, InferenceBackend\n"
        "class Cfg(BackendConfig):\n"
        "    a: int = 0\n    b: int = 0\n    c: int = 0\n    d: dict = {}\n"
        "class Backend(InferenceBackend):\n"
        "    backend_config_model = Cfg\n"
        "    def execute(self, inputs: Any) -> Any:\n        return inputs\n",
        encoding="utf-8",
    )
    (project / "packflow.yaml").write_text(
        "name: proj\ninference_backend: inference:Backend\n"
        "backend_config:\n  a: 1\n  b: 1\n  c: 1\n  d: {x: 1, y: 1}\n",
        encoding="utf-8",
    )
    assert InferenceBackendLoader.from_project(project).config.a == 1
    _override(tmp_path, monkeypatch, {"configs": {"c": 3, "d": {"y": 3}}})
    backend = InferenceBackendLoader.from_project(project, b=2, c=2, d={"z": 2})
    assert (backend.config.a, backend.config.b, backend.config.c) == (1, 2, 3)
    assert backend.config.d == {"x": 1, "y": 3, "z": 2}


def test_missing_override_file_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nope.json"
    monkeypatch.setenv("BACKEND_CONFIG_FILE_PATH", str(missing))
    with pytest.raises(ConfigurationError) as info:
        Echo()
    assert str(missing) in str(info.value) and "BACKEND_CONFIG_FILE_PATH" in str(info.value)


def test_override_file_that_is_not_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _override(tmp_path, monkeypatch, "{configs: nope", raw=True)
    with pytest.raises(ConfigurationError) as info:
        Echo()
    assert str(path) in str(info.value) and "not valid JSON" in str(info.value) and "line 1" in str(info.value)


@pytest.mark.parametrize("content", [{"verbose": True}, {"configs": [1]}, [1, 2]])
def test_override_file_without_configs_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: Any) -> None:
    path = _override(tmp_path, monkeypatch, content)
    with pytest.raises(ConfigurationError) as info:
        Echo()
    assert str(path) in str(info.value) and '"configs"' in str(info.value)


def test_override_file_failing_validation_names_file_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _override(tmp_path, monkeypatch, {"configs": {"verbose": "very", "labels": "x"}})
    with pytest.raises(ConfigurationError) as info:
        Echo()
    message = str(info.value)
    assert str(path) in message and "verbose" in message and "'very'" in message and "labels" in message


def test_invalid_kwargs_name_field_and_value() -> None:
    with pytest.raises(ConfigurationError) as info:
        Echo(feature_names="abc")
    assert "feature_names" in str(info.value) and "'abc'" in str(info.value)
    with pytest.raises(ValueError, match="nested_field_delimiter"):
        BackendConfig(nested_field_delimiter="")


def test_unknown_keys_are_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="packflow"):
        Echo(treshold=0.3)
    assert any("treshold" in r.getMessage() for r in caplog.records)


def test_deep_merge_merges_dicts_and_replaces_everything_else() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    merged = deep_merge(base, {"a": {"c": [3], "e": {"f": 1}}, "d": {"x": 1}})
    assert merged == {"a": {"b": 1, "c": [3], "e": {"f": 1}}, "d": {"x": 1}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
