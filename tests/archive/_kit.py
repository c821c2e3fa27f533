"""Helpers shared by the archive tests (load with ``load_kit()``: importlib mode cannot import conftest)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def assert_refused(proc: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    """The command exited with ``code``, printed each fragment, and printed no traceback."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}:\n{out}"
    assert "Traceback" not in out, out
    for fragment in fragments:
        assert fragment in out, f"{fragment!r} not in:\n{out}"


def extracted_dirs(cache: Path) -> list[Path]:
    """The published extractions in a cache (temporary and discarded copies excluded)."""
    root = cache / "archives"
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []
