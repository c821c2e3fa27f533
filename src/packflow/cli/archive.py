"""``packflow verify`` / ``install`` / ``keygen``: check an archive, install it offline, make a signing key."""

from __future__ import annotations

from pathlib import Path

import click

from packflow.cli._options import log_format_option

from packflow.cli._common import fail, setup_logging, trusted_key_option
from packflow.constants import EXIT_FAILURE
from packflow.exceptions import PackflowError

__all__ = ["install", "keygen", "verify"]


def _limits(max_files: int | None, max_bytes: int | None):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from packflow.archive import ArchiveLimits

    limits = ArchiveLimits.from_env()
    if max_files is not None:
        limits = replace(limits, max_files=max_files)
    if max_bytes is not None:
        limits = replace(limits, max_total_bytes=max_bytes)
    return limits


_LIMIT_OPTIONS = [
    click.option("--max-files", type=click.IntRange(min=1), default=None,
                 help="Refuse archives with more entries (default 10000 or $PACKFLOW_ARCHIVE_MAX_FILES)."),
    click.option("--max-bytes", type=click.IntRange(min=1), default=None,
                 help="Refuse archives expanding to more bytes (default 4 GiB or $PACKFLOW_ARCHIVE_MAX_BYTES)."),
]


def _with_limits(func):  # type: ignore[no-untyped-def]
    for option in reversed(_LIMIT_OPTIONS):
        func = option(func)
    return func


@click.command()
@log_format_option
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@_with_limits
@trusted_key_option
@click.option("-v", "--verbose", is_flag=True, help="Also print the signer, the SBOM summary and the file count.")
def verify(archive: Path, max_files: int | None, max_bytes: int | None, verbose: bool) -> None:
    """Check the archive's safety, signature (with --trusted-key), and every manifest hash and size."""
    from packflow.archive import verify_archive

    setup_logging()
    try:
        report = verify_archive(archive, _limits(max_files, max_bytes))
    except PackflowError as exc:
        fail(str(exc), EXIT_FAILURE)
    click.echo(f"Archive:  {archive}\nSHA-256:  {report.sha256}")
    if report.manifest is not None:
        m = report.manifest
        wheels = sum(1 for name in m.files if name.startswith("wheels/"))
        click.echo(f"Project:  {m.metadata.get('name')} {m.metadata.get('version')} "
                   f"(exported by packflow {m.packflow_version}, Python {m.python_version})")
        click.echo(f"Files:    {len(m.files)} in manifest ({wheels} wheels), {report.checked} checked")
        if verbose:
            _print_provenance(archive, report)
    if report.ok:
        click.echo(f"{click.style('Verified:', fg='green')} every file matches the manifest; no missing, extra or unsafe entries"
                   + ("; signed by a trusted key." if report.trusted else "."))
        return
    for problem in report.problems:
        click.echo(f"  {click.style('✗', fg='red')} {problem}")
    fail(f"{archive} failed verification ({len(report.problems)} problem(s)).", EXIT_FAILURE)


def _print_provenance(archive: Path, report) -> None:  # type: ignore[no-untyped-def]
    from packflow.archive.provenance import describe_signer, sbom_summary

    click.echo(f"Signer:   {describe_signer(report)}")
    click.echo(f"SBOM:     {sbom_summary(archive, report)}")


@click.command()
@log_format_option
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target-venv", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Virtualenv to install into, created if missing (default: the running environment).")
@_with_limits
@trusted_key_option
def install(archive: Path, target_venv: Path | None, max_files: int | None, max_bytes: int | None) -> None:
    """Verify ARCHIVE, then install its requirements from its bundled wheels only (no index, no network)."""
    from packflow.archive import install_archive

    setup_logging()
    try:
        python = install_archive(archive, target_venv, limits=_limits(max_files, max_bytes))
    except PackflowError as exc:
        fail(str(exc), EXIT_FAILURE)
    click.echo(f"{click.style('Success:', fg='green')} Installed the requirements of {archive.name} for {python}")


@click.command()
@log_format_option
@click.argument("keyfile", type=click.Path(dir_okay=False, path_type=Path))
def keygen(keyfile: Path) -> None:
    """Write an Ed25519 signing key to KEYFILE (mode 0600) and its public key to KEYFILE.pub."""
    from packflow.archive.signing import generate_key

    setup_logging()
    try:
        private, public, key_id = generate_key(keyfile)
    except PackflowError as exc:
        fail(str(exc), EXIT_FAILURE)
    click.echo(f"{click.style('Success:', fg='green')} Wrote {private} (private, keep it secret) and {public} "
               f"(public, give it to verifiers)\nKey id:   {key_id}")
