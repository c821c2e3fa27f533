"""Verify an archive against its manifest: safety first, then the signature, then every file's hash."""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from packflow.archive.manifest import FileEntry, Manifest, hash_stream
from packflow.archive.safety import ArchiveLimits, entry_problems
from packflow.archive.signing import SIGNATURE_NAME, Signature, TrustedKeys, check_signature, trust_policy
from packflow.constants import MANIFEST_NAME
from packflow.exceptions import ArchiveError

__all__ = ["Listing", "VerifyReport", "check_structure", "open_archive", "read_entry", "verify_archive"]

#: Entries packflow writes that the manifest does not list (the manifest itself and its signature).
UNLISTED_NAMES = frozenset({MANIFEST_NAME, SIGNATURE_NAME})
_MAX_MANIFEST_BYTES = 32 << 20


@dataclass(frozen=True)
class Listing:
    """What the central directory and the manifest say, read before any file's content."""

    manifest: Manifest
    manifest_raw: bytes
    signature: Signature | None
    trusted: bool

    @property
    def digest(self) -> str:
        """SHA-256 of the manifest bytes: names the archive's content (the cache key)."""
        return hashlib.sha256(self.manifest_raw).hexdigest()


@dataclass
class VerifyReport:
    """The outcome of :func:`verify_archive`; ``ok`` only when ``problems`` is empty."""

    archive: Path
    sha256: str
    manifest: Manifest | None = None
    problems: list[str] = field(default_factory=list)
    checked: int = 0
    signature: Signature | None = None
    #: True when a trust policy was set and the signature passed it.
    trusted: bool = False

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
def open_archive(path: Path, *, digest: bool = True) -> Iterator[tuple[zipfile.ZipFile, str]]:
    """Open ``path`` once: yield the zip and the SHA-256 of the very bytes it reads ('' without ``digest``)."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise ArchiveError(f"Cannot open archive {str(path)!r}: {exc.strerror or exc}.") from exc
    with stream:
        sha = _sha256(stream) if digest else ""
        stream.seek(0)
        try:
            archive = zipfile.ZipFile(stream)
        except Exception as exc:  # noqa: BLE001 - any parse failure of untrusted bytes is a refusal
            raise ArchiveError(f"{str(path)!r} is not a zip archive ({type(exc).__name__}: {exc}); "
                               "give a file made by 'packflow export'.") from exc
        with archive:
            yield archive, sha


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def read_entry(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """The bytes of a small entry, refusing one above ``limit`` or one that cannot be decompressed."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise ArchiveError(f"entry {name!r} is {info.file_size} bytes, more than the {limit} allowed for it")
    try:
        return archive.read(info)
    except Exception as exc:  # noqa: BLE001 - zlib.error, BadZipFile, EOFError, …: all mean corrupt
        raise ArchiveError(f"entry {name!r} is corrupt: {type(exc).__name__}: {exc}") from exc


def verify_archive(
    path: str | Path, limits: ArchiveLimits | None = None, *, trusted_keys: Iterable[str | Path] | None = None
) -> VerifyReport:
    """Check an archive's safety, its signature (under a trust policy), then every file's size and hash."""
    path = Path(path)
    policy = trust_policy(trusted_keys)
    with open_archive(path) as (archive, sha):
        report = VerifyReport(path, sha)
        problems, listing = check_structure(archive, limits or ArchiveLimits.from_env(), policy)
        report.problems = problems
        if listing is None:
            return report
        report.manifest, report.signature, report.trusted = listing.manifest, listing.signature, listing.trusted
        if problems:
            return report
        for name, expected in sorted(listing.manifest.files.items()):
            report.problems += content_problems(archive, name, expected)
            report.checked += 1
    return report


def check_structure(
    archive: zipfile.ZipFile, limits: ArchiveLimits, policy: TrustedKeys | None = None
) -> tuple[list[str], Listing | None]:
    """Safety, signature and listing problems (nothing but the directory, manifest and signature is read)."""
    infos = archive.infolist()
    problems = entry_problems(infos, limits)
    if problems:
        return problems, None
    names = {i.filename for i in infos}
    if MANIFEST_NAME not in names:
        return [f"archive has no {MANIFEST_NAME}; it was not made by 'packflow export'"], None
    try:
        raw = read_entry(archive, MANIFEST_NAME, _MAX_MANIFEST_BYTES)
        manifest = Manifest.from_json(raw)
        signature_raw = read_entry(archive, SIGNATURE_NAME, 1 << 16) if SIGNATURE_NAME in names else None
        signature = check_signature(signature_raw, raw, policy)
    except ArchiveError as exc:
        return [str(exc)], None
    listing = Listing(manifest, raw, signature, trusted=policy is not None)
    present = {i.filename for i in infos if not i.is_dir()} - UNLISTED_NAMES
    problems += [f"entry {n!r} is listed in the manifest but missing from the archive" for n in sorted(set(manifest.files) - present)]
    problems += [f"entry {n!r} is in the archive but not in the manifest (added after export?)" for n in sorted(present - set(manifest.files))]
    return problems, listing


def content_problems(archive: zipfile.ZipFile, name: str, expected: FileEntry) -> list[str]:
    """Problems with one entry's bytes: size or SHA-256 differing from the manifest, or corruption."""
    try:
        with archive.open(name) as stream:
            actual = hash_stream(stream)
    except Exception as exc:  # noqa: BLE001 - zlib.error, BadZipFile, EOFError, …: all mean corrupt
        return [f"entry {name!r} is corrupt: {type(exc).__name__}: {exc}"]
    return mismatch(name, expected, actual)


def mismatch(name: str, expected: FileEntry, actual: FileEntry) -> list[str]:
    """A message naming ``name`` when ``actual`` differs from ``expected``."""
    if actual.size != expected.size:
        return [f"entry {name!r} has {actual.size} bytes, the manifest says {expected.size} (tampered or corrupt)"]
    if actual.sha256 != expected.sha256:
        return [f"entry {name!r} has sha256 {actual.sha256[:16]}…, the manifest says {expected.sha256[:16]}… (tampered or corrupt)"]
    return []
