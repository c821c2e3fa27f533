"""Refusing a run whose input, output and dead-letter files are one and the same file."""

from __future__ import annotations

import os
import stat

from packflow.exceptions import ConfigurationError

__all__ = ["refuse_same_files"]

_STDIO = {"--input": (0, "stdin")}


def _identities(option: str, path: str) -> set[tuple]:
    """What makes two endpoints the same: their inode (regular files), their resolved path (files that
    do not exist yet), or stdout ('-' for an output). Devices and FIFOs (``/dev/null``) have none."""
    if path == "-":
        fd, name = _STDIO.get(option, (1, "stdout"))
        found = {(name,)} if name == "stdout" else set()
        try:
            st = os.fstat(fd)
        except OSError:
            return found
        return found | ({("inode", st.st_dev, st.st_ino)} if stat.S_ISREG(st.st_mode) else set())
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {("path", os.path.realpath(path))}
    except OSError:
        return set()
    if stat.S_ISREG(st.st_mode):
        return {("inode", st.st_dev, st.st_ino), ("path", os.path.realpath(path))}
    return set()


def refuse_same_files(endpoints: dict[str, str | None]) -> None:
    """Raise :class:`ConfigurationError` when any two of ``{option: path}`` are the same file.

    Same path, a symlink or a hard link to it (compared by ``st_dev``/``st_ino``), or ``-`` (stdout)
    given for two outputs. Writing to the input would truncate it; two outputs in one file interleave.
    """
    seen: list[tuple[str, str, set[tuple]]] = []
    for option, path in endpoints.items():
        if path is None:
            continue
        ids = _identities(option, path)
        for other, other_path, other_ids in seen:
            if ids & other_ids:
                how = "" if path == other_path else " (the same file under another name: a symlink or a hard link)"
                raise ConfigurationError(
                    f"{option} {path!r} and {other} {other_path!r} are the same file{how}; writing one would "
                    f"{'destroy the input' if other == '--input' else 'interleave both in one file'}. "
                    "Give each a different file."
                )
        seen.append((option, path, ids))
