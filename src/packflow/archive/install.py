"""Install an archive's requirements from its bundled wheels only (no index), into a virtualenv."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from packflow.archive.cache import extract_verified
from packflow.archive.safety import ArchiveLimits
from packflow.constants import REQUIREMENTS_TEXT_NAME
from packflow.exceptions import ArchiveError

__all__ = ["install_archive", "venv_python"]


def venv_python(venv: Path) -> Path:
    """The interpreter of the virtualenv at ``venv``."""
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def install_archive(
    archive_path: str | Path, target_venv: str | Path | None = None, *, limits: ArchiveLimits | None = None
) -> Path:
    """Verify and extract the archive, then ``pip install --no-index`` its requirements from ``wheels/``.

    ``target_venv`` is created if missing; without it the running interpreter's environment is used.
    Returns the interpreter the requirements were installed for.
    """
    root = extract_verified(Path(archive_path), limits=limits)
    wheels = root / "wheels"
    if not any(wheels.glob("*.whl")):
        raise ArchiveError(
            f"Archive {str(archive_path)!r} bundles no wheels; re-export it with 'packflow export --with-wheels'."
        )
    python = _ensure_venv(Path(target_venv)) if target_venv is not None else Path(sys.executable)
    cmd = [str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheels),
           "-r", str(root / REQUIREMENTS_TEXT_NAME)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_offline_env(), cwd=root)
    if proc.returncode != 0:
        raise ArchiveError(_explain_failure(proc.stderr or proc.stdout, wheels))
    return python


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


def _offline_env() -> dict[str, str]:
    """The environment without pip settings, so only the bundled wheels can be used."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


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
