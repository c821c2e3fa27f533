"""Hostile archives are refused, with a message naming the entry, before anything is written."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from packflow.archive import ArchiveLimits, extract_verified, verify_archive
from packflow.archive.safety import entry_problems
from packflow.cli import cli
from packflow.exceptions import ArchiveError
from packflow.loaders.base import InferenceBackendLoader

REG = 0o100644
HOSTILE = {
    "zip-slip": ([("../evil.py", b"pwned", REG)], r"entry '\.\./evil\.py' escapes the archive root"),
    "nested zip-slip": ([("sub/../../evil.py", b"pwned", REG)], r"entry 'sub/\.\./\.\./evil\.py' escapes"),
    "absolute path": ([("/tmp/evil.py", b"pwned", REG)], r"entry '/tmp/evil\.py' has an absolute path"),
    "windows drive": ([("C:/evil.py", b"pwned", REG)], r"entry 'C:/evil\.py' has an absolute path"),
    "backslash": ([("..\\evil.py", b"pwned", REG)], r"contains a backslash"),
    "symlink": ([("link.py", b"/etc/passwd", 0o120777)], r"entry 'link\.py' is a symbolic link"),
    "device": ([("fifo", b"", 0o010644)], r"entry 'fifo' is not a regular file"),
    "duplicate": ([("inference.py", b"one", REG), ("inference.py", b"two", REG)], r"duplicate entry 'inference\.py'"),
}


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _assert_nothing_written(tmp_path: Path, before: set[Path], cache: Path) -> None:
    after = _tree(tmp_path)
    new = {p for p in after - before if not p.is_relative_to(cache)}
    assert new == set(), new
    assert not (tmp_path.parent / "evil.py").exists()
    leftovers = [p for p in cache.rglob("*") if p.is_file()]
    assert leftovers == [], leftovers


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_entries_refused(case: str, build_zip, good_entries, tmp_path: Path, private_cache: Path, monkeypatch) -> None:
    bad_entries, message = HOSTILE[case]
    with pytest.warns(UserWarning) if case == "duplicate" else _nullcontext():
        archive = build_zip(good_entries + bad_entries)
    monkeypatch.chdir(tmp_path / "incoming")
    before = _tree(tmp_path)
    report = verify_archive(archive)
    assert not report.ok and any(__import__("re").search(message, p) for p in report.problems), report.problems
    with pytest.raises(ArchiveError, match=message):
        extract_verified(archive)
    with pytest.raises(ArchiveError, match=message):
        InferenceBackendLoader.from_archive(archive)
    _assert_nothing_written(tmp_path, before, private_cache)


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_tampered_file(build_zip, good_entries, tmp_path: Path, private_cache: Path) -> None:
    listed = {n: d for n, d, _ in good_entries}
    entries = [(n, d + b"# injected\n" if n == "inference.py" else d, m) for n, d, m in good_entries]
    archive = build_zip(entries, manifest_files=listed)
    before = _tree(tmp_path)
    report = verify_archive(archive)
    assert report.problems == [f"entry 'inference.py' has {len(listed['inference.py']) + 11} bytes, the manifest says "
                               f"{len(listed['inference.py'])} (tampered or corrupt)"]
    with pytest.raises(ArchiveError, match="entry 'inference.py' has .* bytes, the manifest says"):
        extract_verified(archive)
    _assert_nothing_written(tmp_path, before, private_cache)


def test_same_size_tamper_is_caught_by_hash(build_zip, good_entries, tmp_path: Path, private_cache: Path) -> None:
    listed = {n: d for n, d, _ in good_entries}
    entries = [(n, d.replace(b"len(r)", b"99 + 0") if n == "inference.py" else d, m) for n, d, m in good_entries]
    archive = build_zip(entries, manifest_files=listed)
    before = _tree(tmp_path)
    with pytest.raises(ArchiveError, match="entry 'inference.py' has sha256 .*, the manifest says"):
        extract_verified(archive)
    _assert_nothing_written(tmp_path, before, private_cache)


def test_extra_and_missing_files(build_zip, good_entries, tmp_path: Path, private_cache: Path) -> None:
    listed = {n: d for n, d, _ in good_entries}
    extra = build_zip(good_entries + [("sitecustomize.py", b"import os", REG)], manifest_files=listed, name="extra.zip")
    missing = build_zip(good_entries[:-1], manifest_files=listed, name="missing.zip")
    before = _tree(tmp_path)
    assert verify_archive(extra).problems == ["entry 'sitecustomize.py' is in the archive but not in the manifest (added after export?)"]
    assert verify_archive(missing).problems == ["entry 'inference.py' is listed in the manifest but missing from the archive"]
    for archive, message in [(extra, "'sitecustomize.py' is in the archive but not in the manifest"),
                             (missing, "'inference.py' is listed in the manifest but missing")]:
        with pytest.raises(ArchiveError, match=message):
            extract_verified(archive)
    _assert_nothing_written(tmp_path, before, private_cache)


def test_zip_bomb_limits(build_zip, good_entries, tmp_path: Path, private_cache: Path) -> None:
    bomb = build_zip(good_entries + [("zeros.bin", b"\0" * (8 << 20), REG)])
    before = _tree(tmp_path)
    report = verify_archive(bomb)
    assert any("entry 'zeros.bin' expands" in p and "PACKFLOW_ARCHIVE_MAX_RATIO" in p for p in report.problems)
    limits = ArchiveLimits(max_total_bytes=1 << 20, max_ratio=10_000)
    with pytest.raises(ArchiveError, match="expands to .* bytes, more than the limit of 1048576"):
        extract_verified(bomb, limits=limits)
    with pytest.raises(ArchiveError, match="5 entries, more than the limit of 3"):
        extract_verified(bomb, limits=ArchiveLimits(max_files=3))
    _assert_nothing_written(tmp_path, before, private_cache)


def test_limits_from_environment(monkeypatch, build_zip, good_entries) -> None:
    archive = build_zip(good_entries)
    monkeypatch.setenv("PACKFLOW_ARCHIVE_MAX_FILES", "2")
    assert ArchiveLimits.from_env().max_files == 2
    assert "more than the limit of 2" in verify_archive(archive).problems[0]
    monkeypatch.setenv("PACKFLOW_ARCHIVE_MAX_BYTES", "lots")
    with pytest.raises(ArchiveError, match="PACKFLOW_ARCHIVE_MAX_BYTES='lots' is not a number"):
        ArchiveLimits.from_env()


def test_not_a_zip_and_no_manifest(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ArchiveError, match="is not a zip archive"):
        verify_archive(junk)
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("inference.py", "x")
    assert verify_archive(plain).problems == ["archive has no packflow-manifest.json; it was not made by 'packflow export'"]
    with pytest.raises(ArchiveError, match="Cannot open archive"):
        verify_archive(tmp_path / "absent.zip")


def test_verify_cli_reports_and_exits(build_zip, good_entries) -> None:
    good = build_zip(good_entries, name="good.zip")
    bad = build_zip(good_entries + [("../evil.py", b"x", REG)], name="bad.zip")
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify", str(good)])
    assert ok.exit_code == 0 and "Verified: every file matches the manifest" in ok.output
    refused = runner.invoke(cli, ["verify", str(bad)])
    assert refused.exit_code == 1
    assert "✗ entry '../evil.py' escapes the archive root" in refused.output
    assert "failed verification (1 problem(s))" in refused.output
    limited = runner.invoke(cli, ["verify", str(good), "--max-files", "2"])
    assert limited.exit_code == 1 and "more than the limit of 2" in limited.output


segments = st.sampled_from(["a", "b.py", "..", ".", "", "C:", "x\\y", "/", "dir"])


@given(st.lists(segments, min_size=1, max_size=5))
def test_accepted_names_always_stay_inside_the_root(parts) -> None:
    name = "/".join(parts)
    info = zipfile.ZipInfo(name)
    problems = entry_problems([info], ArchiveLimits())
    root = Path("/srv/cache/root")
    if not problems:
        target = Path(os.path.normpath(root.joinpath(*name.split("/"))))
        assert target == root or target.is_relative_to(root), name
    if ".." in name.split("/") or name.startswith("/"):
        assert problems, name
