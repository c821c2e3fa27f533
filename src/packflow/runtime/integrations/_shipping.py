"""Ship a backend target to cluster workers and load it there, verifying archives first.

The driver turns a TARGET (project directory, exported ``.zip`` archive, ``file.py:Name`` or
``pkg.module:Name``) into a picklable :class:`TargetSpec`. Paths are made absolute, because worker
processes do not share the driver's working directory. An archive is hashed on the driver; each
worker hashes the copy it received (Ray object store bytes or a ``SparkFiles`` copy) and refuses to
load it when the digests differ, then loads it through ``InferenceBackendLoader.from_archive``,
which checks every file against the archive's manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packflow.backend.base import InferenceBackend
from packflow.exceptions import ArchiveError
from packflow.loaders.target import resolve_target

__all__ = ["TargetSpec", "file_sha256", "load_spec", "prepare_target", "write_verified_archive"]


@dataclass(frozen=True)
class TargetSpec:
    """Everything a worker needs to load the backend: picklable, paths absolute."""

    kind: str
    location: str
    base_dir: str | None = None
    backend_kwargs: dict[str, Any] = field(default_factory=dict)
    archive_sha256: str | None = None

    def key(self) -> str:
        """A stable identity for per-process caches."""
        return json.dumps([self.kind, self.location, self.base_dir, self.backend_kwargs, self.archive_sha256],
                          sort_keys=True, default=str)


def prepare_target(target: str, backend_kwargs: dict[str, Any] | None = None) -> TargetSpec:
    """Resolve ``target`` on the driver into a :class:`TargetSpec` (archives are hashed here)."""
    resolved = resolve_target(target)
    kwargs = dict(backend_kwargs or {})
    if resolved.kind == "archive":
        return TargetSpec("archive", resolved.location, None, kwargs, file_sha256(resolved.location))
    if resolved.kind == "file":
        return TargetSpec("file", resolved.location, str(Path.cwd().resolve()), kwargs)
    return TargetSpec(resolved.kind, resolved.location, None, kwargs)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_verified_archive(data: bytes, spec: TargetSpec) -> str:
    """Write archive bytes a worker received to a private temp file after checking their hash."""
    _check_digest(hashlib.sha256(data).hexdigest(), spec)
    folder = tempfile.mkdtemp(prefix="packflow-archive-")
    path = os.path.join(folder, os.path.basename(spec.location))
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def load_spec(spec: TargetSpec, archive_copy: str | None = None) -> InferenceBackend:
    """Load the backend ``spec`` names on this worker; ``archive_copy`` is the worker's archive file."""
    from packflow.loaders.base import InferenceBackendLoader
    from packflow.loaders.local import LocalLoader
    from packflow.loaders.module import ModuleLoader

    kwargs = spec.backend_kwargs
    if spec.kind == "archive":
        if archive_copy is None:
            raise ArchiveError(f"Archive {spec.location!r} was not shipped to this worker; ship it with the spec.")
        _check_digest(file_sha256(archive_copy), spec)
        return _load_archive(archive_copy, kwargs)
    if spec.kind == "project":
        return InferenceBackendLoader.from_project(spec.location, **kwargs)
    if spec.kind == "file":
        return LocalLoader(spec.location, base_dir=spec.base_dir).load(**kwargs)
    return ModuleLoader(spec.location).load(**kwargs)


def _check_digest(actual: str, spec: TargetSpec) -> None:
    if actual != spec.archive_sha256:
        raise ArchiveError(
            f"The copy of archive {os.path.basename(spec.location)!r} on this worker has sha256 {actual}, but the "
            f"driver shipped {spec.archive_sha256}; the copy was corrupted or replaced. Re-run the job."
        )


def _load_archive(path: str, kwargs: dict[str, Any]) -> InferenceBackend:
    from packflow.loaders.base import InferenceBackendLoader

    return InferenceBackendLoader.from_archive(path, **kwargs)
