"""The whole lifecycle through the real CLI: create → edit → validate → export --with-wheels → verify →
install into a fresh virtualenv with no index → run from the archive there, outputs equal to the project's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from packflow._version import __version__
from packflow.archive import Manifest, hash_file, install_archive, write_archive
from packflow.archive.wheels import build_packflow_wheel
from packflow.cli import cli
from packflow.exceptions import ArchiveError
from packflow.project import PackflowProject

PACKFLOW = str(Path(sys.executable).with_name("packflow"))
EDITED_BACKEND = '''
import numpy as np

from packflow import InferenceBackend


class Backend(InferenceBackend):
    def transform_inputs(self, inputs):
        return [str(r.get("text", "")).split() for r in inputs]

    def execute(self, inputs):
        return [(len(words), float(np.mean([len(w) for w in words])) if words else 0.0) for words in inputs]

    def transform_outputs(self, outputs):
        return [{"word_count": n, "mean_word_length": round(m, 4)} for n, m in outputs]
'''
SAMPLES = [{"text": "the quick brown fox"}, {"text": "jumps"}, {"text": ""}, {"text": "over the lazy dog again"}]
RUN_FROM_ARCHIVE = (
    "import json, sys\n"
    "from packflow.loaders.base import InferenceBackendLoader\n"
    "backend = InferenceBackendLoader.from_archive(sys.argv[1])\n"
    "print(json.dumps(backend(json.loads(sys.argv[2]))))\n"
)


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_round_trip_offline_install_and_run(tmp_path: Path) -> None:
    _run(PACKFLOW, "create", "word-count", "-d", str(tmp_path), "--description", "Counts words.", "--maintainer", "a@x")
    root = tmp_path / "word-count"
    (root / "inference.py").write_text(EDITED_BACKEND)
    (root / "requirements.txt").write_text(f"packflow=={__version__}\nnumpy\n")
    (root / "README.md").write_text("# word-count\n")
    (root / "MODEL_CARD.md").write_text("# word-count card\n")
    (root / "LICENSE.txt").write_text("MIT\n")
    (root / "data").mkdir()
    (root / "data" / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))
    (root / "sample_inputs.jsonl").unlink()
    project = PackflowProject(root)
    project.config.model_copy(update={"extra": {"sample_inputs": "data/samples.jsonl"}}).write_yaml(root)

    validated = _run(PACKFLOW, "validate", str(root), "-v")
    assert "check_io passed on 4 record(s) from data/samples.jsonl" in validated.stdout
    _run(PACKFLOW, "export", str(root), "-o", str(tmp_path / "dist"), "--with-wheels")
    archive = tmp_path / "dist" / "word_count-0.1.0.zip"
    first = archive.read_bytes()
    _run(PACKFLOW, "export", str(root), "-o", str(tmp_path / "dist2"), "--with-wheels")
    assert (tmp_path / "dist2" / archive.name).read_bytes() == first  # byte-identical re-export, wheels included

    verified = _run(PACKFLOW, "verify", str(archive))
    assert "Verified:" in verified.stdout
    manifest = json.loads(__import__("zipfile").ZipFile(archive).read("packflow-manifest.json"))
    wheels = [n for n in manifest["files"] if n.startswith("wheels/")]
    assert any(n.startswith("wheels/numpy-") for n in wheels) and f"wheels/packflow-{__version__}-py3-none-any.whl" in wheels

    offline = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}
    venv = tmp_path / "fresh-venv"
    installed = _run(PACKFLOW, "install", str(archive), "--target-venv", str(venv), env=offline)
    assert "Success: Installed the requirements" in installed.stdout

    python = str(venv / "bin" / "python")
    outside = _run(python, "-c", "import packflow, numpy; print(packflow.__file__)", cwd=tmp_path, env=_clean_env({})).stdout
    assert str(venv) in outside  # packflow comes from the installed wheel, not from this checkout
    ran = _run(python, "-c", RUN_FROM_ARCHIVE, str(archive), json.dumps(SAMPLES), env=_clean_env(offline), cwd=tmp_path)
    expected = project.load_backend()(SAMPLES)
    assert json.loads(ran.stdout) == expected
    assert expected[0] == {"word_count": 4, "mean_word_length": 4.0}


def test_install_without_bundled_wheels_fails_clearly(tmp_path: Path) -> None:
    project = PackflowProject.create("nowheels", parent_dir=tmp_path)
    archive = project.export(tmp_path / "dist")
    with pytest.raises(ArchiveError, match="bundles no wheels; re-export it with 'packflow export --with-wheels'"):
        install_archive(archive, tmp_path / "venv")
    assert not (tmp_path / "venv").exists()
    result = CliRunner().invoke(cli, ["install", str(archive)])
    assert result.exit_code == 1 and "bundles no wheels" in result.output


@pytest.mark.slow
def test_install_with_a_missing_wheel_names_it(tmp_path: Path) -> None:
    project = PackflowProject.create("partial", parent_dir=tmp_path)
    wheel = build_packflow_wheel(tmp_path)
    files = {**project.files(), f"wheels/{wheel.name}": wheel}
    manifest = Manifest(__version__, "3", project.config.metadata(), project.config.runtime(),
                        {n: hash_file(p) for n, p in files.items()})
    archive = write_archive(tmp_path / "partial-0.1.0.zip", files, manifest)
    with pytest.raises(ArchiveError, match=r"No bundled wheel satisfies .*(numpy|pydantic|click|pyyaml)"):
        install_archive(archive, tmp_path / "venv")


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment without PYTHONPATH (so a fresh venv imports what it installed), plus ``extra``."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **extra}


def _wait_ready(port: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("serve did not become ready")


@pytest.mark.slow
def test_sign_carry_verify_install_offline_then_serve(tmp_path: Path, kit, packflow_cli, recording_server) -> None:
    """keygen → export --with-wheels --extras serve --sign → verify -v --trusted-key → install with no network
    (dead proxy, pip env/config aimed at a recording server) → serve from the new venv → POST /invoke."""
    import socket
    import urllib.request

    pytest.importorskip("cyclonedx")
    assert packflow_cli("keygen", str(tmp_path / "release")).returncode == 0
    _run(PACKFLOW, "create", "word-count", "-d", str(tmp_path))
    root = tmp_path / "word-count"
    (root / "inference.py").write_text(EDITED_BACKEND)
    # cryptography checks the signature on the air-gapped side (what `--extras sign` bundles once installed)
    (root / "requirements.txt").write_text(f"packflow=={__version__}\nnumpy\ncryptography\n")
    _run(PACKFLOW, "export", str(root), "--with-wheels", "--extras", "serve", "--sign", str(tmp_path / "release"))
    archive = root / "dist" / "word_count-0.1.0.zip"
    carried = tmp_path / "usb" / archive.name  # across the air gap
    carried.parent.mkdir()
    carried.write_bytes(archive.read_bytes())

    pub = str(tmp_path / "release.pub")
    verified = _run(PACKFLOW, "verify", str(carried), "-v", "--trusted-key", pub)
    assert "signature valid, key trusted" in verified.stdout and "SBOM:     CycloneDX 1.5:" in verified.stdout
    sbom = json.loads(__import__("zipfile").ZipFile(carried).read("sbom.cdx.json"))
    names = {c["name"].lower() for c in sbom["components"]}
    assert {"packflow", "numpy", "starlette", "uvicorn", "cryptography"} <= names
    assert all(c["hashes"][0]["alg"] == "SHA-256" and len(c["hashes"][0]["content"]) == 64 for c in sbom["components"])

    offline = _clean_env({**recording_server.offline_env(tmp_path / "home"), "PACKFLOW_TRUSTED_KEYS": pub})
    venv = tmp_path / "airgap-venv"
    installed = packflow_cli("install", str(carried), "--target-venv", str(venv), env=offline, timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(venv / "bin" / "packflow"), "serve", str(carried), "--port", str(port),
                             "--trusted-key", pub], env=offline, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path)
    try:
        _wait_ready(port, proc)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invoke", data=json.dumps(SAMPLES[0]).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read()) == {"word_count": 4, "mean_word_length": 4.0}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert recording_server.requests == []
