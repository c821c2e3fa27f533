"""Check an extracted tree against the manifest read from the archive, on every load.

The cost is one SHA-256 pass over the extracted bytes (about 1 ms per MB with SHA-NI), plus a
directory walk. There is no stat-based shortcut: a same-user attacker can restore mtimes and
sizes, so only the content hash is trusted. Directories must be private (owned by this user, not
group- or world-writable) and may hold nothing but the manifest's files: a planted ``colorsys.py``
or ``__pycache__/*.pyc`` next to the code is refused like a changed file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from packflow.archive.manifest import Manifest, hash_file
from packflow.archive.verify import mismatch
from packflow.constants import MANIFEST_NAME
from packflow.exceptions import ArchiveError

__all__ = ["check_private_dir", "tree_problems"]


def check_private_dir(path: Path, what: str) -> None:
    """Raise ``ArchiveError`` unless ``path`` is a directory owned by this user and writable by nobody else."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ArchiveError(f"{what} {str(path)!r} cannot be used: {exc.strerror or exc}.") from exc
    problem = _dir_problem(info)
    if problem:
        raise ArchiveError(f"{what} {str(path)!r} {problem}; fix it (chmod 700, or set PACKFLOW_CACHE_DIR "
                           "to a directory only you can write).")


def _dir_problem(info: os.stat_result) -> str | None:
    if not stat.S_ISDIR(info.st_mode):
        return "is not a directory"
    uid = getattr(os, "getuid", None)
    if uid is not None and info.st_uid != uid():
        return f"is owned by uid {info.st_uid}, not by you (uid {uid()})"
    if info.st_mode & 0o022:
        return f"is writable by group or others (mode {oct(info.st_mode & 0o777)})"
    return None


def tree_problems(root: Path, manifest: Manifest, manifest_raw: bytes) -> list[str]:
    """What differs between the tree at ``root`` and the manifest; empty when they match exactly."""
    found: dict[str, Path] = {}
    problems = _walk(root, "", found)
    if problems:
        return problems
    copy = found.pop(MANIFEST_NAME, None)
    if copy is None or copy.read_bytes() != manifest_raw:
        return [f"the cached {MANIFEST_NAME} differs from the archive's"]
    unlisted = sorted(set(found) - set(manifest.files))
    if unlisted:
        return [f"file {unlisted[0]!r} is not in the manifest (planted?)"]
    for name, expected in sorted(manifest.files.items()):
        path = found.get(name)
        if path is None:
            return [f"file {name!r} is missing"]
        changed = mismatch(name, expected, hash_file(path))
        if changed:
            return changed
    return []


def _walk(directory: Path, prefix: str, found: dict[str, Path]) -> list[str]:
    try:
        problem = _dir_problem(os.stat(directory, follow_symlinks=False))
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        return [f"directory {prefix or '.'!r} cannot be read: {exc.strerror or exc}"]
    if problem:
        return [f"directory {prefix or '.'!r} {problem}"]
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        if entry.is_symlink():
            return [f"{rel!r} is a symbolic link"]
        if entry.is_dir(follow_symlinks=False):
            problems = _walk(Path(entry.path), rel + "/", found)
            if problems:
                return problems
        elif entry.is_file(follow_symlinks=False):
            if entry.stat(follow_symlinks=False).st_mode & 0o022:
                return [f"file {rel!r} is writable by group or others"]
            found[rel] = Path(entry.path)
        else:
            return [f"{rel!r} is not a regular file"]
    return []
