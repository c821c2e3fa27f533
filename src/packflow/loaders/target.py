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
            return LocalLoader(self.location).load(**_with_project_config(self.location, backend_kwargs))
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
        name, version = _archive_identity(path)
        return Target("archive", str(path.resolve()), name, version)
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


#: Manifests larger than this are not read for the name (verification refuses them later anyway).
_MAX_MANIFEST_BYTES = 8 << 20


def _archive_identity(path: Path) -> tuple[str, str]:
    """The project name and version an archive's manifest records (the same as its directory's
    ``packflow.yaml``, so metric labels do not change between serving one and the other); the file
    name's ``<name>-<version>`` when the manifest cannot say. Verification happens at load time."""
    import json
    import zipfile

    from packflow.constants import MANIFEST_NAME

    stem_name, _, stem_version = path.stem.rpartition("-")
    fallback = (stem_name or path.stem, stem_version or "unknown")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(MANIFEST_NAME)
            if info.file_size > _MAX_MANIFEST_BYTES:
                return fallback
            metadata = json.loads(archive.read(info)).get("metadata")
    except Exception:  # noqa: BLE001 - any unreadable archive is reported by verification, not here
        return fallback
    if not isinstance(metadata, dict):
        return fallback
    name, version = metadata.get("name"), metadata.get("version")
    return (name if isinstance(name, str) and name else fallback[0],
            str(version) if isinstance(version, (str, int, float)) and str(version) else fallback[1])


def _with_project_config(target: str, backend_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``module:Name`` run from inside a project directory: the project's ``backend_config`` (and
    ``env``) apply when its ``packflow.yaml`` names this same target; otherwise say loudly that they
    do not."""
    from packflow.logger import get_logger

    root = Path.cwd()
    if not (root / PACKAGING_CONFIG_NAME).is_file():
        return backend_kwargs
    from packflow.backend.configuration import deep_merge
    from packflow.loaders.config import PackflowConfig, apply_env_vars

    config = PackflowConfig.from_project_path(root)
    if config.inference_backend != target:
        get_logger("loaders").warning(
            "%s names %r, not %r: its backend_config and env are NOT applied to %r (run the project "
            "directory instead, e.g. `packflow run .`, to use them).",
            root / PACKAGING_CONFIG_NAME, config.inference_backend, target, target,
        )
        return backend_kwargs
    apply_env_vars(config, root)
    get_logger("loaders").info("Using backend_config and env of %s for %r", root / PACKAGING_CONFIG_NAME, target)
    return deep_merge(config.backend_config, backend_kwargs)


def load_target(target: str, **backend_kwargs: Any) -> InferenceBackend:
    """Resolve and load ``target`` in one step."""
    return resolve_target(target).load(**backend_kwargs)
