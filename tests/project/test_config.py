"""packflow.yaml: schema, errors naming keys, stable writing with headers, env variables."""

from __future__ import annotations

import logging
import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from packflow.exceptions import ProjectError
from packflow.loaders.config import NAME_PATTERN, PackflowConfig, apply_env_vars

names = st.from_regex(NAME_PATTERN, fullmatch=True).filter(lambda s: len(s) < 40)
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
scalars = st.one_of(st.integers(-1000, 1000), st.booleans(), text, st.none())


@settings(max_examples=60, deadline=None)
@given(
    name=names,
    description=text,
    maintainers=st.lists(text, max_size=3),
    env=st.dictionaries(st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True), text, max_size=3),
    backend_config=st.dictionaries(st.from_regex(r"[a-z_]{1,10}", fullmatch=True), scalars, max_size=3),
)
def test_yaml_round_trip(name, description, maintainers, env, backend_config) -> None:
    config = PackflowConfig(name=name, description=description, maintainers=maintainers, env=env,
                            backend_config=backend_config, extra={"sample_inputs": "s.jsonl"})
    again = PackflowConfig.from_dict(yaml.safe_load(config.to_yaml()))
    assert again == config
    assert again.to_yaml() == config.to_yaml()


def test_yaml_has_headers_and_stable_order() -> None:
    text = PackflowConfig(name="a", env={"X": "1"}, backend_config={"k": 1}).to_yaml()
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert keys == ["name", "version", "description", "maintainers", "inference_backend", "loader",
                    "python_version", "env", "backend_config"]
    assert text.index("# === METADATA ===") < text.index("name:") < text.index("# === RUNTIME ===")
    assert text.index("# === RUNTIME ===") < text.index("inference_backend:")


def test_unknown_top_level_key_is_named(tmp_path) -> None:
    (tmp_path / "packflow.yaml").write_text("name: a\nbackend_cofnig: {}\n")
    with pytest.raises(ProjectError, match="unknown key 'backend_cofnig'"):
        PackflowConfig.from_project_path(tmp_path)


@pytest.mark.parametrize("bad", ["1abc", "-x", "a b", "a.b", ""])
def test_name_pattern(bad: str) -> None:
    with pytest.raises(ProjectError, match="must start with a letter"):
        PackflowConfig.from_dict({"name": bad})


def test_yaml_numbers_are_kept_as_text(tmp_path) -> None:
    (tmp_path / "packflow.yaml").write_text("name: a\nversion: 1.0\nenv:\n  N: 3\n  FLAG: true\n")
    config = PackflowConfig.from_project_path(tmp_path)
    assert config.version == "1.0"
    assert config.env == {"N": "3", "FLAG": "true"}


def test_missing_or_malformed_file(tmp_path) -> None:
    with pytest.raises(ProjectError, match="Not a packflow project"):
        PackflowConfig.from_project_path(tmp_path)
    (tmp_path / "packflow.yaml").write_text("- a\n- b\n")
    with pytest.raises(ProjectError, match="must be a YAML mapping"):
        PackflowConfig.from_project_path(tmp_path)


def test_env_vars_warn_only_when_overwriting_a_different_value(monkeypatch, caplog) -> None:
    monkeypatch.setenv("PF_SAME", "1")
    monkeypatch.setenv("PF_DIFF", "old")
    monkeypatch.delenv("PF_NEW", raising=False)
    config = PackflowConfig(name="a", env={"PF_SAME": "1", "PF_DIFF": "new", "PF_NEW": "x"})
    monkeypatch.setattr(logging.getLogger("packflow"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="packflow"):
        apply_env_vars(config)
    assert os.environ["PF_DIFF"] == "new" and os.environ["PF_NEW"] == "x"
    warned = sorted({r.getMessage() for r in caplog.records})  # a set: caplog may see a record twice
    assert len(warned) == 1 and "PF_DIFF" in warned[0] and "'old'" in warned[0]


def test_sample_inputs_and_sections() -> None:
    config = PackflowConfig(name="a", extra={"sample_inputs": "data/s.jsonl"})
    assert config.sample_inputs == "data/s.jsonl"
    assert PackflowConfig(name="a").sample_inputs is None
    assert list(config.metadata()) == ["name", "version", "description", "maintainers"]
    assert list(config.runtime()) == ["inference_backend", "loader", "python_version"]
    assert config.archive_file_name("/x").name == "a-0.1.0.zip"
    assert PackflowConfig(name="my-proj", version="2.0").archive_file_name("/x").name == "my_proj-2.0.zip"
