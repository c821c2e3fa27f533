"""Hypothesis-generated hostile archives (2,400 cases over four strategies): every one is refused with
``ArchiveError`` or extracts to exactly the manifest's files, byte for byte, and nothing lands outside the cache."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from packflow.archive import ArchiveLimits, Manifest, extract_verified
from packflow.exceptions import ArchiveError

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name:UserWarning")
CASES = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = ArchiveLimits(max_files=64, max_total_bytes=1 << 22, max_ratio=500)
BASE = {
    "packflow.yaml": b"name: evil\nversion: 0.1.0\ninference_backend: inference:Backend\n",
    "requirements.txt": b"packflow\n",
    "inference.py": b"from packflow import InferenceBackend\nclass Backend(InferenceBackend):\n    pass\n" * 3,
}
MODES = [0o100644, 0o100755, 0o040755, 0o120777, 0o010644, 0o060644, 0, 0o104755]
SEGMENTS = ["a", "inference.py", "sub", "..", ".", "", "C:", "x\\y", "/", "packflow-manifest.json",
            "packflow-signature.json", "A", "colorsys.py", "é", "\x00", "\n", "d" * 256, "__pycache__", "wheels"]


def _manifest(files: dict[str, bytes], overrides: dict | None = None) -> bytes:
    entries = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in files.items()}
    data = {"format": 1, "packflow_version": "0.5.0", "python_version": "3.11", "metadata": {}, "runtime": {},
            "wheels": None, "files": entries, **(overrides or {})}
    return json.dumps(data).encode()


def _zip(entries: list[tuple[str, bytes, int, int]], manifest: bytes | None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data, mode, method in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system, info.external_attr, info.compress_type = 3, mode << 16, method
            zf.writestr(info, data)
        if manifest is not None:
            zf.writestr("packflow-manifest.json", manifest)
    return buffer.getvalue()


def _check(raw: bytes) -> None:
    """The property: a refusal, or exactly the manifest's files; never anything outside the cache."""
    with tempfile.TemporaryDirectory() as sandbox:
        base = Path(sandbox)
        archive, cache = base / "in" / "a.zip", base / "in" / "cache"
        archive.parent.mkdir()
        archive.write_bytes(raw)
        try:
            root = extract_verified(archive, cache_dir=cache, limits=LIMITS)
        except ArchiveError as exc:
            event(f"refused: {str(exc).split(': ', 1)[-1][:28]}")
            root = None
        assert sorted(p.name for p in base.iterdir()) == ["in"]
        assert sorted(p.name for p in archive.parent.iterdir()) in (["a.zip"], ["a.zip", "cache"])
        if root is not None:
            event("extracted exactly the manifest's files")
            _assert_exact(root, raw)
        for dirpath, _, _ in os.walk(cache):
            os.chmod(dirpath, 0o700)  # extracted trees are read-only; let the sandbox be removed


def _assert_exact(root: Path, raw: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        manifest = Manifest.from_json(zf.read("packflow-manifest.json"))
    found = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    assert found.pop("packflow-manifest.json", None) is not None
    assert set(found) == set(manifest.files)
    for name, path in found.items():
        assert not path.is_symlink() and path.resolve().is_relative_to(root.resolve())
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest.files[name].sha256 and len(data) == manifest.files[name].size


names = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4).map("/".join) | st.text(min_size=0, max_size=40)
entries = st.lists(
    st.tuples(names, st.binary(max_size=300) | st.just(b"\0" * 70_000), st.sampled_from(MODES),
              st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])),
    max_size=8,
)


@CASES
@given(entries, st.sampled_from(["exact", "subset", "superset", "wrong-hash", "wrong-size", "none"]))
def test_generated_entries_and_listings(extra: list, listing: str) -> None:
    all_entries = [(n, d, 0o100644, zipfile.ZIP_DEFLATED) for n, d in BASE.items()] + extra
    files = {n: d for n, d, mode, _ in all_entries}
    if listing == "subset":
        files = dict(list(files.items())[: max(1, len(files) - 2)])
    elif listing == "superset":
        files = {**files, "ghost.py": b"x"}
    manifest = _manifest(files)
    if listing in ("wrong-hash", "wrong-size"):
        data = json.loads(manifest)
        victim = next(iter(data["files"]))
        key, value = ("sha256", "0" * 64) if listing == "wrong-hash" else ("size", 1)
        data["files"][victim][key] = value
        manifest = json.dumps(data).encode()
    _check(_zip(all_entries, None if listing == "none" else manifest))


VALID = _zip([(n, d, 0o100644, zipfile.ZIP_DEFLATED) for n, d in BASE.items()], _manifest(BASE))


@CASES
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=6),
       st.integers(0, len(VALID)))
def test_byte_level_corruption(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID)
    for position, value in flips:
        data[position] = value
    _check(bytes(data[: max(cut, len(data) - 64)]) if cut % 3 == 0 else bytes(data))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@CASES
@given(st.dictionaries(st.sampled_from(["format", "files", "metadata", "runtime", "wheels", "packflow_version",
                                        "python_version"]), json_values, max_size=7),
       st.dictionaries(st.sampled_from(list(BASE) + ["x.py", "../x.py"]),
                       json_values | st.fixed_dictionaries({"sha256": st.text(max_size=70), "size": json_values}),
                       max_size=4))
def test_generated_manifest_fields(overrides: dict, file_entries: dict) -> None:
    manifest = _manifest(BASE, overrides)
    data = json.loads(manifest)
    if isinstance(data.get("files"), dict):
        data["files"].update(file_entries)
    _check(_zip([(n, d, 0o100644, zipfile.ZIP_DEFLATED) for n, d in BASE.items()], json.dumps(data).encode()))


@CASES
@given(st.lists(st.tuples(names, st.sampled_from(MODES)), min_size=1, max_size=6), st.booleans())
def test_generated_names_listed_consistently(named: list[tuple[str, int]], deep_manifest: bool) -> None:
    """Names an attacker lists in a manifest with correct hashes: still confined, or refused."""
    extra = [(name, name.encode("utf-8", "surrogatepass")[:50], mode, zipfile.ZIP_DEFLATED) for name, mode in named]
    all_entries = [(n, d, 0o100644, zipfile.ZIP_DEFLATED) for n, d in BASE.items()] + extra
    manifest = b"[" * 5000 + b"]" * 5000 if deep_manifest and len(named) == 1 else _manifest({n: d for n, d, _, _ in all_entries})
    _check(_zip(all_entries, manifest))
