"""The released packflow 0.4.1 in its own virtualenv (``.bench/compat-0.4.1/``), built once and reused.

``ensure_side_venv()`` returns the side interpreter, creating the virtualenv with
``pip install packflow==0.4.1`` (plus pandas and pillow at our versions, when we have them, so the
normalisation cases run on both sides) when it is missing or incomplete. A stamp file marks a finished install, so an
interrupted one is redone. ``IndexUnreachable`` is raised only when pip cannot reach the index.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import venv
from pathlib import Path

RELEASED = "0.4.1"
ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = ROOT / ".bench" / f"compat-{RELEASED}"
STAMP = VENV_DIR / ".packflow-compat-installed"
_INSTALL_TIMEOUT_S = 900
#: Optional libraries 0.4.1 converts values of; mirrored (same version) when our environment has them.
_MIRRORED = ("pandas", "pillow")
_NETWORK_HINTS = ("Could not find a version", "No matching distribution", "Network is unreachable",
                  "Temporary failure in name resolution", "Connection refused", "ConnectTimeout",
                  "Max retries exceeded", "NewConnectionError")


class IndexUnreachable(RuntimeError):
    """pip could not fetch packflow==0.4.1 from the package index."""


def side_python(venv_dir: Path = VENV_DIR) -> Path:
    """The side virtualenv's interpreter (it may not exist yet)."""
    return venv_dir / "bin" / "python"


def requirements() -> list[str]:
    """What the side virtualenv holds: the release, plus optional libraries our environment has."""
    reqs = [f"packflow=={RELEASED}"]
    for dist in _MIRRORED:
        try:
            reqs.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return reqs


def ensure_side_venv(venv_dir: Path = VENV_DIR) -> Path:
    """Build (or reuse) the side virtualenv and return its interpreter."""
    python = side_python(venv_dir)
    stamp = venv_dir / STAMP.name
    if stamp.is_file() and stamp.read_text() == "\n".join(requirements()) and python.exists():
        return python
    shutil.rmtree(venv_dir, ignore_errors=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", *requirements()]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        shutil.rmtree(venv_dir, ignore_errors=True)
        if any(hint in output for hint in _NETWORK_HINTS):
            raise IndexUnreachable(output.strip().splitlines()[-1] if output.strip() else "pip failed")
        raise RuntimeError(f"installing {requirements()} into {venv_dir} failed:\n{output}")
    stamp.write_text("\n".join(requirements()))
    return python


if __name__ == "__main__":  # pragma: no cover - manual use: python tests/compat/_sidevenv.py
    print(ensure_side_venv(), file=sys.stderr)
