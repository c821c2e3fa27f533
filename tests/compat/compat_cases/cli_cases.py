"""The ``packflow`` command line: help, version, create, validate, export."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from compat_cases._registry import Observed, case, cli, write_project


def _first_help_line(*command: str) -> Observed:
    result = cli(*command, "--help")
    lines = result.text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Usage:")) + 1
    first = next(line.strip() for line in lines[start:] if line.strip())
    return Observed({"exit_code": result.value["exit_code"], "first_line": first}, result.text)


@case()
def help_group_first_line():
    return _first_help_line()


@case()
def help_create_first_line():
    return _first_help_line("create")


@case()
def help_validate_first_line():
    return _first_help_line("validate")


@case()
def help_export_first_line():
    return _first_help_line("export")


@case(compare="superset")
def help_lists_commands():
    text = cli("--help").text
    listed = text.split("Commands:", 1)[1].split()
    return sorted(name for name in ("create", "export", "validate") if name in listed)


@case("--force", "--no-input")
def help_create_options():
    return cli("create", "--help")


@case("--verbose", "--no-warnings")
def help_validate_options():
    return cli("validate", "--help")


@case("--verbose")
def help_export_options():
    return cli("export", "--help")


@case("packflow, version")
def version_option():
    import packflow

    result = cli("--version")
    return Observed([result.value["exit_code"], packflow.__version__ in result.text], result.text)


@case()
def unknown_command():
    return cli("frobnicate").value


@case(differs="roll")
def roll_command():
    return cli("roll", "--help").value  # --help: 0.4.1's roll would play a 4-second animation


@case("Created cli-model")
def create_command():
    result = cli("create", "cli-model", "--no-input")
    return Observed([result.value["exit_code"], Path("cli-model/packflow.yaml").is_file()], result.text)


@case("must start with a letter")
def create_command_invalid_name():
    return cli("create", "9bad", "--no-input")


@case("exists")
def create_command_existing_dir():
    Path("occupied").mkdir()
    return cli("create", "occupied", "--no-input")


@case()
def create_command_force():
    Path("occupied").mkdir()
    result = cli("create", "occupied", "--force", "--no-input")
    return [result.value["exit_code"], Path("occupied/inference.py").is_file()]


@case("Project name is required", differs="create-without-name")
def create_command_without_name():
    return cli("create", "--no-input")


@case("Validation passed with warnings")
def validate_command_fresh_project():
    cli("create", "val-model", "--no-input")
    return cli("validate", "val-model")


@case("All validation checks passed")
def validate_command_no_warnings():
    cli("create", "val2-model", "--no-input")
    return cli("validate", "val2-model", "--no-warnings")


@case("All validation checks passed")
def validate_command_clean_project():
    write_project("p")
    return cli("validate", "p")


@case("Not a packflow project")
def validate_command_not_a_project():
    Path("empty").mkdir()
    return cli("validate", "empty")


@case("1 error(s)", "Error:", "requirements.txt")
def validate_command_error():
    root = write_project("p")
    (root / "requirements.txt").unlink()
    return cli("validate", "p", "--no-warnings")


@case("Error:")
def validate_command_broken_backend():
    write_project("p", files={"inference.py": "raise RuntimeError('broken at import')\n"})
    return cli("validate", "p")


@case("Saved Package to", "exp_model-0.1.0.zip")
def export_command():
    write_project("p", name="exp-model")
    result = cli("export", "p")
    return Observed(result.value["exit_code"], result.text)  # where it lands: export-default-dir


@case("Warning:", "Saved Package to")
def export_command_warnings():
    cli("create", "warn-model", "--no-input")
    return cli("export", "warn-model")


@case("Error:", "Export blocked")
def export_command_blocked():
    root = write_project("p")
    (root / "requirements.txt").unlink()
    return cli("export", "p")


@case("Error:", "Not a packflow project")
def export_command_not_a_project():
    Path("empty").mkdir()
    return cli("export", "empty")


@case("Saved Package to")
def export_command_verbose():
    write_project("p", name="verbose-model")
    return cli("export", "p", "--verbose")


@case("Saved Package to", "script_model-0.1.0.zip")
def console_script_export():
    """The installed ``packflow`` console script, as a real subprocess."""
    write_project("p", name="script-model")
    script = Path(sys.executable).parent / "packflow"
    done = subprocess.run([str(script), "export", "p"], capture_output=True, text=True, timeout=60)
    return Observed(done.returncode, done.stdout + done.stderr)


@case("Project:")
def validate_command_verbose():
    write_project("p")
    return cli("validate", "p", "--verbose")


@case("Not a packflow project")
def validate_command_missing_path():
    return cli("validate", "does-not-exist")


@case("packflow, version")
def console_script_version():
    """``packflow --version`` through the installed console script, as a real subprocess."""
    script = Path(sys.executable).parent / "packflow"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    return Observed(done.returncode, done.stdout + done.stderr)
