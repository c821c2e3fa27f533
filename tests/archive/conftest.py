"""Fixtures for archive tests: a private cache, a good archive, and a builder for hostile ones."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import json
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest

from packflow.project import PackflowProject

GOOD_FILES = {
    "packflow.yaml": b"name: evil\nversion: 0.1.0\ninference_backend: inference:Backend\nloader: local\n",
    "requirements.txt": b"packflow\n",
    "inference.py": (
        b"from packflow import InferenceBackend\n"
        b"class Backend(InferenceBackend):\n"
        b"    def execute(self, inputs):\n"
        b"        return [{'n': len(r)} for r in inputs]\n"
    ),
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Archives extracted by a test land in its own cache directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PACKFLOW_CACHE_DIR", str(cache))
    return cache


def manifest_for(files: dict[str, bytes]) -> bytes:
    """A well-formed manifest listing ``files``."""
    entries = {n: {"sha256": hashlib.sha256(d).hexdigest(), "size": len(d)} for n, d in files.items()}
    return json.dumps({"format": 1, "packflow_version": "0.5.0", "python_version": "3.11.0",
                       "metadata": {"name": "evil", "version": "0.1.0"}, "runtime": {}, "wheels": None,
                       "files": entries}).encode()


Entry = tuple[str, bytes, int]  # name, data, unix mode


@pytest.fixture
def build_zip(tmp_path: Path) -> Callable[..., Path]:
    """``build_zip(entries, manifest_files=None)``: write a zip by hand; the manifest lists ``manifest_files``."""

    def build(entries: list[Entry], manifest_files: dict[str, bytes] | None = None, name: str = "evil-0.1.0.zip") -> Path:
        path = tmp_path / "incoming" / name
        path.parent.mkdir(exist_ok=True)
        listed = manifest_files if manifest_files is not None else {n: d for n, d, _ in entries}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for entry_name, data, mode in entries:
                info = zipfile.ZipInfo(entry_name, date_time=(1980, 1, 1, 0, 0, 0))
                info.create_system = 3
                info.external_attr = mode << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
            zf.writestr("packflow-manifest.json", manifest_for(listed))
        return path

    return build


@pytest.fixture
def good_entries() -> list[Entry]:
    """Entries of a small valid project."""
    return [(name, data, 0o100644) for name, data in GOOD_FILES.items()]


@pytest.fixture
def exported(tmp_path: Path) -> tuple[PackflowProject, Path]:
    """A template project and its exported archive."""
    project = PackflowProject.create("demo", parent_dir=tmp_path / "src", config_data={"description": "d"})
    return project, project.export(tmp_path / "dist")

@pytest.fixture(scope="session")
def packflow_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``packflow_cli(*args, env=None, cwd=None, timeout=180)``: run the real ``packflow`` script in a subprocess."""
    import os
    import sys

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, **(env or {})}
        script = str(Path(sys.executable).with_name("packflow"))
        return subprocess.run([script, *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """GOOD_FILES, manifest_for and the helpers of ``_kit.py`` (tests cannot import conftest under importlib mode)."""
    spec = importlib.util.spec_from_file_location("packflow_archive_test_kit", Path(__file__).with_name("_kit.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return SimpleNamespace(GOOD_FILES=GOOD_FILES, manifest_for=manifest_for, assert_refused=module.assert_refused,
                           extracted_dirs=module.extracted_dirs, make_wheel=module.make_wheel,
                           RecordingServer=module.RecordingServer)


@pytest.fixture
def recording_server(kit: SimpleNamespace):  # type: ignore[no-untyped-def]
    """A local HTTP server that records every request made to it (stopped after the test)."""
    server = kit.RecordingServer()
    try:
        yield server
    finally:
        server.close()
