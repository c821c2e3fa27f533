"""Who built an archive and what it holds, in words: for ``packflow verify -v``."""

from __future__ import annotations

import zipfile
from pathlib import Path

from packflow.archive.sbom import SBOM_NAME, summarize_sbom
from packflow.archive.verify import VerifyReport, read_entry
from packflow.exceptions import ArchiveError

__all__ = ["describe_signer", "sbom_summary"]


def describe_signer(report: VerifyReport) -> str:
    """``key ed25519:… at 2026-…, trusted`` / ``…, not checked`` / ``unsigned``."""
    sig = report.signature
    if sig is None:
        return "unsigned"
    state = "signature valid, key trusted" if report.trusted else "not checked (give --trusted-key to check it)"
    return f"key {sig.key_id}, exported {sig.exported_at} — {state}"


def sbom_summary(archive: Path, report: VerifyReport) -> str:
    """A one-line summary of the archive's CycloneDX SBOM, or why there is none."""
    if report.manifest is None or SBOM_NAME not in report.manifest.files:
        return "none (export with --with-wheels to include one)"
    if not report.ok:
        return "not read (the archive failed verification)"
    try:
        with zipfile.ZipFile(archive) as zf:
            return summarize_sbom(read_entry(zf, SBOM_NAME, 64 << 20))
    except (OSError, zipfile.BadZipFile, ArchiveError) as exc:
        return f"unreadable ({exc})"
