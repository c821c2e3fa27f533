"""``LocalLoader``: import a backend from a ``.py`` file under a base directory."""

from __future__ import annotations

import importlib.util
import sys
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

from packflow.exceptions import BackendAttributeError, BackendSourceNotFoundError, InferenceBackendLoadError
from packflow.loaders.base import InferenceBackendLoader, _found_hint
from packflow.loaders.utils import inference_backend_parts

__all__ = ["LocalLoader"]


class LocalLoader(InferenceBackendLoader):
    """Load ``'module:Name'`` from ``base_dir/module.py`` (dots in ``module`` are folders).

    ``base_dir`` defaults to the working directory. It is on ``sys.path`` only while the file is
    imported and the backend instantiated (so sibling imports, also inside ``initialize()``, work)
    and is removed afterwards: loading a project does not leave it importable.
    """

    def __init__(self, path: str, base_dir: str | Path | None = None) -> None:
        super().__init__(path)
        self.base_dir = Path(base_dir if base_dir is not None else ".").resolve()

    def search_path(self) -> Path | None:
        return self.base_dir

    def module_file(self) -> Path:
        """The file the target points at."""
        module_name, _ = inference_backend_parts(self.path)
        return (self.base_dir / module_name.replace(".", "/")).with_suffix(".py")

    def load_backend_module(self) -> Any:
        module_name, attr = inference_backend_parts(self.path)
        source = self.module_file()
        if not source.is_file():
            raise BackendSourceNotFoundError(
                f"No such file: {str(source)!r} (module {module_name!r} of {self.path!r}, relative to "
                f"base_dir {self.base_dir}). Check the path, or pass base_dir=."
            )
        self.module = _import_file(source)
        if not hasattr(self.module, attr):
            raise BackendAttributeError(
                f"Backend with name {attr!r} does not exist in loaded module {str(source)!r}: it has no "
                f"attribute {attr!r}; {_found_hint(self.module)}."
            )
        return getattr(self.module, attr)

    # -- packflow 0.4.1 compatibility (docs/migration.md) ---------------------------------------

    @staticmethod
    def _dot_notation_to_pypath(path: str, base_dir: str | Path = ".") -> str:
        """0.4.1 helper: ``'pkg.mod'`` → the absolute path of ``base_dir/pkg/mod.py``."""
        return str((Path(base_dir) / path.replace(".", "/")).with_suffix(".py").resolve())

    @staticmethod
    def _import_module_from_source(path: str | Path) -> ModuleType:
        """0.4.1 helper: import a ``.py`` file (under a private module name, see docs/migration.md)."""
        source = Path(path).resolve()
        if not source.is_file():
            raise BackendSourceNotFoundError(f"No such file: {str(source)!r}; give the path of a Python source file.")
        return _import_file(source)


def _module_name(source: Path) -> str:
    """A name stable across processes (unlike ``hash()``) that cannot shadow a real module."""
    return f"packflow_local_{zlib.crc32(str(source).encode()):08x}_{source.stem}"


def _import_file(source: Path) -> ModuleType:
    name = _module_name(source)
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise InferenceBackendLoadError(f"Cannot import {source}: not a Python source file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
