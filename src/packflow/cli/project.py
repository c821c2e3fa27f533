"""``packflow create`` / ``validate`` / ``export``: the project lifecycle commands."""

from __future__ import annotations

from pathlib import Path

import click

from packflow.cli._options import log_format_option

from packflow.cli._common import fail, setup_logging, strict_config_option
from packflow.constants import EXIT_CANNOT_START, EXIT_FAILURE
from packflow.exceptions import PackflowError

__all__ = ["create", "export", "validate"]

_MARKS = {"ok": ("✓", "green"), "warning": ("⚠", "yellow"), "error": ("✗", "red")}


@click.command()
@log_format_option
@click.argument("project_name", required=False)
@click.option("-f", "--force", is_flag=True, help="Write into an existing directory (template files are overwritten, nothing is deleted).")
@click.option("--description", default="", help="packflow.yaml description.")
@click.option("--version", "project_version", default="0.1.0", show_default=True, help="packflow.yaml version.")
@click.option("--maintainer", "maintainers", multiple=True, help="A maintainer (repeat for several).")
@click.option("-d", "--directory", "parent", default=".", type=click.Path(file_okay=False, path_type=Path),
              help="Parent directory of the new project (default: the current directory).")
@click.option("--no-input", is_flag=True, help="Accepted for compatibility with packflow 0.4; create never prompts.")
def create(project_name: str | None, force: bool, description: str, project_version: str,
           maintainers: tuple[str, ...], parent: Path, no_input: bool) -> None:
    """Initialize a new project from a template in the current working directory.

    Creates PROJECT_NAME/ (under --directory, if given): a working backend, packflow.yaml,
    requirements.txt, sample inputs, docs and tests. Never prompts.
    """
    from packflow.project import PackflowProject

    setup_logging()
    if not project_name:
        fail("Project name is required: packflow create PROJECT_NAME (create never prompts).", EXIT_CANNOT_START)
    config = {"description": description, "version": project_version, "maintainers": list(maintainers)}
    try:
        project = PackflowProject.create(project_name, force=force, config_data=config, parent_dir=parent)
    except PackflowError as exc:
        fail(str(exc), EXIT_FAILURE)
    click.echo(f"{click.style('Success:', fg='green')} Created {project.base_dir.name}/ at {project.base_dir}")
    click.echo(f"\n  Next steps:\n    cd {project.base_dir.name}\n    edit inference.py and sample_inputs.jsonl\n"
               "    packflow validate -v\n    packflow export\n")


@click.command()
@log_format_option
@click.argument("project_path", default=".", type=click.Path(path_type=Path))
@click.option("-v", "--verbose", is_flag=True, help="Show each check.")
@click.option("--no-warnings", is_flag=True, help="Hide warnings.")
@strict_config_option
def validate(project_path: Path, verbose: bool, no_warnings: bool, strict_config: bool) -> None:
    """Run all project validation checks and report results

    Checks files, requirements, metadata, that the backend loads, and check_io on the sample
    inputs; exits 1 when any check fails (with --strict-config, also on unknown config keys).
    """
    from packflow.project import PackflowProject

    setup_logging()
    report = PackflowProject(project_path).validate(strict_config=strict_config)
    _print_report(report, verbose, no_warnings)
    if not report.valid:
        raise SystemExit(EXIT_FAILURE)
    click.echo(f"{click.style('Success:', fg='green')} "
               + ("Validation passed with warnings." if report.warnings and not no_warnings else "All validation checks passed."))


@click.command()
@log_format_option
@click.argument("project_path", default=".", type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the archive (default: dist/ inside the project, never exported itself).")
@click.option("-v", "--verbose", is_flag=True, help="Show each validation check and the exported files.")
@click.option("--with-wheels", is_flag=True, help="Bundle wheels of every requirement under wheels/ (and a CycloneDX SBOM) for offline installs.")
@click.option("--platform", "platforms", multiple=True, help="Wheel platform tag to bundle for (repeatable); needs --with-wheels.")
@click.option("--python-version", default=None, help="Python version (X.Y) to bundle wheels for; needs --with-wheels.")
@click.option("--extras", default="", help="packflow extras to bundle too, e.g. 'serve,redis'; needs --with-wheels.")
@click.option("--sign", "sign_key", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sign the manifest with this private key (from 'packflow keygen').")
def export(project_path: Path, output_dir: Path | None, verbose: bool, with_wheels: bool,
           platforms: tuple[str, ...], python_version: str | None, extras: str, sign_key: Path | None) -> None:
    """Package the project as a distributable .zip archive.

    Validates first, then writes <name>-<version>.zip (in dist/ by default): a reproducible archive
    with packflow-manifest.json, signed with --sign.
    """
    from packflow.project import PackflowProject

    setup_logging()
    project = PackflowProject(project_path)
    report = project.validate()
    if verbose or not report.valid:
        _print_report(report, verbose, no_warnings=False)
    wanted = tuple(e.strip() for e in extras.split(",") if e.strip())
    try:
        archive = project.export(output_dir, with_wheels=with_wheels, platforms=platforms, python_version=python_version,
                                 extras=wanted, sign_key=sign_key)
    except (PackflowError, ImportError) as exc:
        fail(str(exc).splitlines()[0] if not report.valid else str(exc), EXIT_FAILURE)
    if not verbose:
        for warning in report.warnings:
            click.echo(f"{click.style('Warning:', fg='yellow')} {warning}")
    else:
        _print_contents(archive)
    click.echo(f"{click.style('Success:', fg='green')} Saved Package to {archive}")


def _print_contents(archive: Path) -> None:
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
    click.echo(f"Files in {archive.name} ({len(infos)}):")
    for info in infos:
        click.echo(f"  {info.file_size:>12,}  {info.filename}")


def _print_report(report, verbose: bool, no_warnings: bool) -> None:  # type: ignore[no-untyped-def]
    if verbose:
        click.echo(f"Project: {report.project}")
        section = None
        for check in report.checks:
            if no_warnings and check.level == "warning":
                continue
            if check.section != section:
                section = check.section
                click.echo(f"\n{section}:")
            mark, colour = _MARKS[check.level]
            click.echo(f"  {click.style(mark, fg=colour)} {check.message}")
        click.echo()
    errors, warnings = report.errors, [] if no_warnings else report.warnings
    if errors or warnings:
        counts = [f"{len(errors)} error(s)"] + ([f"{len(warnings)} warning(s)"] if warnings else [])
        click.echo(", ".join(counts) + " found\n")
    for message in errors:
        click.echo(f"{click.style('Error:', fg='red')} {message}")
    for message in warnings:
        click.echo(f"{click.style('Warning:', fg='yellow')} {message}")
