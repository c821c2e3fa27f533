"""Bundle wheels for a project's requirements: packflow itself, repacked, plus ``pip download``."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from packflow._version import __version__
from packflow.archive.writer import FIXED_DATE_TIME, FILE_MODE
from packflow.exceptions import ProjectError

__all__ = ["build_packflow_wheel", "download_wheels", "split_packflow_requirement"]

_SKIP_DIRS = {"__pycache__"}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def split_packflow_requirement(lines: list[str]) -> tuple[str | None, list[str]]:
    """``(packflow line or None, the other lines)`` of a requirements file."""
    own, rest = None, []
    for line in lines:
        match = _NAME.match(line.split("#", 1)[0])
        if match and re.sub(r"[-_.]+", "-", match.group(1)).lower() == "packflow":
            own = line.strip()
        else:
            rest.append(line)
    return own, rest


def download_wheels(
    requirements: Path, dest: Path, *, platforms: tuple[str, ...] = (), python_version: str | None = None,
    extras: tuple[str, ...] = (),
) -> list[Path]:
    """Fill ``dest`` with wheels for every requirement and dependency; return them sorted.

    packflow itself is not fetched from an index: the running installation is repacked into a
    wheel, so the archive carries exactly the packflow that exported it. ``extras`` (e.g.
    ``("serve", "redis")``) adds the dependencies of those packflow extras.
    """
    dest.mkdir(parents=True, exist_ok=True)
    own, rest = split_packflow_requirement(requirements.read_text(encoding="utf-8").splitlines())
    _check_pin(own)
    wheel = build_packflow_wheel(dest)
    wanted = _merge_extras(_extras(own), extras)
    with tempfile.TemporaryDirectory(prefix="packflow-req-") as tmp:
        filtered = Path(tmp) / "requirements.txt"
        filtered.write_text("\n".join(rest) + "\n", encoding="utf-8")
        cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(dest),
               "-r", str(filtered), f"{wheel}{wanted}"]
        for tag in platforms:
            cmd += ["--platform", tag]
        if python_version:
            cmd += ["--python-version", python_version]
        _run_pip(cmd, cwd=requirements.parent)
    return sorted(dest.glob("*.whl"))


def _extras(own: str | None) -> str:
    match = _NAME.match(own.split("#", 1)[0]) if own else None
    return (match.group(2) or "") if match else ""


def _merge_extras(from_line: str, extras: tuple[str, ...]) -> str:
    names = [e.strip() for e in from_line.strip("[]").split(",") if e.strip()] + list(extras)
    return f"[{','.join(sorted(set(names)))}]" if names else ""


def _check_pin(own: str | None) -> None:
    if own is None:
        return
    match = re.search(r"==\s*([^\s;,]+)", own)
    if match and match.group(1) != __version__:
        raise ProjectError(
            f"requirements.txt pins {own!r} but --with-wheels bundles the running packflow {__version__}; "
            f"change the line to 'packflow=={__version__}' or export with packflow {match.group(1)}."
        )


def _run_pip(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise ProjectError(
            f"pip could not download wheels for requirements.txt (exit {proc.returncode}). Check that every "
            f"requirement has a wheel for the target platform, or adjust --platform/--python-version.\n{tail}"
        )


def build_packflow_wheel(dest: Path) -> Path:
    """Repack the running packflow (installed or editable) into a reproducible ``py3-none-any`` wheel."""
    import packflow

    dist = importlib.metadata.distribution("packflow")
    package_dir = Path(packflow.__file__).resolve().parent
    info_dir = f"packflow-{__version__}.dist-info"
    files = {f"packflow/{p.relative_to(package_dir).as_posix()}": p.read_bytes() for p in _package_files(package_dir)}
    metadata = dist.read_text("METADATA")
    if not metadata:
        raise ProjectError("The installed packflow has no METADATA; reinstall packflow to bundle it as a wheel.")
    files[f"{info_dir}/METADATA"] = metadata.encode("utf-8")
    files[f"{info_dir}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: packflow-export\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        files[f"{info_dir}/entry_points.txt"] = entry_points.encode("utf-8")
    files[f"{info_dir}/RECORD"] = _record(files, f"{info_dir}/RECORD")
    target = dest / f"packflow-{__version__}-py3-none-any.whl"
    _write_zip(target, files)
    return target


def _package_files(package_dir: Path) -> list[Path]:
    return sorted(
        p for p in package_dir.rglob("*")
        if p.is_file() and not _SKIP_DIRS & set(p.relative_to(package_dir).parts) and p.suffix not in {".pyc", ".pyo"}
    )


def _record(files: dict[str, bytes], record_name: str) -> bytes:
    rows = []
    for name in sorted(files):
        digest = base64.urlsafe_b64encode(hashlib.sha256(files[name]).digest()).rstrip(b"=").decode()
        rows.append(f"{name},sha256={digest},{len(files[name])}")
    rows.append(f"{record_name},,")
    return ("\n".join(rows) + "\n").encode("utf-8")


def _write_zip(target: Path, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = FILE_MODE << 16
            archive.writestr(info, files[name])
