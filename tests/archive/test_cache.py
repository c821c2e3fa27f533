"""Loading from an archive: extraction into a cache keyed by the manifest's SHA-256, reuse, repair, concurrency."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from packflow.archive import archive_cache_dir, extract_verified
from packflow.loaders.base import InferenceBackendLoader
from packflow.loaders.target import resolve_target


def test_extracts_into_cache_keyed_by_manifest_sha256(exported, private_cache: Path) -> None:
    project, archive = exported
    root = extract_verified(archive)
    sha = hashlib.sha256(zipfile.ZipFile(archive).read("packflow-manifest.json")).hexdigest()
    assert archive_cache_dir() == private_cache / "archives"
    assert root == private_cache / "archives" / sha
    for name, path in project.files().items():
        assert (root / name).read_bytes() == path.read_bytes()
    assert (root / "packflow-manifest.json").is_file()
    marker = (root / "inference.py").stat().st_mtime_ns
    assert extract_verified(archive) == root
    assert (root / "inference.py").stat().st_mtime_ns == marker  # reused, not extracted again
    assert [p.name for p in root.parent.iterdir()] == [sha]  # no temporary directories left behind


def test_damaged_cache_is_extracted_again(exported, caplog) -> None:
    _, archive = exported
    root = extract_verified(archive)
    original = (root / "inference.py").read_bytes()
    (root / "inference.py").write_text("raise SystemExit('tampered cache')\n")
    assert extract_verified(archive) == root
    assert (root / "inference.py").read_bytes() == original


def test_from_archive_and_target_load_match_the_project(exported) -> None:
    project, archive = exported
    samples = project.load_sample_inputs()
    expected = project.load_backend()(samples)
    assert InferenceBackendLoader.from_archive(archive)(samples) == expected
    target = resolve_target(str(archive))
    assert (target.kind, target.name, target.version) == ("archive", "demo", "0.1.0")
    assert target.load()(samples) == expected


def test_concurrent_threads_share_one_extraction(exported) -> None:
    _, archive = exported
    results: list[Path] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            results.append(extract_verified(archive))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(set(results)) == 1 and len(results) == 8
    assert [p.name for p in results[0].parent.iterdir()] == [results[0].name]


def test_concurrent_processes_load_the_same_archive(exported, private_cache: Path) -> None:
    _, archive = exported
    code = ("import sys; from packflow.loaders.base import InferenceBackendLoader as L; "
            "b = L.from_archive(sys.argv[1]); print(b([{'text': 'a b'}])[0]['word_count'])")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(archive)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    assert outputs == ["2"] * 4
    assert len(list((private_cache / "archives").iterdir())) == 1


def test_missing_archive_is_a_clear_error(tmp_path: Path) -> None:
    from packflow.exceptions import ArchiveError

    with pytest.raises(ArchiveError, match="Cannot open archive"):
        extract_verified(tmp_path / "nope.zip")
