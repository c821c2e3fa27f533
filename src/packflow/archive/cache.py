"""Extract a verified archive into a cache directory keyed by the archive's SHA-256, atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from packflow.archive.manifest import FileEntry, Manifest, hash_file
from packflow.archive.safety import ArchiveLimits
from packflow.archive.verify import check_structure, mismatch, open_archive
from packflow.constants import MANIFEST_NAME
from packflow.exceptions import ArchiveError
from packflow.logger import get_logger

__all__ = ["CACHE_DIR_ENV", "archive_cache_dir", "extract_verified"]

#: Root of packflow's cache; archives are extracted into ``$PACKFLOW_CACHE_DIR/archives/<sha256>``.
CACHE_DIR_ENV = "PACKFLOW_CACHE_DIR"
_logger = get_logger("archive")


def archive_cache_dir() -> Path:
    """``$PACKFLOW_CACHE_DIR/archives``, else ``$XDG_CACHE_HOME/packflow/archives`` (``~/.cache`` by default)."""
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        return Path(root).expanduser() / "archives"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "packflow" / "archives"


def extract_verified(
    archive_path: Path, *, limits: ArchiveLimits | None = None, cache_dir: Path | None = None
) -> Path:
    """Verify ``archive_path`` and return the project root it is extracted to (reused if cached).

    Safety and the manifest listing are checked before any byte is written; each file's hash is
    checked as it is extracted into a private temporary directory, which is renamed into place
    only when everything matched, so concurrent loaders never see a partial extraction.
    """
    limits = limits or ArchiveLimits.from_env()
    root = Path(cache_dir) if cache_dir is not None else archive_cache_dir()
    with open_archive(Path(archive_path)) as (archive, sha):
        final = root / sha
        if final.is_dir():
            if _intact(final):
                return final
            shutil.rmtree(final, ignore_errors=True)
        problems, manifest = check_structure(archive, limits)
        if problems or manifest is None:
            raise ArchiveError(f"Refusing archive {str(archive_path)!r}: " + "; ".join(problems))
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:16]}.", suffix=".tmp", dir=root))
        try:
            _extract_all(archive, manifest, tmp, str(archive_path))
            _publish(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _extract_all(archive: zipfile.ZipFile, manifest: Manifest, dest: Path, label: str) -> None:
    for name, expected in sorted(manifest.files.items()):
        actual = _extract_one(archive, name, dest)
        problems = mismatch(name, expected, actual)
        if problems:
            raise ArchiveError(f"Refusing archive {label!r}: {problems[0]}")
    (dest / MANIFEST_NAME).write_bytes(archive.read(MANIFEST_NAME))


def _extract_one(archive: zipfile.ZipFile, name: str, dest: Path) -> FileEntry:
    import hashlib

    target = dest.joinpath(*name.split("/"))
    if not target.resolve().is_relative_to(dest.resolve()):
        raise ArchiveError(f"entry {name!r} would be written outside the extraction directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with archive.open(name) as src, target.open("xb") as out:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    os.chmod(target, 0o644)
    return FileEntry(digest.hexdigest(), size)


def _publish(tmp: Path, final: Path) -> None:
    os.chmod(tmp, 0o755)
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():  # another process did not win the race: a real failure
            raise
        # another loader published the same archive first; its copy is identical


def _intact(root: Path) -> bool:
    """Whether a cached extraction still matches its manifest (project files only; wheels are skipped)."""
    try:
        manifest = Manifest.from_json((root / MANIFEST_NAME).read_bytes())
        for name, expected in manifest.files.items():
            if name.startswith("wheels/"):
                continue
            if mismatch(name, expected, hash_file(root.joinpath(*name.split("/")))):
                raise ArchiveError(f"cached file {name!r} changed")
    except (OSError, ArchiveError) as exc:
        _logger.warning("Cached extraction %s is damaged (%s); extracting again.", root, exc)
        return False
    return True
