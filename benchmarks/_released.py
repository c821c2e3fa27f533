"""The released packflow 0.4.1, installed into ``.bench/released-venv``, for side-by-side benchmarks.

    from _released import released_python, run_released
    out = run_released(["bench_script.py", "--json"])   # runs under the released packflow

The virtualenv is created once (``pip install packflow==0.4.1`` pulls loguru, flatten-dict, ...)
and reused; delete ``.bench/`` to rebuild it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

RELEASED_VERSION = "0.4.1"
ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = ROOT / ".bench" / "released-venv"
_STAMP = VENV_DIR / f".installed-packflow-{RELEASED_VERSION}"


def released_python() -> Path:
    """The interpreter of the released-packflow virtualenv, creating it on first use."""
    python = VENV_DIR / "bin" / "python"
    if not _STAMP.exists():
        print(f"[bench] installing packflow=={RELEASED_VERSION} into {VENV_DIR} ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"packflow=={RELEASED_VERSION}"],
            check=True,
        )
        _STAMP.touch()
    return python


def clean_env(**extra: str) -> dict[str, str]:
    """An environment without PYTHONPATH (so neither side sees the other's sources) plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BACKEND_CONFIG_FILE_PATH")}
    env.update(extra)
    return env


def run_released(args: list[str], **env: str) -> str:
    """Run ``python ARGS`` under the released packflow from outside the work tree; return stdout."""
    result = subprocess.run(
        [str(released_python()), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(VENV_DIR.parent),
        env=clean_env(**env),
    )
    return result.stdout


def run_ours(args: list[str], **env: str) -> str:
    """Run ``python ARGS`` under this work tree's packflow (the interpreter running the benchmark)."""
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, cwd=str(ROOT), env=clean_env(**env)
    )
    return result.stdout
