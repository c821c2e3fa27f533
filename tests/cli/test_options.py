"""Options shared by several commands mean the same thing on each (parsed in cli/_options.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packflow.cli._options import parse_backend_config
from packflow.exceptions import ConfigurationError

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]
BACKEND = '''
from packflow import BackendConfig, InferenceBackend


class ScaledConfig(BackendConfig):
    factor: int = 1


class Scaled(InferenceBackend):
    backend_config_model = ScaledConfig

    def execute(self, inputs):
        return [{"y": self.config.factor * r["x"]} for r in inputs]
'''
#: Each record-processing command, with the arguments that make it start (no server is reached:
#: a bad --config is refused while the command line is parsed).
COMMANDS = {
    "run": ["run", "backends:Scaled"],
    "serve": ["serve", "backends:Scaled", "--port", "0"],
    "stream": ["stream", "backends:Scaled", "--input-stream", "a", "--output-stream", "b"],
    "replay": ["replay", "-", "-t", "backends:Scaled"],
}


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "backends.py").write_text(BACKEND)
    (tmp_path / "plain.json").write_text('{"factor": 10}')
    (tmp_path / "wrapped.json").write_text('{"configs": {"factor": 10}}')
    (tmp_path / "latin1.json").write_bytes(b'{"name": "caf\xe9"}')
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "array.json").write_text("[1]")
    os.mkfifo(tmp_path / "fifo")
    return tmp_path


def packflow(work: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([*PACKFLOW, *args], cwd=work, input=stdin, capture_output=True, timeout=30)


@pytest.mark.parametrize("value", ['{"factor": 10}', '{"configs": {"factor": 10}}', "plain.json", "wrapped.json"])
@pytest.mark.parametrize("command", ["run", "replay"])
def test_config_is_inline_json_or_a_file_on_every_command(work: Path, command: str, value: str) -> None:
    record = b'{"x": 3}\n' if command == "run" else b'{"record": {"x": 3}, "step": "execute", "error_type": "E"}\n'
    done = packflow(work, *COMMANDS[command], "--config", value, stdin=record)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout.splitlines()[0])
    assert (line if command == "run" else line["output"]) == {"y": 30}


@pytest.mark.parametrize("value, phrase", [
    ("{not json", "is not valid JSON"),
    ("[1]", "must be a JSON object of backend settings, not an array"),
    ("array.json", "holds a JSON list"),
    ("missing.json", "neither inline JSON"),
    ("latin1.json", "is not UTF-8 text"),
    ("deep.json", "nests JSON too deeply"),
    ("fifo", "is not a regular file"),
    ("/dev/zero", "is not a regular file"),
])  # fmt: skip
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_config_exits_2_with_one_line_on_every_command(work: Path, command: str, value: str, phrase: str) -> None:
    done = packflow(work, *COMMANDS[command], "--config", value)  # a FIFO or /dev/zero must not hang
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert phrase in err and err.startswith("Error: --config") and "Traceback" not in err
    assert err.count("\n") == 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_backend_config_never_raises_anything_but_configuration_error(text: str) -> None:
    try:
        value = parse_backend_config(text)
    except ConfigurationError:
        return
    assert isinstance(value, dict)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=5), max_size=5))
def test_inline_and_wrapped_json_give_the_same_settings(settings_: dict) -> None:
    assert parse_backend_config(json.dumps(settings_)) == settings_
    if set(settings_) != {"configs"}:
        assert parse_backend_config(json.dumps({"configs": settings_})) == settings_
