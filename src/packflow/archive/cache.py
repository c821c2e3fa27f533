"""Extract a verified archive into a private cache keyed by its manifest's SHA-256, atomically.

Every load reads the manifest (and signature) from the archive itself, never from the cache, and
checks the whole extracted tree against it (:mod:`packflow.archive.tree`); a tree that differs is
discarded and extracted again, so planted or changed files are never imported.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packflow.archive.manifest import FileEntry, hash_stream
from packflow.archive.safety import ArchiveLimits
from packflow.archive.signing import trust_policy
from packflow.archive.tree import check_private_dir, tree_problems
from packflow.archive.verify import Listing, check_structure, mismatch, open_archive
from packflow.constants import MANIFEST_NAME
from packflow.exceptions import ArchiveError
from packflow.logger import get_logger

__all__ = ["CACHE_DIR_ENV", "archive_cache_dir", "extract_verified"]

#: Root of packflow's cache; archives are extracted into ``$PACKFLOW_CACHE_DIR/archives/<digest>``.
CACHE_DIR_ENV = "PACKFLOW_CACHE_DIR"
_logger = get_logger("archive")


def archive_cache_dir() -> Path:
    """``$PACKFLOW_CACHE_DIR/archives``, else ``$XDG_CACHE_HOME/packflow/archives``, as an absolute path.

    A relative ``PACKFLOW_CACHE_DIR`` is resolved against the working directory here, once, so
    later steps that run elsewhere (pip in the extracted tree) see the same directory.
    """
    root = os.environ.get(CACHE_DIR_ENV)
    if root:
        return Path(os.path.abspath(Path(root).expanduser() / "archives"))
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.path.abspath(Path(xdg) / "packflow" / "archives"))


def extract_verified(
    archive_path: str | Path, *, limits: ArchiveLimits | None = None, cache_dir: Path | None = None,
    trusted_keys: Iterable[str | Path] | None = None,
) -> Path:
    """Verify ``archive_path`` and return the project root it is extracted to (reused if still intact).

    Safety, the signature (under a trust policy: ``trusted_keys`` or ``$PACKFLOW_TRUSTED_KEYS``) and
    the manifest listing are checked before any byte is written; each file's hash is checked as it
    is extracted into a private temporary directory, renamed into place only when all matched.
    """
    limits = limits or ArchiveLimits.from_env()
    policy = trust_policy(trusted_keys)
    label = str(archive_path)
    root = _private_root(Path(os.path.abspath(cache_dir)) if cache_dir is not None else archive_cache_dir())
    with open_archive(Path(archive_path), digest=False) as (archive, _):
        problems, listing = check_structure(archive, limits, policy)
        if problems or listing is None:
            raise ArchiveError(f"Refusing archive {label!r}: " + "; ".join(problems))
        final = root / listing.digest
        if _reusable(final, listing):
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{listing.digest[:16]}.", suffix=".tmp", dir=root))
        try:
            _extract_all(archive, listing, tmp, label)
            _publish(tmp, final, listing)
        finally:
            _discard(tmp)
    return final


def _private_root(root: Path) -> Path:
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ArchiveError(f"Cannot create the archive cache {str(root)!r}: {exc.strerror or exc}; set "
                           "PACKFLOW_CACHE_DIR to a directory you can write.") from exc
    check_private_dir(root, "Archive cache")
    return root


def _reusable(final: Path, listing: Listing) -> bool:
    if not os.path.lexists(final):
        return False
    problems = tree_problems(final, listing.manifest, listing.manifest_raw)
    if not problems:
        return True
    _logger.warning("Cached extraction %s was modified (%s); discarding it and extracting again.", final, problems[0])
    _discard(final)
    return False


def _extract_all(archive: zipfile.ZipFile, listing: Listing, dest: Path, label: str) -> None:
    for name, expected in sorted(listing.manifest.files.items()):
        problems = mismatch(name, expected, _extract_one(archive, name, dest))
        if problems:
            raise ArchiveError(f"Refusing archive {label!r}: {problems[0]}")
    (dest / MANIFEST_NAME).write_bytes(listing.manifest_raw)
    os.chmod(dest / MANIFEST_NAME, 0o644)


def _extract_one(archive: zipfile.ZipFile, name: str, dest: Path) -> FileEntry:
    target = dest.joinpath(*name.split("/"))
    if not target.resolve().is_relative_to(dest.resolve()):
        raise ArchiveError(f"entry {name!r} would be written outside the extraction directory")
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with archive.open(name) as src, target.open("xb") as out:
            actual = hash_stream(src, out)
    except OSError as exc:
        raise ArchiveError(f"entry {name!r} cannot be extracted: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - zlib.error, BadZipFile, EOFError, …: all mean corrupt
        raise ArchiveError(f"entry {name!r} is corrupt: {type(exc).__name__}: {exc}") from exc
    os.chmod(target, 0o644)
    return actual


def _publish(tmp: Path, final: Path, listing: Listing) -> None:
    try:
        os.rename(tmp, final)
        _set_dir_modes(final, 0o500)  # read-only: Python cannot drop __pycache__ files next to the code
    except OSError:
        if not final.is_dir():  # another process did not win the race: a real failure
            raise
        problems = tree_problems(final, listing.manifest, listing.manifest_raw)
        if problems:  # another loader published first; its copy must pass the same check
            raise ArchiveError(f"Cached extraction {str(final)!r} changed while loading: {problems[0]}") from None


def _discard(path: Path) -> None:
    """Remove a tree without following symlinks; a renamed-aside copy keeps readers of ``path`` safe."""
    if not os.path.lexists(path):
        return
    aside = path.with_name(f".{path.name}.{os.getpid()}.discard")
    try:
        os.rename(path, aside)
    except OSError:
        aside = path
    if aside.is_symlink() or not aside.is_dir():
        aside.unlink(missing_ok=True)
        return
    _set_dir_modes(aside, 0o700)
    shutil.rmtree(aside, ignore_errors=True)


def _set_dir_modes(root: Path, mode: int) -> None:
    for dirpath, _, _ in os.walk(root, topdown=True):
        os.chmod(dirpath, mode)
