"""Checks on an archive's central directory, made before anything is read, extracted or imported."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from dataclasses import dataclass

__all__ = ["ALLOWED_METHODS", "ArchiveLimits", "entry_problems"]

_MAX_FILES_ENV = "PACKFLOW_ARCHIVE_MAX_FILES"
_MAX_BYTES_ENV = "PACKFLOW_ARCHIVE_MAX_BYTES"
_MAX_RATIO_ENV = "PACKFLOW_ARCHIVE_MAX_RATIO"
#: Compression methods packflow writes; anything else (bzip2, lzma, unknown ids) is refused unread.
ALLOWED_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
#: Longest name of one path component, in UTF-8 bytes (the common file-system limit).
MAX_COMPONENT_BYTES = 255
#: Longest archive path, in UTF-8 bytes, leaving room for the cache prefix under PATH_MAX (4096).
MAX_NAME_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Below this many uncompressed bytes in total, the whole-archive ratio is not checked.
_RATIO_FLOOR = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits that refuse zip bombs; defaults can be changed with ``PACKFLOW_ARCHIVE_MAX_*`` variables.

    ``max_files`` entries, ``max_total_bytes`` uncompressed in total, and a compression ratio of at
    most ``max_ratio``, both per entry and for the whole archive (each checked above 1 MiB).
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
    for info in infos:
        problems += _name_problems(info.filename) or _kind_problems(info, limits)
    problems += _layout_problems(infos)
    problems += _total_problems(infos, limits)
    return problems


def _total_problems(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> list[str]:
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_total_bytes:
        return [f"archive expands to {total} bytes, more than the limit of {limits.max_total_bytes} "
                "(PACKFLOW_ARCHIVE_MAX_BYTES)"]
    if total > _RATIO_FLOOR and total > limits.max_ratio * max(packed, 1):
        return [f"archive expands {total / max(packed, 1):.0f}x in total ({packed} -> {total} bytes over "
                f"{len(infos)} entries), above the limit of {limits.max_ratio:g}x (PACKFLOW_ARCHIVE_MAX_RATIO)"]
    return []


def _layout_problems(infos: list[zipfile.ZipInfo]) -> list[str]:
    """Duplicates (also by case) and a file that is also used as a directory (``a`` and ``a/b``)."""
    problems: list[str] = []
    files: dict[str, str] = {}
    dirs: dict[str, str] = {}
    for info in infos:
        if not info.filename:
            continue  # refused by _name_problems
        name = info.filename.rstrip("/")
        key = name.lower()
        if key in files or (info.is_dir() and key in dirs):
            problems.append(f"duplicate entry {info.filename!r}")
        (dirs if info.is_dir() else files)[key] = info.filename
        parts = key.split("/")
        for depth in range(1, len(parts)):
            dirs.setdefault("/".join(parts[:depth]), info.filename)
    for key in sorted(set(files) & set(dirs)):
        problems.append(f"entry {files[key]!r} is a file but entry {dirs[key]!r} uses it as a directory; "
                        "the archive cannot be extracted")
    return problems


def _name_problems(name: str) -> list[str]:
    if not name or _CONTROL.search(name):
        return [f"entry {name!r} has an empty name or control characters in it"]
    if "\\" in name:
        return [f"entry {name!r} contains a backslash; archive paths must use '/'"]
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return [f"entry {name!r} has an absolute path"]
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return [f"entry {name!r} escapes the archive root with '..' (zip-slip)"]
    if any(p in {"", "."} for p in parts):
        return [f"entry {name!r} has an empty or '.' path component; write it as a plain relative path"]
    return _length_problems(name, parts)


def _length_problems(name: str, parts: list[str]) -> list[str]:
    longest = max(len(p.encode("utf-8", "surrogatepass")) for p in parts)
    if longest > MAX_COMPONENT_BYTES:
        return [f"entry {name[:60]!r}… has a path component of {longest} bytes, more than the "
                f"{MAX_COMPONENT_BYTES} a file system allows; the archive cannot be extracted"]
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return [f"entry {name[:60]!r}… has a name longer than {MAX_NAME_BYTES} bytes"]
    return []


def _kind_problems(info: zipfile.ZipInfo, limits: ArchiveLimits) -> list[str]:
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return [f"entry {info.filename!r} is a symbolic link; archives may hold only regular files"]
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return [f"entry {info.filename!r} is not a regular file (mode {oct(mode)})"]
    if info.flag_bits & 0x1:
        return [f"entry {info.filename!r} is encrypted; packflow archives are not"]
    if info.compress_type not in ALLOWED_METHODS:
        return [f"entry {info.filename!r} uses compression method {info.compress_type}; packflow archives use "
                "only stored (0) or deflate (8)"]
    if info.file_size > (1 << 20) and info.file_size > limits.max_ratio * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        return [
            f"entry {info.filename!r} expands {ratio:.0f}x ({info.compress_size} -> {info.file_size} bytes), "
            f"above the limit of {limits.max_ratio:g}x (PACKFLOW_ARCHIVE_MAX_RATIO)"
        ]
    return []
