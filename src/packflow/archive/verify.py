"""Verify an archive against its manifest: safety first, then every file's size and SHA-256."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from packflow.archive.manifest import FileEntry, Manifest, hash_stream
from packflow.archive.safety import ArchiveLimits, entry_problems
from packflow.constants import MANIFEST_NAME
from packflow.exceptions import ArchiveError

__all__ = ["VerifyReport", "open_archive", "verify_archive"]


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_archive`; ``ok`` only when ``problems`` is empty."""

    archive: Path
    sha256: str
    manifest: Manifest | None = None
    problems: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        """True when the archive is safe and matches its manifest exactly."""
        return not self.problems and self.manifest is not None

    def raise_for_problems(self) -> None:
        """Raise ``ArchiveError`` listing every problem, if there is any."""
        if not self.ok:
            listing = "\n".join(f"  - {p}" for p in self.problems)
            raise ArchiveError(f"Archive {self.archive} failed verification ({len(self.problems)} problem(s)):\n{listing}")


@contextmanager
def open_archive(path: Path) -> Iterator[tuple[zipfile.ZipFile, str]]:
    """Open ``path`` once: yield the zip and the SHA-256 of the very bytes it reads."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise ArchiveError(f"Cannot open archive {str(path)!r}: {exc.strerror or exc}.") from exc
    with stream:
        sha = _sha256(stream)
        stream.seek(0)
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveError(f"{str(path)!r} is not a zip archive ({exc}); give a file made by 'packflow export'.") from exc
        with archive:
            yield archive, sha


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def verify_archive(path: str | Path, limits: ArchiveLimits | None = None) -> VerifyReport:
    """Check an archive's safety, then that its files and the manifest agree exactly."""
    path = Path(path)
    with open_archive(path) as (archive, sha):
        report = VerifyReport(path, sha)
        report.problems, report.manifest = check_structure(archive, limits or ArchiveLimits.from_env())
        if report.manifest is None or report.problems:
            return report
        for name, expected in sorted(report.manifest.files.items()):
            report.problems += content_problems(archive, name, expected)
            report.checked += 1
    return report


def check_structure(archive: zipfile.ZipFile, limits: ArchiveLimits) -> tuple[list[str], Manifest | None]:
    """Safety and listing problems (nothing but the central directory and the manifest is read)."""
    infos = archive.infolist()
    problems = entry_problems(infos, limits)
    if problems:
        return problems, None
    try:
        manifest = Manifest.from_json(archive.read(MANIFEST_NAME))
    except KeyError:
        return [f"archive has no {MANIFEST_NAME}; it was not made by 'packflow export'"], None
    except (ArchiveError, zipfile.BadZipFile) as exc:
        return [str(exc)], None
    present = {i.filename for i in infos if not i.is_dir()} - {MANIFEST_NAME}
    problems += [f"entry {n!r} is listed in the manifest but missing from the archive" for n in sorted(set(manifest.files) - present)]
    problems += [f"entry {n!r} is in the archive but not in the manifest (added after export?)" for n in sorted(present - set(manifest.files))]
    return problems, manifest


def content_problems(archive: zipfile.ZipFile, name: str, expected: FileEntry) -> list[str]:
    """Problems with one entry's bytes: size or SHA-256 differing from the manifest, or corruption."""
    try:
        with archive.open(name) as stream:
            actual = hash_stream(stream)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return [f"entry {name!r} is corrupt: {exc}"]
    return mismatch(name, expected, actual)


def mismatch(name: str, expected: FileEntry, actual: FileEntry) -> list[str]:
    """A message naming ``name`` when ``actual`` differs from ``expected``."""
    if actual.size != expected.size:
        return [f"entry {name!r} has {actual.size} bytes, the manifest says {expected.size} (tampered or corrupt)"]
    if actual.sha256 != expected.sha256:
        return [f"entry {name!r} has sha256 {actual.sha256[:16]}…, the manifest says {expected.sha256[:16]}… (tampered or corrupt)"]
    return []
