"""Export a validated project as a reproducible archive with a manifest (optionally wheels, SBOM, signature)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packflow._version import __version__
from packflow.archive.manifest import Manifest, hash_file
from packflow.archive.writer import write_archive
from packflow.constants import REQUIREMENTS_TEXT_NAME
from packflow.exceptions import ProjectError, ProjectInvalidError
from packflow.loaders.config import get_python_version
from packflow.project.report import ValidationReport

if TYPE_CHECKING:  # pragma: no cover
    from packflow.project.core import PackflowProject

__all__ = ["DEFAULT_OUTPUT_DIR", "ExportOptions", "export_project"]

#: Where ``export`` writes the archive by default, relative to the project (never packed itself).
DEFAULT_OUTPUT_DIR = "dist"


@dataclass(frozen=True)
class ExportOptions:
    """What goes into an archive beyond the project's files."""

    with_wheels: bool = False
    platforms: tuple[str, ...] = ()
    python_version: str | None = None
    #: packflow extras whose dependencies are bundled too (``serve``, ``redis`` …); needs ``with_wheels``.
    extras: tuple[str, ...] = ()
    #: Private key file (``packflow keygen``) to sign the manifest with.
    sign_key: Path | None = None


def export_project(
    project: PackflowProject, report: ValidationReport, output_dir: Path | None, *, with_wheels: bool = False,
    platforms: tuple[str, ...] = (), python_version: str | None = None, options: ExportOptions | None = None,
) -> Path:
    """Write the archive of a project whose validation ``report`` has no errors; return its path.

    ``output_dir`` defaults to ``<project>/dist``.
    """
    options = options or ExportOptions(with_wheels, tuple(platforms), python_version)
    _check(report, options)
    config = project.config
    dest = config.archive_file_name(output_dir if output_dir is not None else project.base_dir / DEFAULT_OUTPUT_DIR)
    files = project.files(exclude={dest})
    wheels_info = None
    with tempfile.TemporaryDirectory(prefix="packflow-wheels-") as tmp:
        if options.with_wheels:
            wheels_info = _bundle_wheels(project, options, Path(tmp), files)
        hashes = {name: hash_file(path) for name, path in files.items()}
        if options.with_wheels:
            hashes.update(_sbom(Path(tmp), hashes, config.metadata(), files))
        manifest = Manifest(
            packflow_version=__version__,
            python_version=get_python_version(),
            metadata=config.metadata(),
            runtime=config.runtime(),
            files=hashes,
            wheels=wheels_info,
        )
        return write_archive(dest, files, manifest, sign=_signer(options.sign_key))


def _check(report: ValidationReport, options: ExportOptions) -> None:
    if not report.valid:
        listing = "\n".join(f"  - {e}" for e in report.errors)
        raise ProjectInvalidError(f"Export blocked by {len(report.errors)} validation error(s):\n{listing}")
    if (options.platforms or options.python_version or options.extras) and not options.with_wheels:
        raise ProjectError("--platform, --python-version and --extras choose which wheels to bundle; add --with-wheels.")
    unknown = sorted(set(options.extras) - _known_extras())
    if unknown:
        raise ProjectError(f"--extras {','.join(unknown)!r}: packflow has no such extra; choose from "
                           f"{', '.join(sorted(_known_extras()))}.")


def _known_extras() -> set[str]:
    import importlib.metadata

    return set(importlib.metadata.metadata("packflow").get_all("Provides-Extra") or [])


def _bundle_wheels(project: PackflowProject, options: ExportOptions, tmp: Path, files: dict[str, Path]) -> dict:
    from packflow.archive.wheels import download_wheels

    wheels = download_wheels(project.base_dir / REQUIREMENTS_TEXT_NAME, tmp / "wheels", platforms=options.platforms,
                             python_version=options.python_version, extras=options.extras)
    files.update({f"wheels/{w.name}": w for w in wheels})
    return {"platforms": sorted(options.platforms) or ["host"], "python_version": options.python_version or "host",
            "extras": sorted(set(options.extras))}


def _sbom(tmp: Path, hashes: dict, metadata: dict, files: dict[str, Path]) -> dict:
    from packflow.archive.sbom import SBOM_NAME, write_sbom

    wheels = {name.removeprefix("wheels/"): entry for name, entry in hashes.items() if name.startswith("wheels/")}
    path = write_sbom(tmp / SBOM_NAME, wheels, metadata)
    files[SBOM_NAME] = path
    return {SBOM_NAME: hash_file(path)}


def _signer(key: Path | None) -> Callable[[bytes], bytes] | None:
    if key is None:
        return None
    from packflow.archive.signing import sign_manifest

    sign_manifest(b"", key)  # fail on a bad key before any archive is written
    return lambda raw: sign_manifest(raw, key)
