"""``InferenceBackendLoader``: import a backend from somewhere and instantiate it."""

from __future__ import annotations

import contextlib
import inspect
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from types import ModuleType
from typing import Any, Iterable, Iterator

from packflow.backend.base import InferenceBackend
from packflow.backend.configuration import project_layer
from packflow.exceptions import (
    AbstractBackendError,
    InferenceBackendInitializationError,
    InferenceBackendLoadError,
    PackflowError,
)

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
        The project's own modules are private to this backend (see ``loaders/_isolation.py``):
        another project's ``helper`` never shadows this one's.
        """
        from packflow.backend.base import PROJECT_DIR
        from packflow.loaders._isolation import isolated_modules

        root = self.search_path()
        token = PROJECT_DIR.set(root)
        try:
            with on_sys_path(root), isolated_modules(root) as modules:
                backend = self._load(backend_kwargs)
        finally:
            PROJECT_DIR.reset(token)
        #: The project's own modules the backend imported (kept out of ``sys.modules``).
        self.project_modules = modules
        return backend

    def _load(self, backend_kwargs: dict[str, Any]) -> InferenceBackend:
        try:
            obj = self.load_backend_module()
        except SystemExit as exc:
            raise InferenceBackendLoadError(
                f"Unable to load inference backend module {self.path!r}: the module called sys.exit({exc.code!r}) "
                "while being imported; move that call under `if __name__ == '__main__':`."
            ) from exc
        except Exception as exc:
            raise _unable_to_load(self.path, exc) from exc
        if isinstance(obj, type) and issubclass(obj, InferenceBackend):
            if inspect.isabstract(obj):
                missing = ", ".join(sorted(obj.__abstractmethods__))
                raise AbstractBackendError(
                    f"{self.path!r} is an abstract InferenceBackend: implement {missing}."
                )
            return _instantiate(obj, self.path, backend_kwargs)
        if isinstance(obj, InferenceBackend):
            return obj
        raise InferenceBackendLoadError(
            f"{self.path!r} does not appear to be a packflow InferenceBackend: it is a {type(obj).__name__} "
            f"({obj!r:.80}), not an InferenceBackend subclass or instance; {_found_hint(self.module)}."
        )

    @classmethod
    def from_project(cls, project_path: str | Path = ".", **backend_kwargs: Any) -> InferenceBackend:
        """Load the backend a project's ``packflow.yaml`` names, with its ``backend_config`` as base values.

        The target must resolve inside the project directory (see :mod:`packflow.loaders.confine`).
        """
        return _load_project(Path(project_path).resolve(), backend_kwargs, strict=False)

    @classmethod
    def from_archive(
        cls, archive_path: str | Path, *, trusted_keys: Iterable[str | Path] | None = None, **backend_kwargs: Any
    ) -> InferenceBackend:
        """Verify an exported archive, extract it into the cache, and load its backend.

        ``trusted_keys`` (public key files or directories, added to ``$PACKFLOW_TRUSTED_KEYS``) make a
        valid signature by one of them a condition of loading. The extracted tree is checked against
        the archive's manifest on every call; only code inside the archive is loaded.
        """
        from packflow.archive import extract_verified

        root = extract_verified(Path(archive_path), trusted_keys=trusted_keys)
        previous = sys.dont_write_bytecode
        sys.dont_write_bytecode = True  # no __pycache__ in the verified tree
        try:
            return _load_project(root, backend_kwargs, strict=True)
        finally:
            sys.dont_write_bytecode = previous


def _load_project(root: Path, backend_kwargs: dict[str, Any], *, strict: bool) -> InferenceBackend:
    from packflow.loaders.config import PackflowConfig, apply_env_vars
    from packflow.loaders.confine import check_confined
    from packflow.loaders.local import LocalLoader
    from packflow.loaders.module import ModuleLoader

    config = PackflowConfig.from_project_path(root)
    check_confined(root, config.inference_backend, config.loader, strict=strict)
    apply_env_vars(config, root)
    loader: InferenceBackendLoader
    if config.loader == "local":
        loader = LocalLoader(config.inference_backend, base_dir=root)
    else:
        loader = ModuleLoader(config.inference_backend, base_dir=root)
    with project_layer(config.backend_config):
        return loader.load(**backend_kwargs)


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



def _unable_to_load(target: str, exc: Exception) -> InferenceBackendLoadError:
    """The load error for a failed ``load_backend_module()``, worded as in 0.4.1 and keeping its type."""
    detail = str(exc) if isinstance(exc, PackflowError) else f"{type(exc).__name__}: {exc}"
    message = f"Unable to load inference backend module {target!r}: {detail}"
    if isinstance(exc, InferenceBackendLoadError):
        return type(exc)(message)
    return InferenceBackendLoadError(message)


def _instantiate(cls: type[InferenceBackend], target: str, backend_kwargs: dict[str, Any]) -> InferenceBackend:
    """``cls(**backend_kwargs)``; a failure of the user's own ``__init__`` becomes a typed error naming it."""
    try:
        backend = cls(**backend_kwargs)
    except PackflowError:
        raise
    except (Exception, SystemExit) as exc:
        what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"raised {type(exc).__name__}: {exc}"
        raise InferenceBackendInitializationError(f"Constructing {cls.__name__} ({target!r}) failed: its __init__ {what}.") from exc
    backend.config  # a subclass that skipped super().__init__() fails here, with that said  # noqa: B018
    return backend


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
