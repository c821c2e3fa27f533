"""Reading configuration files safely: regular files only, bounded size, strict UTF-8, bounded depth.

Every configuration input (``BACKEND_CONFIG_FILE_PATH``, ``--config`` files, ``packflow.yaml``)
goes through :func:`read_text_file`, so a FIFO cannot hang a process (the file is opened
non-blocking and refused unless it is a regular file), ``/dev/zero`` cannot be read without bound,
and bytes that are not UTF-8 are an error that names the file and the offset.
"""

from __future__ import annotations

import json
import os
import stat
from typing import Any

__all__ = ["MAX_CONFIG_BYTES", "load_json_text", "read_text_file"]

#: Largest configuration file packflow reads (bytes).
MAX_CONFIG_BYTES = 16 * 1024 * 1024


def read_text_file(path: str, label: str, error: type[Exception], limit: int = MAX_CONFIG_BYTES) -> str:
    """The UTF-8 text of the regular file ``path``; ``error(message)`` naming ``label`` otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"Cannot read {label}: {exc.strerror or exc}.") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{label} is not a regular file ({_kind(info.st_mode)}); give the path of an ordinary file.")
        data = _read_at_most(fd, limit, label, error)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{label} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 4]!r}); save it as UTF-8.") from exc


def _read_at_most(fd: int, limit: int, label: str, error: type[Exception]) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
        except OSError as exc:
            raise error(f"Cannot read {label}: {exc.strerror or exc}.") from exc
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise error(f"{label} is larger than {limit:,} bytes; a configuration file should be small.")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def load_json_text(text: str, label: str, error: type[Exception]) -> Any:
    """``json.loads(text)``; invalid or too deeply nested JSON is ``error(message)`` naming ``label``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{label} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from exc
    except RecursionError as exc:
        raise error(f"{label} is nested too deeply to be a configuration; flatten it.") from exc
