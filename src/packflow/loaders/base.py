"""``InferenceBackendLoader``: import a backend from somewhere and instantiate it."""

from __future__ import annotations

import contextlib
import inspect
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

from packflow.backend.base import InferenceBackend
from packflow.backend.configuration import deep_merge
from packflow.exceptions import InferenceBackendLoadError

__all__ = ["InferenceBackendLoader", "backend_classes_in", "on_sys_path"]


class InferenceBackendLoader(ABC):
    """Base loader: subclasses implement ``load_backend_module()``; ``load()`` validates and instantiates."""

    def __init__(self, path: str) -> None:
        self.path = path
        #: The module the target was imported from (set by ``load_backend_module``), for error messages.
        self.module: ModuleType | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @abstractmethod
    def load_backend_module(self) -> Any:
        """Import and return the object the target names (a backend class or instance)."""

    def search_path(self) -> Path | None:
        """A directory to put on ``sys.path`` while importing and instantiating (None: leave it alone)."""
        return None

    def load(self, **backend_kwargs: Any) -> InferenceBackend:
        """The backend, instantiated with ``backend_kwargs`` if the target is a class.

        ``search_path()`` (the project directory, for example) is on ``sys.path`` only while the
        module is imported and the class instantiated, so imports inside ``initialize()`` work.
        """
        from packflow.backend.base import PROJECT_DIR

        root = self.search_path()
        token = PROJECT_DIR.set(root)
        try:
            with on_sys_path(root):
                return self._load(backend_kwargs)
        finally:
            PROJECT_DIR.reset(token)

    def _load(self, backend_kwargs: dict[str, Any]) -> InferenceBackend:
        try:
            obj = self.load_backend_module()
        except InferenceBackendLoadError:
            raise
        except Exception as exc:
            raise InferenceBackendLoadError(
                f"Cannot import backend {self.path!r}: {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(obj, type) and issubclass(obj, InferenceBackend):
            if inspect.isabstract(obj):
                missing = ", ".join(sorted(obj.__abstractmethods__))
                raise InferenceBackendLoadError(
                    f"{self.path!r} is an abstract InferenceBackend: implement {missing}."
                )
            return obj(**backend_kwargs)
        if isinstance(obj, InferenceBackend):
            return obj
        raise InferenceBackendLoadError(
            f"{self.path!r} is a {type(obj).__name__} ({obj!r:.80}), not an InferenceBackend subclass or instance; "
            f"{_found_hint(self.module)}."
        )

    @classmethod
    def from_project(cls, project_path: str | Path = ".", **backend_kwargs: Any) -> InferenceBackend:
        """Load the backend a project's ``packflow.yaml`` names, with its ``backend_config`` as base values."""
        from packflow.loaders.config import PackflowConfig, apply_env_vars
        from packflow.loaders.local import LocalLoader
        from packflow.loaders.module import ModuleLoader

        root = Path(project_path).resolve()
        config = PackflowConfig.from_project_path(root)
        apply_env_vars(config, root)
        loader: InferenceBackendLoader
        if config.loader == "local":
            loader = LocalLoader(config.inference_backend, base_dir=root)
        else:
            loader = ModuleLoader(config.inference_backend, base_dir=root)
        return loader.load(**deep_merge(config.backend_config, backend_kwargs))

    @classmethod
    def from_archive(cls, archive_path: str | Path, **backend_kwargs: Any) -> InferenceBackend:
        """Verify an exported archive, extract it into the cache, and load its backend."""
        from packflow.archive import extract_verified

        root = extract_verified(Path(archive_path))
        return cls.from_project(root, **backend_kwargs)


def backend_classes_in(module: ModuleType) -> list[str]:
    """Names of the concrete InferenceBackend subclasses a module defines or imports."""
    return sorted(
        name
        for name, obj in vars(module).items()
        if isinstance(obj, type)
        and issubclass(obj, InferenceBackend)
        and obj is not InferenceBackend
        and not inspect.isabstract(obj)
    )



def _found_hint(module: ModuleType | None) -> str:
    """``it defines these backends: A, B`` (or that it defines none) for a loader error message."""
    if module is None:
        return "check the target 'module:ClassName'"
    found = backend_classes_in(module)
    if found:
        return f"the module defines these InferenceBackend classes: {', '.join(found)}"
    return "the module defines no InferenceBackend subclass"


@contextlib.contextmanager
def on_sys_path(directory: Path | None) -> Iterator[None]:
    """Put ``directory`` first on ``sys.path`` for the duration of the block (if it was not there)."""
    entry = str(directory) if directory is not None else None
    added = entry is not None and entry not in sys.path
    if added:
        sys.path.insert(0, entry)  # type: ignore[arg-type]
    try:
        yield
    finally:
        if added:
            try:
                sys.path.remove(entry)  # type: ignore[arg-type]
            except ValueError:
                pass
