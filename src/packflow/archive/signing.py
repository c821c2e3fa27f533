"""Ed25519 signatures over an archive's manifest, and the trust policy that checks them.

The signature is detached: ``packflow-signature.json`` sits next to the manifest inside the zip
and signs a small canonical payload — the manifest's SHA-256, the signer's key id and the export
time. Every file is bound to the signature through its hash in the manifest. The primitives come
from ``cryptography`` (extra ``packflow[sign]``); nothing here is hand-written cryptography.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from packflow.exceptions import ArchiveError

__all__ = [
    "SIGNATURE_NAME",
    "TRUSTED_KEYS_ENV",
    "Signature",
    "TrustedKeys",
    "check_signature",
    "generate_key",
    "load_trusted_keys",
    "parse_signature",
    "sign_manifest",
    "trust_policy",
]

#: The signature entry inside a signed archive (not listed in the manifest: it signs the manifest).
SIGNATURE_NAME = "packflow-signature.json"
#: Files or directories of trusted public keys (``os.pathsep``-separated); setting it makes signing policy.
TRUSTED_KEYS_ENV = "PACKFLOW_TRUSTED_KEYS"
_ALGORITHM = "ed25519"
_MAX_SIGNATURE_BYTES = 4096


def _crypto() -> Any:
    """``cryptography``'s Ed25519, serialization and exceptions modules, or an error naming the extra."""
    try:
        from cryptography import exceptions
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:
        raise ArchiveError(
            "Signing and signature checks need the 'cryptography' package: pip install 'packflow[sign]' "
            "(offline: export with --with-wheels --extras sign)."
        ) from exc
    return SimpleNamespace(ed25519=ed25519, serialization=serialization, InvalidSignature=exceptions.InvalidSignature)


@dataclass(frozen=True)
class Signature:
    """A parsed ``packflow-signature.json``: who signed which manifest digest, and when."""

    key_id: str
    manifest_sha256: str
    exported_at: str
    value: bytes

    def payload(self) -> bytes:
        """The canonical bytes the signature is over."""
        return _payload(self.key_id, self.manifest_sha256, self.exported_at)


@dataclass(frozen=True)
class TrustedKeys:
    """Public keys by key id, and the files or directories they were read from."""

    keys: dict[str, Any]
    sources: tuple[str, ...]

    def describe(self) -> str:
        """``N trusted key(s) from a, b`` for messages."""
        return f"{len(self.keys)} trusted key(s) from {', '.join(self.sources)}"


def _payload(key_id: str, manifest_sha256: str, exported_at: str) -> bytes:
    data = {"algorithm": _ALGORITHM, "exported_at": exported_at, "key_id": key_id, "manifest_sha256": manifest_sha256}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _key_id(public_key: Any) -> str:
    serialization = _crypto().serialization
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{_ALGORITHM}:{hashlib.sha256(raw).hexdigest()[:32]}"


def generate_key(key_file: str | Path) -> tuple[Path, Path, str]:
    """Write a new Ed25519 private key (mode 0600) and ``KEYFILE.pub``; return both paths and the key id."""
    crypto = _crypto()
    serialization = crypto.serialization
    private_path = Path(key_file)
    public_path = Path(f"{private_path}.pub")
    for path in (private_path, public_path):
        if path.exists():
            raise ArchiveError(f"{str(path)!r} already exists; choose another KEYFILE or remove it first.")
    key = crypto.ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write_private(private_path, pem)
    public = key.public_key()
    public_path.write_bytes(public.public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path, _key_id(public)


def _write_private(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ArchiveError(f"Cannot create key file {str(path)!r}: {exc.strerror or exc}.") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)


def sign_manifest(manifest_raw: bytes, key_file: str | Path, exported_at: str | None = None) -> bytes:
    """The ``packflow-signature.json`` bytes for ``manifest_raw``, signed with the private key in ``key_file``."""
    key = _load_private(Path(key_file))
    when = exported_at or datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    key_id = _key_id(key.public_key())
    digest = hashlib.sha256(manifest_raw).hexdigest()
    value = key.sign(_payload(key_id, digest, when))
    data = {"algorithm": _ALGORITHM, "key_id": key_id, "manifest_sha256": digest, "exported_at": when,
            "signature": base64.b64encode(value).decode("ascii")}
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _load_private(path: Path) -> Any:
    crypto = _crypto()
    try:
        key = crypto.serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise ArchiveError(f"Cannot read signing key {str(path)!r}: {exc.strerror or exc}.") from exc
    except (ValueError, TypeError) as exc:
        raise ArchiveError(f"{str(path)!r} is not an unencrypted PEM private key; make one with 'packflow keygen'.") from exc
    if not isinstance(key, crypto.ed25519.Ed25519PrivateKey):
        raise ArchiveError(f"{str(path)!r} is not an Ed25519 key; make one with 'packflow keygen'.")
    return key


def parse_signature(raw: bytes) -> Signature:
    """Parse ``packflow-signature.json``, raising ``ArchiveError`` naming what is malformed."""
    if len(raw) > _MAX_SIGNATURE_BYTES:
        raise ArchiveError(f"{SIGNATURE_NAME} is {len(raw)} bytes; a packflow signature is under {_MAX_SIGNATURE_BYTES}.")
    try:
        data = json.loads(raw.decode("utf-8"))
        fields = [data[k] for k in ("algorithm", "key_id", "manifest_sha256", "exported_at", "signature")]
        if not all(isinstance(f, str) for f in fields) or fields[0] != _ALGORITHM:
            raise ValueError("fields must be strings and algorithm 'ed25519'")
        value = base64.b64decode(fields[4], validate=True)
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error) as exc:
        raise ArchiveError(f"{SIGNATURE_NAME} is malformed ({type(exc).__name__}: {exc}); re-export and sign the archive.") from exc
    return Signature(key_id=fields[1], manifest_sha256=fields[2], exported_at=fields[3], value=value)


def load_trusted_keys(paths: Iterable[str | Path]) -> TrustedKeys:
    """Read public keys from files, and from every ``*.pub`` file in directories."""
    keys: dict[str, Any] = {}
    sources: list[str] = []
    for entry in paths:
        path = Path(entry).expanduser()
        files = sorted(path.glob("*.pub")) if path.is_dir() else [path]
        if path.is_dir() and not files:
            raise ArchiveError(f"Trusted-key directory {str(path)!r} holds no *.pub files.")
        for file in files:
            public = _load_public(file)
            keys[_key_id(public)] = public
        sources.append(str(path))
    return TrustedKeys(keys, tuple(sources))


def _load_public(path: Path) -> Any:
    crypto = _crypto()
    try:
        key = crypto.serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ArchiveError(f"Cannot read trusted key {str(path)!r}: {exc.strerror or exc}.") from exc
    except (ValueError, TypeError) as exc:
        raise ArchiveError(f"Trusted key {str(path)!r} is not a PEM public key; give the KEYFILE.pub 'packflow keygen' wrote.") from exc
    if not isinstance(key, crypto.ed25519.Ed25519PublicKey):
        raise ArchiveError(f"Trusted key {str(path)!r} is not an Ed25519 key.")
    return key


def trust_policy(trusted_keys: Iterable[str | Path] | None = None) -> TrustedKeys | None:
    """The keys given plus those ``$PACKFLOW_TRUSTED_KEYS`` names; None when neither names any (no policy)."""
    paths = [str(p) for p in (trusted_keys or ())]
    paths += [p for p in os.environ.get(TRUSTED_KEYS_ENV, "").split(os.pathsep) if p.strip()]
    return load_trusted_keys(dict.fromkeys(paths)) if paths else None


def check_signature(raw: bytes | None, manifest_raw: bytes, policy: TrustedKeys | None) -> Signature | None:
    """The archive's signature, checked against ``policy``; raises ``ArchiveError`` saying why it is refused.

    Without a policy a signature is parsed (for reports) but not trusted, and an unsigned archive passes.
    """
    if raw is None:
        if policy is not None:
            raise ArchiveError(f"archive is unsigned, but a trust policy is set ({policy.describe()}); "
                               "export it with 'packflow export --sign KEYFILE'")
        return None
    signature = parse_signature(raw)
    if policy is None:
        return signature
    key = policy.keys.get(signature.key_id)
    if key is None:
        raise ArchiveError(f"archive is signed by unknown key {signature.key_id} (not among the {policy.describe()})")
    _verify(key, signature, manifest_raw)
    return signature


def _verify(key: Any, signature: Signature, manifest_raw: bytes) -> None:
    if hashlib.sha256(manifest_raw).hexdigest() != signature.manifest_sha256:
        raise ArchiveError(f"bad signature: key {signature.key_id} signed a different manifest "
                           "(the manifest was rewritten after signing)")
    try:
        key.verify(signature.value, signature.payload())
    except _crypto().InvalidSignature as exc:
        raise ArchiveError(f"bad signature: the signature by key {signature.key_id} does not match its "
                           "payload (tampered with)") from exc
