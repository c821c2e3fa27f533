"""``explain_config``: where each backend-config value of a target comes from, without constructing it.

The backend class is imported (as a loader would) but never instantiated, so ``initialize()``
does not run: explaining the configuration of a model that takes minutes to load is instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from packflow.backend.base import InferenceBackend
from packflow.backend.configuration import project_layer, resolve_backend_configuration
from packflow.backend.provenance import ConfigResolution
from packflow.exceptions import InferenceBackendLoadError

__all__ = ["explain_config"]


def explain_config(target: str, **backend_kwargs: Any) -> ConfigResolution:
    """The effective configuration of ``target`` (project dir, archive, ``module:Name``) with its layers."""
    from packflow.loaders.base import InferenceBackendLoader
    from packflow.loaders.target import resolve_target

    resolved = resolve_target(target)
    backend_config: dict[str, Any] = {}
    if resolved.kind in ("project", "archive"):
        root = Path(resolved.location)
        if resolved.kind == "archive":
            from packflow.archive import extract_verified

            root = extract_verified(root)
        loader, backend_config = _project_loader(root)
    else:
        from packflow.loaders.local import LocalLoader
        from packflow.loaders.module import ModuleLoader

        loader = LocalLoader(resolved.location) if resolved.kind == "file" else ModuleLoader(resolved.location)
    obj = _import_target(loader)
    if isinstance(obj, InferenceBackend):
        return obj.config_sources()
    with project_layer(backend_config):
        return resolve_backend_configuration(obj.backend_config_model, backend_kwargs)


def _project_loader(root: Path) -> tuple[Any, dict[str, Any]]:
    from packflow.loaders.config import PackflowConfig
    from packflow.loaders.local import LocalLoader
    from packflow.loaders.module import ModuleLoader

    config = PackflowConfig.from_project_path(root)
    cls = LocalLoader if config.loader == "local" else ModuleLoader
    return cls(config.inference_backend, base_dir=root), dict(config.backend_config)


def _import_target(loader: Any) -> Any:
    """The class or instance the loader's target names, imported with the loader's isolation rules."""
    from packflow.loaders._isolation import isolated_modules
    from packflow.loaders.base import on_sys_path

    directory = loader.search_path()
    with on_sys_path(directory), isolated_modules(directory):
        try:
            obj = loader.load_backend_module()
        except InferenceBackendLoadError:
            raise
        except (Exception, SystemExit) as exc:
            raise InferenceBackendLoadError(f"Cannot import backend {loader.path!r}: {type(exc).__name__}: {exc}") from exc
    if isinstance(obj, InferenceBackend) or (isinstance(obj, type) and issubclass(obj, InferenceBackend)):
        return obj
    raise InferenceBackendLoadError(f"{loader.path!r} is a {type(obj).__name__}, not an InferenceBackend subclass or instance.")
