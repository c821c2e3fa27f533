"""``LocalLoader``: import a backend from a ``.py`` file under a base directory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from packflow.exceptions import InferenceBackendLoadError
from packflow.loaders.base import InferenceBackendLoader, backend_classes_in
from packflow.loaders.utils import inference_backend_parts

__all__ = ["LocalLoader"]


class LocalLoader(InferenceBackendLoader):
    """Load ``'module:Name'`` from ``base_dir/module.py`` (dots in ``module`` are folders).

    The base directory is on ``sys.path`` only while the file is imported, so sibling imports
    inside the backend file work without leaving the project importable afterwards.
    """

    def __init__(self, path: str, base_dir: str | Path | None = None) -> None:
        super().__init__(path)
        self.base_dir = Path(base_dir if base_dir is not None else ".").resolve()

    def module_file(self) -> Path:
        """The file the target points at."""
        module_name, _ = inference_backend_parts(self.path)
        return (self.base_dir / module_name.replace(".", "/")).with_suffix(".py")

    def load_backend_module(self) -> Any:
        module_name, attr = inference_backend_parts(self.path)
        source = self.module_file()
        if not source.is_file():
            raise InferenceBackendLoadError(
                f"Cannot load {self.path!r}: no file {source} (module {module_name!r} resolved against "
                f"base_dir {self.base_dir}). Check the path or pass base_dir=."
            )
        module = _import_file(source, self.base_dir)
        if not hasattr(module, attr):
            found = backend_classes_in(module)
            hint = f"it defines these backends: {', '.join(found)}" if found else "it defines no InferenceBackend subclass"
            raise InferenceBackendLoadError(f"{source} has no attribute {attr!r}; {hint}.")
        return getattr(module, attr)


def _import_file(source: Path, base_dir: Path) -> ModuleType:
    name = f"packflow_local_{abs(hash(str(source))):x}_{source.stem}"
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise InferenceBackendLoadError(f"Cannot import {source}: not a Python source file.")
    module = importlib.util.module_from_spec(spec)
    added = str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if added:
            try:
                sys.path.remove(str(base_dir))
            except ValueError:
                pass
    return module
