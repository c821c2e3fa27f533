"""Export a validated project as a reproducible archive with a manifest (and optionally wheels)."""

from __future__ import annotations

import tempfile
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

__all__ = ["export_project"]


def export_project(
    project: PackflowProject, report: ValidationReport, output_dir: Path, *, with_wheels: bool = False,
    platforms: tuple[str, ...] = (), python_version: str | None = None,
) -> Path:
    """Write the archive of a project whose validation ``report`` has no errors; return its path."""
    if not report.valid:
        listing = "\n".join(f"  - {e}" for e in report.errors)
        raise ProjectInvalidError(f"Export blocked by {len(report.errors)} validation error(s):\n{listing}")
    if (platforms or python_version) and not with_wheels:
        raise ProjectError("--platform and --python-version choose which wheels to bundle; add --with-wheels.")
    config = project.config
    dest = config.archive_file_name(output_dir)
    files = project.files(exclude={dest})
    wheels_info = None
    with tempfile.TemporaryDirectory(prefix="packflow-wheels-") as tmp:
        if with_wheels:
            from packflow.archive.wheels import download_wheels

            wheels = download_wheels(project.base_dir / REQUIREMENTS_TEXT_NAME, Path(tmp),
                                     platforms=tuple(platforms), python_version=python_version)
            files.update({f"wheels/{w.name}": w for w in wheels})
            wheels_info = {"platforms": sorted(platforms) or ["host"], "python_version": python_version or "host"}
        manifest = Manifest(
            packflow_version=__version__,
            python_version=get_python_version(),
            metadata=config.metadata(),
            runtime=config.runtime(),
            files={name: hash_file(path) for name, path in files.items()},
            wheels=wheels_info,
        )
        return write_archive(dest, files, manifest)
