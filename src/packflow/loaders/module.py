"""``ModuleLoader``: import a backend from an installed (or project-local) module."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from packflow.exceptions import BackendModuleNotFoundError, InferenceBackendLoadError
from packflow.loaders.base import InferenceBackendLoader, _found_hint
from packflow.loaders.utils import inference_backend_parts

__all__ = ["ModuleLoader"]


class ModuleLoader(InferenceBackendLoader):
    """Load ``'pkg.module:Name'`` with :func:`importlib.import_module`.

    ``base_dir`` (optional; ``from_project`` passes the project directory) is searched first, and
    only while the module is imported and the backend instantiated.
    """

    def __init__(self, path: str, base_dir: str | Path | None = None) -> None:
        super().__init__(path)
        self.base_dir = Path(base_dir).resolve() if base_dir is not None else None

    def search_path(self) -> Path | None:
        return self.base_dir

    def load_backend_module(self) -> Any:
        module_name, attr = inference_backend_parts(self.path)
        try:
            self.module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                raise BackendModuleNotFoundError(
                    f"No module named {exc.name!r} is installed (backend target {self.path!r}). "
                    "Install the package that provides it, or use LocalLoader for a file in a project directory.",
                    name=exc.name,
                ) from exc
            raise
        if not hasattr(self.module, attr):
            raise InferenceBackendLoadError(
                f"Backend with name {attr!r} does not exist in loaded module {module_name!r} "
                f"({getattr(self.module, '__file__', None)}): it has no attribute {attr!r}; {_found_hint(self.module)}."
            )
        return getattr(self.module, attr)
