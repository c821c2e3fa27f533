"""docs/cli.md's option tables are the click definitions; shared options are the same objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from packflow.cli import cli
from packflow.cli._options import BackendConfigParam
from packflow.cli._reference import BEGIN, END, render_reference

ROOT = Path(__file__).resolve().parents[2]
PACKFLOW = [sys.executable, "-c", "from packflow.cli import cli; cli(prog_name='packflow')"]


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    return command


def _option(command: str, name: str) -> click.Option:
    for param in _command(command).params:
        if isinstance(param, click.Option) and name in param.opts + param.secondary_opts:
            return param
    raise AssertionError(f"packflow {command} has no {name}")


def test_docs_cli_tables_are_generated_from_the_click_definitions() -> None:
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    generated = page.partition(BEGIN)[2].partition(END)[0]
    assert generated.strip() == render_reference().strip(), (
        "docs/cli.md is stale: run `python -m packflow.cli._reference --write docs/cli.md`"
    )


def test_every_command_is_in_the_reference() -> None:
    text = render_reference()
    for name in cli.list_commands(click.Context(cli)):
        assert f"### `packflow {name}" in text


@pytest.mark.parametrize("command", ["run", "serve", "stream", "replay"])
def test_config_and_batch_size_are_one_option_everywhere(command: str) -> None:
    assert isinstance(_option(command, "--config").type, BackendConfigParam)
    assert "-b" in _option(command, "--batch-size").opts


@pytest.mark.parametrize("command", ["run", "serve", "stream"])
def test_log_level_is_a_choice_everywhere(command: str) -> None:
    choices = _option(command, "--log-level").type
    assert isinstance(choices, click.Choice) and "DEBUG" in choices.choices


@pytest.mark.parametrize("command, default", [("run", True), ("replay", True), ("stream", False)])
def test_dead_letter_exit_policy_flag_and_its_documented_defaults(command: str, default: bool) -> None:
    assert _option(command, "--fail-on-dead-letters").default is default


def test_run_exits_0_with_dead_letters_when_asked(tmp_path: Path) -> None:
    (tmp_path / "b.py").write_text(
        "from packflow import InferenceBackend\n"
        "class B(InferenceBackend):\n"
        "    def execute(self, inputs):\n"
        "        return [{'y': 1 / r['x']} for r in inputs]\n"
    )
    records = b'{"x": 1}\n{"x": 0}\n'
    strict = subprocess.run([*PACKFLOW, "run", "b:B"], cwd=tmp_path, input=records, capture_output=True, timeout=60)
    lenient = subprocess.run([*PACKFLOW, "run", "b:B", "--no-fail-on-dead-letters"], cwd=tmp_path, input=records,
                             capture_output=True, timeout=60)
    assert (strict.returncode, lenient.returncode) == (3, 0)
    assert strict.stdout == lenient.stdout == b'{"y":1.0}\n'


def test_bad_log_level_exits_2_with_the_choices(tmp_path: Path) -> None:
    done = subprocess.run([*PACKFLOW, "run", "b:B", "--log-level", "loud"], cwd=tmp_path, capture_output=True, timeout=60)
    assert done.returncode == 2 and b"'loud' is not one of" in done.stderr
