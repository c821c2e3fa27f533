"""``ModuleLoader``: import a backend from an installed module."""

from __future__ import annotations

import importlib
from typing import Any

from packflow.exceptions import InferenceBackendLoadError
from packflow.loaders.base import InferenceBackendLoader, backend_classes_in
from packflow.loaders.utils import inference_backend_parts

__all__ = ["ModuleLoader"]


class ModuleLoader(InferenceBackendLoader):
    """Load ``'pkg.module:Name'`` with :func:`importlib.import_module`."""

    def load_backend_module(self) -> Any:
        module_name, attr = inference_backend_parts(self.path)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                raise InferenceBackendLoadError(
                    f"Cannot load {self.path!r}: no installed module {exc.name!r}. Install the package that "
                    "provides it, or use LocalLoader for a file in a project directory."
                ) from exc
            raise
        if not hasattr(module, attr):
            found = backend_classes_in(module)
            hint = f"it defines these backends: {', '.join(found)}" if found else "it defines no InferenceBackend subclass"
            raise InferenceBackendLoadError(f"Module {module_name!r} has no attribute {attr!r}; {hint}.")
        return getattr(module, attr)
