"""``--log-format json`` on every command: every stderr line one JSON object (time, level, logger, message).

Real CLI subprocesses: logs, operator messages (summaries, dead-letter reports), start-up errors and
click's usage errors all come out as JSON lines; without the flag the same runs print text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from packflow.cli import COMMANDS

PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]
SERVE_BACKENDS = Path(__file__).resolve().parents[1] / "serve"  # serve_backends.py: Identity, Poison
FIELDS = {"time", "level", "logger", "message"}


def packflow(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "PACKFLOW_LOG_FORMAT"}
    return subprocess.run([*PACKFLOW, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120,
                          env={**environment, **(env or {})})


def json_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line parsed as a JSON log object; fails on any line that is not one."""
    lines = []
    for text in stderr.splitlines():
        line = json.loads(text)  # a text line here is the defect this module tests
        assert isinstance(line, dict) and FIELDS <= set(line), text
        lines.append(line)
    return lines


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("log-format")
    assert packflow(root, "create", "demo").returncode == 0
    assert packflow(root, "export", "demo", "-o", "dist").returncode == 0
    (root / "records.jsonl").write_text('{"x": 1}\n{"poison": true}\n{"x": 3}\n')
    return root


def _commands() -> list[tuple[str, click.Command]]:
    out = []
    for name, ref in COMMANDS.items():
        module, attr = ref.split(":")
        command = getattr(__import__(module, fromlist=[attr]), attr)
        subs = command.commands.items() if isinstance(command, click.Group) else [("", command)]
        out += [(f"{name} {sub}".strip(), cmd) for sub, cmd in subs]
    return out


def test_every_command_has_log_format() -> None:
    missing = [name for name, cmd in _commands() if not any("--log-format" in p.opts for p in cmd.params)]
    assert not missing, f"commands without --log-format: {missing}"


def test_run_has_log_level(work: Path) -> None:
    quiet = packflow(work, "run", "demo", "-i", "demo/sample_inputs.jsonl", "-o", "-", "--log-format", "json",
                     "--log-level", "error")
    loud = packflow(work, "run", "demo", "-i", "demo/sample_inputs.jsonl", "-o", "-", "--log-format", "json",
                    "--log-level", "DEBUG")
    assert quiet.returncode == loud.returncode == 0, quiet.stderr + loud.stderr
    assert json_lines(quiet.stderr) == []
    levels = {line["level"] for line in json_lines(loud.stderr)}
    assert {"DEBUG", "INFO"} <= levels, loud.stderr


#: (arguments, extra environment, exit code): one failing start per command.
FAILURES = {
    "create": (["create"], {}, 2),
    "validate": (["validate", "demo", "extra-argument"], {"PACKFLOW_LOG_FORMAT": "json"}, 2),  # a parser error
    "export": (["export", "demo", "-o", "records.jsonl"], {}, 2),
    "verify": (["verify", "no-such.zip"], {}, 1),
    "install": (["install", "no-such.zip"], {}, 1),
    "run": (["run", "demo", "-i", "no-such.jsonl"], {}, 2),
    "serve": (["serve", "no_such_module:Backend", "--port", "0", "--config", "{bad"], {}, 2),
    "stream": (["stream", "demo", "--input-stream", "a", "--output-stream", "b", "--redis-url", "redis://127.0.0.1:1/0"], {}, 2),
    "replay": (["replay", "--target", "demo"], {}, 2),
    "config explain": (["config", "explain", "no_such_module:Backend"], {}, 2),
    "keygen": (["keygen", "no/such/dir/key.pem"], {}, 1),
}


def test_the_failure_table_covers_every_command() -> None:
    assert sorted(FAILURES) == sorted(name for name, _ in _commands())


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_a_failed_start_is_a_json_error_line(work: Path, name: str) -> None:
    args, env, code = FAILURES[name]
    flag = [] if env else ["--log-format", "json"]
    done = packflow(work, *args, *flag, env=env)
    assert done.returncode == code, done.stderr
    lines = json_lines(done.stderr)
    errors = [line for line in lines if line["level"] == "ERROR" and line["message"].startswith("Error: ")]
    assert len(errors) == 1 and errors[0]["logger"] == "packflow.cli", done.stderr
    assert "Traceback" not in done.stderr
    text = packflow(work, *args)  # without the flag: the familiar text line
    assert text.returncode == code and "Error: " in text.stderr and not text.stderr.lstrip().startswith("{")


def test_run_reports_dead_letters_and_summary_as_json(work: Path) -> None:
    done = packflow(SERVE_BACKENDS, "run", "serve_backends:Poison", "-i", str(work / "records.jsonl"), "-o", "-",
                    "--log-format", "json", "--log-level", "INFO", "--no-fail-on-dead-letters", "--progress")
    assert done.returncode == 0, done.stderr
    lines = json_lines(done.stderr)
    dead = [line for line in lines if "dead-lettered" in line["message"] and line["level"] == "WARNING"]
    assert dead and "First 1:" in dead[0]["message"]
    assert any(line["message"].startswith("step ") and "records: 3 in" in line["message"] for line in lines)


def test_replay_summary_is_json(work: Path) -> None:
    dead = packflow(SERVE_BACKENDS, "run", "serve_backends:Poison", "-i", str(work / "records.jsonl"), "-o", os.devnull,
                    "--dead-letters", str(work / "dead.jsonl"))
    assert dead.returncode == 3, dead.stderr
    done = packflow(SERVE_BACKENDS, "replay", str(work / "dead.jsonl"), "--target", "serve_backends:Identity",
                    "-o", os.devnull, "--compare", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    messages = [line["message"] for line in json_lines(done.stderr)]
    assert "Replayed 1 dead letter: 1 recovered, 0 still failing." in messages
