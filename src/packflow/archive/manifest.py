"""``packflow-manifest.json``: what an exported archive holds, with the SHA-256 and size of every file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from packflow.constants import MANIFEST_NAME
from packflow.exceptions import ArchiveError

__all__ = ["FileEntry", "MANIFEST_FORMAT", "Manifest", "hash_file", "hash_stream"]

#: Version of the manifest layout; bump when a field changes meaning.
MANIFEST_FORMAT = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One archived file: its SHA-256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass
class Manifest:
    """The manifest of an archive; ``files`` maps archive paths (``/``-separated) to their entries."""

    packflow_version: str
    python_version: str
    metadata: dict[str, Any]
    runtime: dict[str, Any]
    files: dict[str, FileEntry] = field(default_factory=dict)
    wheels: dict[str, Any] | None = None
    format: int = MANIFEST_FORMAT

    def to_json(self) -> bytes:
        """Canonical JSON (sorted keys, fixed indent), so equal manifests are equal bytes."""
        data = {
            "format": self.format,
            "packflow_version": self.packflow_version,
            "python_version": self.python_version,
            "metadata": self.metadata,
            "runtime": self.runtime,
            "wheels": self.wheels,
            "files": {name: {"sha256": e.sha256, "size": e.size} for name, e in sorted(self.files.items())},
        }
        return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse manifest bytes, raising ``ArchiveError`` that says what is malformed."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ArchiveError(f"{MANIFEST_NAME} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise ArchiveError(f"{MANIFEST_NAME} must be a JSON object with a 'files' mapping.")
        if data.get("format") != MANIFEST_FORMAT:
            raise ArchiveError(
                f"{MANIFEST_NAME} has format {data.get('format')!r}; this packflow reads format {MANIFEST_FORMAT}. "
                "Upgrade packflow or re-export the archive."
            )
        return cls(
            packflow_version=str(data.get("packflow_version", "unknown")),
            python_version=str(data.get("python_version", "unknown")),
            metadata=dict(data.get("metadata") or {}),
            runtime=dict(data.get("runtime") or {}),
            files={name: _entry(name, value) for name, value in data["files"].items()},
            wheels=data.get("wheels"),
        )


def _entry(name: str, value: Any) -> FileEntry:
    ok = (
        isinstance(value, dict)
        and isinstance(value.get("sha256"), str)
        and len(value["sha256"]) == 64
        and isinstance(value.get("size"), int)
        and value["size"] >= 0
    )
    if not ok:
        raise ArchiveError(f"{MANIFEST_NAME}: entry {name!r} must be {{'sha256': <64 hex chars>, 'size': <bytes>}}.")
    return FileEntry(sha256=value["sha256"].lower(), size=value["size"])


def hash_stream(stream: IO[bytes]) -> FileEntry:
    """SHA-256 and byte count of everything left in ``stream``."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return FileEntry(digest.hexdigest(), size)


def hash_file(path: Path) -> FileEntry:
    """SHA-256 and size of the file at ``path``."""
    with path.open("rb") as stream:
        return hash_stream(stream)
