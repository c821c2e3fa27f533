"""Install an archive's requirements from its bundled wheels only (no index, no network), into a virtualenv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from packflow.archive.cache import extract_verified
from packflow.archive.manifest import Manifest
from packflow.archive.offline import check_requirements, offline_env, pip_offline_args
from packflow.archive.safety import ArchiveLimits
from packflow.constants import MANIFEST_NAME, REQUIREMENTS_TEXT_NAME
from packflow.exceptions import ArchiveError

__all__ = ["install_archive", "venv_python"]


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtualenv at ``venv``."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_archive(
    archive_path: str | Path, target_venv: str | Path | None = None, *, limits: ArchiveLimits | None = None,
    trusted_keys: Iterable[str | Path] | None = None,
) -> Path:
    """Verify and extract the archive, then install its requirements from ``wheels/`` only, offline.

    Every ``requirements.txt`` line is checked first (:mod:`packflow.archive.offline`); the driver
    extras the archive was exported with (``--extras``) are installed too. ``target_venv`` is created
    if missing; without it the running interpreter's environment is used. Returns that interpreter.
    """
    archive_path = Path(os.path.abspath(archive_path))
    root = extract_verified(archive_path, limits=limits, trusted_keys=trusted_keys)
    wheels = root / "wheels"
    if not any(wheels.glob("*.whl")):
        raise ArchiveError(
            f"Archive {str(archive_path)!r} bundles no wheels; re-export it with 'packflow export --with-wheels'."
        )
    check_requirements(root / REQUIREMENTS_TEXT_NAME, root)
    python = _ensure_venv(Path(os.path.abspath(target_venv))) if target_venv is not None else Path(sys.executable)
    cmd = [str(python), "-m", "pip", "install", *pip_offline_args(wheels), "-r", str(root / REQUIREMENTS_TEXT_NAME),
           *_extras_requirement(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=offline_env(), cwd=root)
    if proc.returncode != 0:
        raise ArchiveError(_explain_failure(proc.stderr or proc.stdout, wheels))
    return python


def _extras_requirement(root: Path) -> list[str]:
    manifest = Manifest.from_json((root / MANIFEST_NAME).read_bytes())
    extras = (manifest.wheels or {}).get("extras") or []
    if not isinstance(extras, list) or not all(isinstance(e, str) and re.fullmatch(r"[A-Za-z0-9_-]+", e) for e in extras):
        raise ArchiveError(f"{MANIFEST_NAME}: wheels.extras must be a list of extra names, got {extras!r}.")
    return [f"packflow[{','.join(extras)}]"] if extras else []


def _ensure_venv(venv: Path) -> Path:
    python = venv_python(venv)
    if python.exists():
        return python
    if venv.exists() and any(venv.iterdir()):
        raise ArchiveError(f"--target-venv {str(venv)!r} exists but is not a virtualenv (no {python}); give a new or empty directory.")
    proc = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ArchiveError(f"Could not create a virtualenv at {str(venv)!r}: {proc.stderr.strip()}")
    return python


def _explain_failure(output: str, wheels: Path) -> str:
    missing = re.findall(r"No matching distribution found for (\S+)", output)
    if missing:
        return (
            f"No bundled wheel satisfies {', '.join(sorted(set(missing)))} (wheels/ holds "
            f"{len(list(wheels.glob('*.whl')))} wheels). Re-export with 'packflow export --with-wheels' "
            "and --platform/--python-version matching this machine."
        )
    tail = "\n".join(output.strip().splitlines()[-8:])
    return f"pip install from the bundled wheels failed:\n{tail}"
