"""Checks on an archive's central directory, made before anything is read, extracted or imported."""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = ["ArchiveLimits", "entry_problems"]

_MAX_FILES_ENV = "PACKFLOW_ARCHIVE_MAX_FILES"
_MAX_BYTES_ENV = "PACKFLOW_ARCHIVE_MAX_BYTES"
_MAX_RATIO_ENV = "PACKFLOW_ARCHIVE_MAX_RATIO"


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits that refuse zip bombs; defaults can be changed with ``PACKFLOW_ARCHIVE_MAX_*`` variables.

    ``max_files`` entries, ``max_total_bytes`` uncompressed in total, and a per-entry compression
    ratio of at most ``max_ratio`` (checked for entries above 1 MiB).
    """

    max_files: int = 10_000
    max_total_bytes: int = 4 * 1024**3
    max_ratio: float = 500.0

    @classmethod
    def from_env(cls) -> ArchiveLimits:
        """Defaults, overridden by ``PACKFLOW_ARCHIVE_MAX_FILES`` / ``_MAX_BYTES`` / ``_MAX_RATIO``."""
        base = cls()
        return cls(
            max_files=int(_env_number(_MAX_FILES_ENV, base.max_files, int)),
            max_total_bytes=int(_env_number(_MAX_BYTES_ENV, base.max_total_bytes, int)),
            max_ratio=_env_number(_MAX_RATIO_ENV, base.max_ratio, float),
        )


def _env_number(name: str, default: float, kind: type) -> float:
    from packflow.exceptions import ArchiveError

    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = kind(raw)
    except ValueError as exc:
        raise ArchiveError(f"{name}={raw!r} is not a number; unset it or give e.g. {default!r}.") from exc
    if value <= 0:
        raise ArchiveError(f"{name}={raw!r} must be positive.")
    return value


def entry_problems(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> list[str]:
    """Every safety problem in the central directory, each naming the entry; empty when safe."""
    if len(infos) > limits.max_files:
        return [f"archive has {len(infos)} entries, more than the limit of {limits.max_files} (PACKFLOW_ARCHIVE_MAX_FILES)"]
    problems: list[str] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        problems += _name_problems(info.filename)
        problems += _kind_problems(info, limits)
        key = _normalised(info.filename)
        if key in seen:
            problems.append(f"duplicate entry {info.filename!r}")
        seen.add(key)
        total += info.file_size
    if total > limits.max_total_bytes:
        problems.append(
            f"archive expands to {total} bytes, more than the limit of {limits.max_total_bytes} "
            "(PACKFLOW_ARCHIVE_MAX_BYTES)"
        )
    return problems


def _normalised(name: str) -> str:
    return str(PurePosixPath(name.replace("\\", "/"))).lower()


def _name_problems(name: str) -> list[str]:
    if not name or "\x00" in name:
        return [f"entry {name!r} has an empty or NUL-containing name"]
    if "\\" in name:
        return [f"entry {name!r} contains a backslash; archive paths must use '/'"]
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return [f"entry {name!r} has an absolute path"]
    if ".." in PurePosixPath(name).parts:
        return [f"entry {name!r} escapes the archive root with '..' (zip-slip)"]
    return []


def _kind_problems(info: zipfile.ZipInfo, limits: ArchiveLimits) -> list[str]:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return [f"entry {info.filename!r} is a symbolic link; archives may hold only regular files"]
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return [f"entry {info.filename!r} is not a regular file (mode {oct(mode)})"]
    if info.flag_bits & 0x1:
        return [f"entry {info.filename!r} is encrypted; packflow archives are not"]
    if info.file_size > (1 << 20) and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        return [
            f"entry {info.filename!r} expands {ratio:.0f}x ({info.compress_size} -> {info.file_size} bytes), "
            f"above the limit of {limits.max_ratio:g}x (PACKFLOW_ARCHIVE_MAX_RATIO)"
        ]
    return []
