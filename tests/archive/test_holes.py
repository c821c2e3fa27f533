"""Each hole of issue 15, reproduced through the real CLI (each of these passed the attack on the old code)."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from packflow.project import PackflowProject


REG = 0o100644
RECORDS = '{"text": "a b c"}\n'
COLORSYS_BACKEND = (
    b"import colorsys\n"
    b"from packflow import InferenceBackend\n"
    b"class Backend(InferenceBackend):\n"
    b"    def execute(self, inputs):\n"
    b"        return [{'n': len(r), 'origin': colorsys.__name__} for r in inputs]\n"
)


def _planted(marker: Path) -> bytes:
    return (f"import pathlib; pathlib.Path({str(marker)!r}).write_text('pwned')\n"
            "from packflow import InferenceBackend\n"
            "class Backend(InferenceBackend):\n"
            "    def execute(self, inputs):\n"
            "        return [{'pwned': True} for _ in inputs]\n").encode()


def _writable(root: Path) -> None:
    for dirpath, _, _ in os.walk(root):
        os.chmod(dirpath, 0o700)


# -- hole 1: the extraction cache ---------------------------------------------------------------


def test_tampered_cache_file_and_cached_manifest_are_not_imported(kit, build_zip, good_entries, packflow_cli,
                                                                   private_cache: Path, tmp_path: Path) -> None:
    archive = build_zip(good_entries)
    ok = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    [root] = kit.extracted_dirs(private_cache)
    _writable(root)
    marker = tmp_path / "pwned"
    evil = _planted(marker)
    (root / "inference.py").write_bytes(evil)
    manifest = json.loads((root / "packflow-manifest.json").read_bytes())
    manifest["files"]["inference.py"] = json.loads(kit.manifest_for({"inference.py": evil}))["files"]["inference.py"]
    (root / "packflow-manifest.json").write_text(json.dumps(manifest))
    again = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert not marker.exists()
    assert json.loads(again.stdout.splitlines()[0]) == {"n": 1}
    assert "was modified" in again.stderr and "discarding it and extracting again" in again.stderr
    verified = packflow_cli("verify", str(archive))
    assert verified.returncode == 0 and "Verified:" in verified.stdout


def test_planted_module_next_to_the_code_is_refused(kit, build_zip, packflow_cli, private_cache: Path, tmp_path: Path) -> None:
    files = {**kit.GOOD_FILES, "inference.py": COLORSYS_BACKEND}
    archive = build_zip([(n, d, REG) for n, d in files.items()])
    assert packflow_cli("run", str(archive), "-i", str(_records(tmp_path))).returncode == 0
    [root] = kit.extracted_dirs(private_cache)
    _writable(root)
    marker = tmp_path / "pwned"
    (root / "colorsys.py").write_text(f"import pathlib; pathlib.Path({str(marker)!r}).write_text('pwned')\n")
    again = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)))
    assert again.returncode == 0, again.stderr
    assert not marker.exists() and not (root / "colorsys.py").exists()
    assert "file 'colorsys.py' is not in the manifest" in again.stderr


def test_planted_bytecode_is_refused_and_loads_leave_no_bytecode(kit, build_zip, good_entries, packflow_cli,
                                                                  private_cache: Path, tmp_path: Path) -> None:
    archive = build_zip(good_entries)
    assert packflow_cli("run", str(archive), "-i", str(_records(tmp_path))).returncode == 0
    [root] = kit.extracted_dirs(private_cache)
    assert not (root / "__pycache__").exists()  # nothing but the manifest's files, so the next load reuses it
    _writable(root)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "inference.cpython-311.pyc").write_bytes(b"\0" * 32)
    again = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)))
    assert again.returncode == 0 and "'__pycache__/inference.cpython-311.pyc' is not in the manifest" in again.stderr


def test_cache_directory_is_private_and_checked(kit, build_zip, good_entries, packflow_cli, private_cache: Path,
                                                tmp_path: Path) -> None:
    archive = build_zip(good_entries)
    assert packflow_cli("run", str(archive), "-i", str(_records(tmp_path))).returncode == 0
    cache_root = private_cache / "archives"
    assert stat.S_IMODE(cache_root.stat().st_mode) == 0o700
    os.chmod(cache_root, 0o777)
    refused = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)))
    kit.assert_refused(refused, 2, "is writable by group or others (mode 0o777)")
    os.chmod(cache_root, 0o700)
    [root] = kit.extracted_dirs(private_cache)
    os.chmod(root, 0o777)
    repaired = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)))
    assert repaired.returncode == 0 and "directory '.' is writable by group or others" in repaired.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_cache_owned_by_another_user_is_refused(kit, build_zip, good_entries, packflow_cli, private_cache: Path,
                                                tmp_path: Path) -> None:
    archive = build_zip(good_entries)
    (private_cache / "archives").mkdir(parents=True, mode=0o700)
    os.chown(private_cache / "archives", 65534, 65534)
    refused = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)))
    kit.assert_refused(refused, 2, "is owned by uid 65534, not by you")


def _records(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    path.write_text(RECORDS)
    return path


# -- hole 2: targets outside the root ----------------------------------------------------------


@pytest.mark.parametrize("target", ["{outside}/evil:Backend", "..outside.evil:Backend", "../outside/evil:Backend"])
def test_archive_target_outside_its_root_is_refused(kit, target: str, build_zip, packflow_cli, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = tmp_path / "pwned"
    (outside / "evil.py").write_bytes(_planted(marker))
    yaml = f"name: evil\nversion: 0.1.0\ninference_backend: {target.format(outside=outside)}\nloader: local\n"
    files = {**kit.GOOD_FILES, "packflow.yaml": yaml.encode()}
    archive = build_zip([(n, d, REG) for n, d in files.items()])
    assert packflow_cli("verify", str(archive)).returncode == 0  # the archive itself is intact
    refused = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)))
    kit.assert_refused(refused, 2, "must name a module inside the project")
    assert not marker.exists()


def test_project_backend_symlinked_out_of_the_project_is_refused(kit, packflow_cli, tmp_path: Path) -> None:
    project = PackflowProject.create("linked", parent_dir=tmp_path)
    marker = tmp_path / "pwned"
    (tmp_path / "evil.py").write_bytes(_planted(marker))
    (project.base_dir / "inference.py").unlink()
    (project.base_dir / "inference.py").symlink_to(tmp_path / "evil.py")
    refused = packflow_cli("run", str(project.base_dir), "-i", str(_records(tmp_path)))
    kit.assert_refused(refused, 2, "outside the project", "a symbolic link?")
    assert not marker.exists()


def test_archive_module_loader_may_not_import_installed_code(kit, build_zip, packflow_cli, tmp_path: Path) -> None:
    yaml = b"name: evil\nversion: 0.1.0\ninference_backend: packflow.testing:Backend\nloader: module\n"
    archive = build_zip([(n, d, REG) for n, d in {**kit.GOOD_FILES, "packflow.yaml": yaml}.items()])
    refused = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)))
    kit.assert_refused(refused, 2, "is not a module inside the archive")


# -- hole 4: aggregate zip bomb -------------------------------------------------------------------


def test_many_small_entries_bomb_is_refused_before_writing(kit, build_zip, good_entries, packflow_cli,
                                                           private_cache: Path, tmp_path: Path) -> None:
    zeros = b"\0" * (1 << 20)
    bomb = build_zip(good_entries + [(f"data/{i:04d}.bin", zeros, REG) for i in range(1000)])
    assert bomb.stat().st_size < 1_200_000
    verified = packflow_cli("verify", str(bomb))
    kit.assert_refused(verified, 1, "expands", "x in total", "over 1004 entries", "PACKFLOW_ARCHIVE_MAX_RATIO")
    assert "Verified" not in verified.stdout
    kit.assert_refused(packflow_cli("run", str(bomb), "-i", str(_records(tmp_path))), 2, "x in total")
    assert kit.extracted_dirs(private_cache) == []
    assert not any(p.is_file() for p in private_cache.rglob("*"))


# -- hole 5: malformed archives ---------------------------------------------------------------------


def _corrupt_deflate(path: Path, name: str) -> None:
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))


def _set_method(path: Path, name: str, method: int) -> None:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(name)
    data[info.header_offset + 8:info.header_offset + 10] = method.to_bytes(2, "little")
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        length = int.from_bytes(data[pos + 28:pos + 30], "little")
        if data[pos + 46:pos + 46 + length] == name.encode():
            data[pos + 10:pos + 12] = method.to_bytes(2, "little")
        pos = data.find(b"PK\x01\x02", pos + 4)
    path.write_bytes(bytes(data))


def test_corrupt_deflate_stream_names_the_entry(kit, build_zip, good_entries, packflow_cli, tmp_path: Path) -> None:
    archive = build_zip([("inference.py", kit.GOOD_FILES["inference.py"] * 50, REG)] + good_entries[:2])
    _corrupt_deflate(archive, "inference.py")
    kit.assert_refused(packflow_cli("verify", str(archive)), 1, "entry 'inference.py' is corrupt")
    kit.assert_refused(packflow_cli("run", str(archive), "-i", str(_records(tmp_path))), 2, "entry 'inference.py' is corrupt")


def test_unknown_compression_method_names_the_entry(kit, build_zip, good_entries, packflow_cli, tmp_path: Path) -> None:
    archive = build_zip(good_entries)
    _set_method(archive, "inference.py", 99)
    kit.assert_refused(packflow_cli("verify", str(archive)), 1, "entry 'inference.py' uses compression method 99")
    kit.assert_refused(packflow_cli("run", str(archive), "-i", str(_records(tmp_path))), 2, "compression method 99")


@pytest.mark.parametrize(("manifest", "message"), [
    (b'{"format": 1, "files": []}', "field 'files' must be an object, got list"),
    (b'{"format": 1, "files": {}, "metadata": 5}', "field 'metadata' must be an object, got int"),
    (b'{"format": 1, "files": {"inference.py": "abc"}}', "entry 'inference.py' must be"),
    (b'{"format": 1, "files": {"inference.py": {"sha256": "' + b"z" * 64 + b'", "size": 3}}}', "entry 'inference.py' must be"),
    (b'{"format": 1, "files": {}, "wheels": "all"}', "field 'wheels' must be an object or null, got str"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_malformed_manifest_is_a_typed_refusal(kit, manifest: bytes, message: str, tmp_path: Path, packflow_cli) -> None:
    archive = tmp_path / "bad-0.1.0.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in kit.GOOD_FILES.items():
            zf.writestr(name, data)
        zf.writestr("packflow-manifest.json", manifest)
    kit.assert_refused(packflow_cli("verify", str(archive)), 1, message)
    kit.assert_refused(packflow_cli("run", str(archive), "-i", str(_records(tmp_path))), 2, message)


@pytest.mark.parametrize(("extra", "message"), [
    ([("inference.py/x", b"y", REG)], "uses it as a directory; the archive cannot be extracted"),
    ([("d" * 300 + ".py", b"y", REG)], "more than the 255 a file system allows"),
])
def test_verify_never_says_verified_for_what_cannot_be_extracted(kit, extra, message: str, build_zip, good_entries,
                                                                  packflow_cli, tmp_path: Path) -> None:
    archive = build_zip(good_entries + extra)
    verified = packflow_cli("verify", str(archive))
    kit.assert_refused(verified, 1, message)
    assert "Verified" not in verified.stdout
    kit.assert_refused(packflow_cli("run", str(archive), "-i", str(_records(tmp_path))), 2, message)


def test_cache_path_that_is_a_file(kit, build_zip, good_entries, packflow_cli, tmp_path: Path) -> None:
    archive = build_zip(good_entries)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    refused = packflow_cli("run", str(archive), "-i", str(_records(tmp_path)), env={"PACKFLOW_CACHE_DIR": str(blocker)})
    kit.assert_refused(refused, 2, "Cannot create the archive cache", "set PACKFLOW_CACHE_DIR")


# -- hole 7: what export packs ----------------------------------------------------------------------


def test_export_defaults_to_dist_and_never_packs_archives_or_ignored_data(kit, packflow_cli, tmp_path: Path) -> None:
    project = PackflowProject.create("packme", parent_dir=tmp_path)
    root = project.base_dir
    assert ".gitignore" in {p.name for p in root.iterdir()}
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("x,y\n")
    (root / "outputs").mkdir()
    (root / "outputs" / "run1.jsonl").write_text("{}\n")
    first = packflow_cli("export", str(root), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    archive = root / "dist" / "packme-0.1.0.zip"
    assert archive.is_file() and not (tmp_path / "packme-0.1.0.zip").exists()
    (root / "backup.zip").write_bytes(archive.read_bytes())  # a renamed copy of an earlier export
    again = packflow_cli("export", str(root), "-v", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    names = set(zipfile.ZipFile(archive).namelist())
    assert names == {".gitignore", "LICENSE.txt", "MODEL_CARD.md", "README.md", "inference.py", "packflow.yaml",
                     "requirements.txt", "sample_inputs.jsonl", "test_inference.py", "packflow-manifest.json"}
    assert "Files in packme-0.1.0.zip (10):" in again.stdout and "  inference.py" in again.stdout
