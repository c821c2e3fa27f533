"""packflow 0.4.1's ``packflow.loaders.config`` helpers, as thin shims over ``packflow.project.checks``.

New code should use ``PackflowProject(path).validate()`` (a ``ValidationReport``) instead; these
keep 0.4.1's signatures and return shapes so scripts written against it keep working.
"""

from __future__ import annotations

from pathlib import Path

import click

from packflow.exceptions import ProjectError
from packflow.loaders.config import PackflowConfig
from packflow.project.report import ValidationReport

__all__ = ["check_python_version", "load_packflow_config", "validate_for_export"]

_MARKS = {"ok": "✓", "warning": "⚠", "error": "✗"}


class NotAProjectDirectoryError(ProjectError, NotADirectoryError):
    """``load_packflow_config`` was given a path that does not exist (0.4.1 raised NotADirectoryError)."""


def load_packflow_config(path_or_module: str | Path) -> PackflowConfig:
    """The ``PackflowConfig`` of the project directory ``path_or_module``."""
    if not Path(path_or_module).exists():
        raise NotAProjectDirectoryError(
            f"Could not identify packflow project at {path_or_module}: no such directory."
        )
    return PackflowConfig.from_project_path(path_or_module)


def validate_for_export(
    config: PackflowConfig, project_dir: str | Path | None = None, verbose: bool = False
) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` of the metadata, Python-version and (given ``project_dir``) backend checks."""
    from packflow.project import checks

    report = ValidationReport(Path(project_dir or ".").resolve())
    checks._check_metadata(config, report)
    checks._check_python_version(config, report)
    if project_dir is not None:
        checks._check_backend(report.project, config, report)
    if verbose:
        for check in report.checks:
            click.echo(f"      {_MARKS[check.level]} {check.message}")
    return report.errors, report.warnings


def check_python_version(config: PackflowConfig, verbose: bool = False) -> str | None:
    """A warning when ``config.python_version`` differs from this interpreter (major.minor), else None."""
    from packflow.project import checks

    report = ValidationReport(Path("."))
    checks._check_python_version(config, report)
    if verbose and not report.warnings:
        click.echo(f"      ✓ {report.checks[0].message}")
    return report.warnings[0] if report.warnings else None
