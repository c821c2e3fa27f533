"""Resolve a command-line TARGET — project directory, archive, or ``module:Name`` — and load it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packflow.backend.base import InferenceBackend
from packflow.constants import PACKAGING_CONFIG_NAME
from packflow.exceptions import InferenceBackendLoadError

__all__ = ["Target", "load_target", "resolve_target"]


@dataclass(frozen=True)
class Target:
    """A resolved backend target: ``kind`` is ``project``, ``archive``, ``file`` or ``module``."""

    kind: str
    location: str
    name: str
    version: str

    def load(self, **backend_kwargs: Any) -> InferenceBackend:
        """Import and instantiate the backend this target names."""
        from packflow.loaders.base import InferenceBackendLoader
        from packflow.loaders.local import LocalLoader
        from packflow.loaders.module import ModuleLoader

        if self.kind == "project":
            return InferenceBackendLoader.from_project(self.location, **backend_kwargs)
        if self.kind == "archive":
            return InferenceBackendLoader.from_archive(self.location, **backend_kwargs)
        if self.kind == "file":
            return LocalLoader(self.location).load(**backend_kwargs)
        return ModuleLoader(self.location).load(**backend_kwargs)


def resolve_target(target: str) -> Target:
    """Decide what ``target`` names without importing it."""
    path = Path(target)
    if path.is_dir():
        if not (path / PACKAGING_CONFIG_NAME).exists():  # a FIFO or device is refused by name, below
            raise InferenceBackendLoadError(
                f"{target!r} is a directory without {PACKAGING_CONFIG_NAME}; give a project directory, an "
                "exported .zip archive, or 'module:ClassName'."
            )
        from packflow.loaders.config import PackflowConfig

        cfg = PackflowConfig.from_project_path(path)
        return Target("project", str(path.resolve()), cfg.name, cfg.version)
    if path.suffix == ".zip":
        if not path.is_file():
            raise InferenceBackendLoadError(f"Archive {target!r} does not exist.")
        stem = path.stem
        name, _, version = stem.rpartition("-")
        return Target("archive", str(path.resolve()), name or stem, version or "unknown")
    if ":" in target:
        from packflow.loaders.utils import inference_backend_parts

        try:
            module_name, attr = inference_backend_parts(target)
        except ValueError as exc:
            raise InferenceBackendLoadError(str(exc)) from exc
        file = Path(module_name.replace(".", "/")).with_suffix(".py")
        kind = "file" if file.is_file() else "module"
        return Target(kind, target, attr, "unknown")
    raise InferenceBackendLoadError(
        f"Cannot resolve target {target!r}: it is not a directory with {PACKAGING_CONFIG_NAME}, a .zip "
        "archive, or 'module:ClassName'."
    )


def load_target(target: str, **backend_kwargs: Any) -> InferenceBackend:
    """Resolve and load ``target`` in one step."""
    return resolve_target(target).load(**backend_kwargs)
