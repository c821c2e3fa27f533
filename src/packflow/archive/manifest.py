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
        data = _load_object(raw)
        if data.get("format") != MANIFEST_FORMAT:
            raise ArchiveError(
                f"{MANIFEST_NAME} has format {data.get('format')!r}; this packflow reads format {MANIFEST_FORMAT}. "
                "Upgrade packflow or re-export the archive."
            )
        return cls(
            packflow_version=_field(data, "packflow_version", str, "unknown"),
            python_version=_field(data, "python_version", str, "unknown"),
            metadata=_field(data, "metadata", dict, {}),
            runtime=_field(data, "runtime", dict, {}),
            files={name: _entry(name, value) for name, value in _field(data, "files", dict, None, required=True).items()},
            wheels=_field(data, "wheels", (dict, type(None)), None),
        )


def _load_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"{MANIFEST_NAME} is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ArchiveError(f"{MANIFEST_NAME} is nested too deeply to be a packflow manifest.") from exc
    if not isinstance(data, dict):
        raise ArchiveError(f"{MANIFEST_NAME} must be a JSON object with a 'files' mapping, not {type(data).__name__}.")
    return data


def _field(data: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any, required: bool = False) -> Any:
    if key not in data:
        if required:
            raise ArchiveError(f"{MANIFEST_NAME} has no {key!r} field; it was not made by 'packflow export'.")
        return default
    value = data[key]
    if not isinstance(value, kind):
        raise ArchiveError(f"{MANIFEST_NAME}: field {key!r} must be {_kind_name(kind)}, got {type(value).__name__}.")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {dict: "an object", str: "a string", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_HEX = frozenset("0123456789abcdef")


def _entry(name: str, value: Any) -> FileEntry:
    ok = (
        isinstance(value, dict)
        and isinstance(value.get("sha256"), str)
        and len(value["sha256"]) == 64
        and set(value["sha256"].lower()) <= _HEX
        and type(value.get("size")) is int
        and value["size"] >= 0
    )
    if not ok:
        raise ArchiveError(f"{MANIFEST_NAME}: entry {name!r} must be {{'sha256': <64 hex chars>, 'size': <bytes>}}.")
    return FileEntry(sha256=value["sha256"].lower(), size=value["size"])


def hash_stream(stream: IO[bytes], sink: IO[bytes] | None = None) -> FileEntry:
    """SHA-256 and byte count of everything left in ``stream`` (copied to ``sink`` on the way, if given)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink.write(chunk)
    return FileEntry(digest.hexdigest(), size)


def hash_file(path: Path) -> FileEntry:
    """SHA-256 and size of the file at ``path``."""
    with path.open("rb") as stream:
        return hash_stream(stream)
