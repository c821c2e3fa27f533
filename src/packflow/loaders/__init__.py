"""Loaders that import an ``InferenceBackend`` from a file, an installed module, a project or an archive."""

from packflow.loaders.base import InferenceBackendLoader
from packflow.loaders.config import PackflowConfig
from packflow.loaders.local import LocalLoader
from packflow.loaders.module import ModuleLoader

__all__ = ["InferenceBackendLoader", "LocalLoader", "ModuleLoader", "PackflowConfig", "load_target"]


def __getattr__(name: str):  # noqa: ANN202
    if name == "load_target":
        from packflow.loaders.target import load_target

        return load_target
    raise AttributeError(f"module 'packflow.loaders' has no attribute {name!r}")
