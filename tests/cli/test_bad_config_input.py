"""Bad configuration input fails closed: exit 2 (cannot start) or 1 (failed while running), one line, no hang.

Every case runs the real CLI in a subprocess with a timeout, so a hang fails the test instead of the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]

BACKENDS = '''
import sys

from packflow import InferenceBackend


class Echo(InferenceBackend):
    def execute(self, inputs):
        return inputs


class BadInit(InferenceBackend):
    def __init__(self, **kwargs):
        raise RuntimeError("cannot find weights.bin")

    def execute(self, inputs):
        return inputs


class ExitsInInit(InferenceBackend):
    def __init__(self, **kwargs):
        sys.exit(4)

    def execute(self, inputs):
        return inputs
'''

PROJECT_YAML = "name: proj\ninference_backend: backends:Echo\n"


@pytest.fixture()
def work(tmp_path: Path) -> Path:
    (tmp_path / "backends.py").write_text(BACKENDS)
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "in.jsonl").write_text('{"x": 1}\n')
    project = tmp_path / "proj"
    project.mkdir()
    (project / "backends.py").write_text(BACKENDS)
    (project / "packflow.yaml").write_text(PROJECT_YAML)
    (project / "requirements.txt").write_text("packflow\n")
    return tmp_path


def packflow(work: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([*PACKFLOW, *args], cwd=work, capture_output=True, text=True, timeout=60, env=full_env)


def assert_one_line(result: subprocess.CompletedProcess, code: int, *phrases: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]


def _deep_json(path: Path) -> Path:
    path.write_text('{"configs": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    return path


def _non_utf8(path: Path) -> Path:
    path.write_bytes(b'{"configs": {"label": "\xff\xfe"}}')
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


OVERRIDES = {
    "fifo": (_fifo, "not a regular file (a FIFO)"),
    "dev-zero": (lambda _p: Path("/dev/zero"), "not a regular file (a character device)"),
    "non-utf8": (_non_utf8, "not UTF-8"),
    "100k-deep": (_deep_json, "nested too deeply"),
}


@pytest.mark.parametrize("case", list(OVERRIDES))
def test_a_bad_override_file_exits_2_naming_it(work: Path, case: str) -> None:
    make, phrase = OVERRIDES[case]
    path = make(work / "override.json")
    result = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", env={"BACKEND_CONFIG_FILE_PATH": str(path)})
    assert_one_line(result, 2, "BACKEND_CONFIG_FILE_PATH", str(path), phrase)


def test_an_empty_override_variable_is_an_error_not_ignored(work: Path) -> None:
    result = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", env={"BACKEND_CONFIG_FILE_PATH": ""})
    assert_one_line(result, 2, "BACKEND_CONFIG_FILE_PATH is set but empty")


@pytest.mark.parametrize("case", ["fifo", "non-utf8", "100k-deep"])
def test_the_same_shapes_in_config_exit_2(work: Path, case: str) -> None:
    path = OVERRIDES[case][0](work / "config.json")
    result = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", "--config", str(path))
    assert_one_line(result, 2, "--config", str(path))


def _alias_bomb() -> str:
    lines = ["name: proj", "inference_backend: backends:Echo", "extra:", "  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


PROJECT_FILES = {
    "alias-bomb": (lambda p: p.write_text(_alias_bomb()), "through YAML aliases"),
    "non-utf8": (lambda p: p.write_bytes(PROJECT_YAML.encode() + b"description: \xff\n"), "not UTF-8"),
    "100k-deep": (lambda p: p.write_text(PROJECT_YAML + "extra:\n  x: " + "[" * 100_000 + "]" * 100_000 + "\n"),
                  "too deeply"),
    "fifo": (lambda p: (p.unlink(), os.mkfifo(p)), "not a regular file (a FIFO)"),
}


@pytest.mark.parametrize("case", list(PROJECT_FILES))
def test_a_bad_packflow_yaml_exits_2_on_run(work: Path, case: str) -> None:
    make, phrase = PROJECT_FILES[case]
    make(work / "proj" / "packflow.yaml")
    result = packflow(work, "run", "proj", "-i", "in.jsonl")
    assert_one_line(result, 2, "packflow.yaml", phrase)


@pytest.mark.parametrize("case", ["alias-bomb", "fifo"])
def test_a_bad_packflow_yaml_fails_export_and_validate_with_the_reason(work: Path, case: str) -> None:
    make, phrase = PROJECT_FILES[case]
    make(work / "proj" / "packflow.yaml")
    for command in (["export", "proj", "-o", str(work / "out")], ["validate", "proj"]):
        result = packflow(work, *command)
        assert result.returncode == 1, result.stdout + result.stderr
        assert phrase in result.stdout + result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("target", "phrases"),
    [
        (":X", ["':X' must look like 'module:ClassName'"]),
        ("backends:BadInit", ["BadInit", "__init__ raised RuntimeError: cannot find weights.bin"]),
        ("backends:ExitsInInit", ["ExitsInInit", "__init__ called sys.exit(4)"]),
        ("exits:Anything", ["called sys.exit(3) while being imported"]),
    ],
    ids=["empty-module", "init-raises", "init-exits", "exit-at-import"],
)
def test_a_target_that_cannot_start_exits_2(work: Path, target: str, phrases: list[str]) -> None:
    assert_one_line(packflow(work, "run", target, "-i", "in.jsonl"), 2, *phrases)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_on_a_full_device_exits_1(work: Path) -> None:
    result = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", "-o", "/dev/full")
    assert_one_line(result, 1, "--output '/dev/full'", "No space left on device")


def test_strict_config_turns_an_unknown_key_into_exit_2(work: Path) -> None:
    ok = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", "--config", '{"verbos": true}')
    assert ok.returncode == 0 and "did you mean 'verbose'?" in ok.stderr
    strict = packflow(work, "run", "backends:Echo", "-i", "in.jsonl", "--config", '{"verbos": true}', "--strict-config")
    assert_one_line(strict, 2, "'verbos'", "did you mean 'verbose'?")


def test_validate_warns_on_unknown_keys_and_strict_config_fails(work: Path) -> None:
    (work / "proj" / "packflow.yaml").write_text(PROJECT_YAML + "backend_config:\n  input_fromat: numpy\n")
    warned = packflow(work, "validate", "proj")
    assert warned.returncode == 0
    assert "Unknown backend config key 'input_fromat' (from packflow.yaml backend_config; did you mean 'input_format'?)" in warned.stdout
    strict = packflow(work, "validate", "proj", "--strict-config")
    assert strict.returncode == 1 and "strict_config is on" in strict.stdout
