"""Each project's own modules stay private to the backend loaded from it.

Python caches imports in ``sys.modules`` by name, so after project A's ``helper`` was imported,
project B's ``from helper import K`` would get A's module. While a loader imports and instantiates
a backend from a directory, :func:`isolated_modules`:

1. hides the cached modules that share a name with one of the directory's top-level modules or
   packages but live elsewhere (another project's ``helper``);
2. after loading, takes the modules imported from the directory back out of ``sys.modules``
   (the backend keeps references to what it uses, so nothing is unloaded);
3. puts the hidden modules back.

The directory itself is on ``sys.path`` only for the same span (see ``on_sys_path``). The
backend's own module keeps its private name (``packflow_local_<crc>_<stem>``) in ``sys.modules``
so pickling its classes by reference works. Loading is not thread-safe: load backends from one
thread (serve and the cluster workers do).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

__all__ = ["PRIVATE_PREFIX", "isolated_modules", "project_module_names"]

#: Modules whose name starts with this are the loaders' own private names; they are kept.
PRIVATE_PREFIX = "packflow_local_"


def project_module_names(directory: Path) -> set[str]:
    """Top-level module and package names ``directory`` provides (``helper.py``, ``pkg/``)."""
    names: set[str] = set()
    try:
        entries = list(directory.iterdir())
    except OSError:
        return names
    for entry in entries:
        if entry.suffix == ".py" and entry.is_file():
            names.add(entry.stem)
        elif entry.is_dir() and entry.name.isidentifier() and any(entry.glob("*.py")):
            names.add(entry.name)
    return names


def _lives_in(module: ModuleType | None, directory: Path) -> bool:
    for location in [getattr(module, "__file__", None), *list(getattr(module, "__path__", None) or [])]:
        if location and Path(location).resolve().is_relative_to(directory):
            return True
    return False


def _owned(name: str, names: set[str]) -> bool:
    return name.partition(".")[0] in names


@contextlib.contextmanager
def isolated_modules(directory: Path | None) -> Iterator[dict[str, ModuleType]]:
    """Within the block, imports of ``directory``'s modules find that directory's files.

    Yields a dict that, after the block, holds the modules imported from ``directory``.
    """
    loaded: dict[str, ModuleType] = {}
    if directory is None:
        yield loaded
        return
    root = directory.resolve()
    names = project_module_names(root)
    hidden = {n: m for n, m in list(sys.modules.items()) if _owned(n, names) and not _lives_in(m, root)}
    for name in hidden:
        del sys.modules[name]
    before = set(sys.modules)
    try:
        yield loaded
    finally:
        for name in [n for n in list(sys.modules) if n not in before and not n.startswith(PRIVATE_PREFIX)]:
            if _lives_in(sys.modules[name], root):
                loaded[name] = sys.modules.pop(name)
        for name, module in hidden.items():
            sys.modules.setdefault(name, module)
