"""Exported archives: a reproducible zip with a manifest of hashes, verified before use.

``write_archive`` makes one, ``verify_archive`` checks one, ``extract_verified`` unpacks a verified
archive into a private cache (re-checked on every load), ``install_archive`` installs its bundled
wheels offline, and ``generate_key`` / ``sign_manifest`` / ``trust_policy`` sign and check archives.
"""

from __future__ import annotations

from packflow.archive.cache import CACHE_DIR_ENV, archive_cache_dir, extract_verified
from packflow.archive.install import install_archive
from packflow.archive.manifest import FileEntry, Manifest, hash_file
from packflow.archive.safety import ArchiveLimits
from packflow.archive.signing import SIGNATURE_NAME, TRUSTED_KEYS_ENV, generate_key, sign_manifest, trust_policy
from packflow.archive.verify import VerifyReport, verify_archive
from packflow.archive.writer import write_archive

__all__ = [
    "ArchiveLimits",
    "CACHE_DIR_ENV",
    "FileEntry",
    "SIGNATURE_NAME",
    "TRUSTED_KEYS_ENV",
    "Manifest",
    "VerifyReport",
    "archive_cache_dir",
    "extract_verified",
    "generate_key",
    "hash_file",
    "install_archive",
    "sign_manifest",
    "trust_policy",
    "verify_archive",
    "write_archive",
]
