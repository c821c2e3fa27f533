"""keygen → export --sign → verify/run/serve/stream/install --trusted-key, and PACKFLOW_TRUSTED_KEYS as policy."""

from __future__ import annotations

import hashlib
import json
import socket
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from packflow.exceptions import ArchiveError
from packflow.loaders.base import InferenceBackendLoader
from packflow.project import PackflowProject

pytest.importorskip("cryptography")

SAMPLE = '{"text": "hello world"}\n'


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, packflow_cli) -> dict[str, Path]:
    """A key pair, a second (untrusted) key pair, a project, and its signed and unsigned archives."""
    tmp_path = tmp_path_factory.mktemp("signed")
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("release", "other"):
        made = packflow_cli("keygen", str(keys / name))
        assert made.returncode == 0, made.stderr
    project = PackflowProject.create("signed", parent_dir=tmp_path)
    out = packflow_cli("export", str(project.base_dir), "--sign", str(keys / "release"), "-o", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr
    plain = packflow_cli("export", str(project.base_dir), "-o", str(tmp_path / "u"))
    assert plain.returncode == 0, plain.stderr
    records = tmp_path / "records.jsonl"
    records.write_text(SAMPLE)
    return {"key": keys / "release", "pub": keys / "release.pub", "other": keys / "other.pub", "keys": keys,
            "signed": tmp_path / "s" / "signed-0.1.0.zip", "unsigned": tmp_path / "u" / "signed-0.1.0.zip",
            "records": records, "project": project.base_dir}


def test_keygen_writes_a_private_key_0600_and_refuses_to_overwrite(signed, packflow_cli) -> None:
    assert stat.S_IMODE(signed["key"].stat().st_mode) == 0o600
    assert signed["pub"].read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = packflow_cli("keygen", str(signed["key"]))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_signature_carries_key_id_export_time_and_manifest_digest(signed, packflow_cli) -> None:
    with zipfile.ZipFile(signed["signed"]) as zf:
        signature = json.loads(zf.read("packflow-signature.json"))
        manifest = zf.read("packflow-manifest.json")
    assert signature["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert signature["key_id"].startswith("ed25519:") and signature["exported_at"].startswith("20")
    made = packflow_cli("verify", str(signed["signed"]), "-v", "--trusted-key", str(signed["pub"]))
    assert made.returncode == 0, made.stdout + made.stderr
    assert f"Signer:   key {signature['key_id']}, exported {signature['exported_at']}" in made.stdout
    assert "signature valid, key trusted" in made.stdout and "signed by a trusted key" in made.stdout


@pytest.mark.parametrize("which", ["file", "directory", "env"])
def test_verify_with_trusted_keys_accepts_signed_refuses_unsigned(which: str, signed, packflow_cli) -> None:
    key = signed["keys"] if which == "directory" else signed["pub"]
    args = [] if which == "env" else ["--trusted-key", str(key)]
    env = {"PACKFLOW_TRUSTED_KEYS": str(key)} if which == "env" else None
    ok = packflow_cli("verify", str(signed["signed"]), *args, env=env)
    assert ok.returncode == 0 and "signed by a trusted key" in ok.stdout
    refused = packflow_cli("verify", str(signed["unsigned"]), *args, env=env)
    assert refused.returncode == 1 and "archive is unsigned, but a trust policy is set" in refused.stdout


def test_unknown_key_is_refused_and_names_the_key(signed, packflow_cli) -> None:
    refused = packflow_cli("verify", str(signed["signed"]), "--trusted-key", str(signed["other"]))
    assert refused.returncode == 1 and "signed by unknown key ed25519:" in refused.stdout
    assert "not among the 1 trusted key(s)" in refused.stdout


def _rewrite(archive: Path, dest: Path, name: str, data: bytes) -> Path:
    """A copy of ``archive`` with ``name`` replaced and the manifest rewritten with consistent hashes."""
    with zipfile.ZipFile(archive) as zf:
        contents = {i.filename: zf.read(i) for i in zf.infolist()}
    manifest = json.loads(contents["packflow-manifest.json"])
    contents[name] = data
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    contents["packflow-manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry, value in contents.items():
            zf.writestr(entry, value)
    return dest


def test_rewritten_manifest_is_refused_under_a_policy_before_extraction(signed, packflow_cli, private_cache: Path,
                                                                         tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = (f"import pathlib; pathlib.Path({str(marker)!r}).write_text('x')\n"
            "from packflow import InferenceBackend\nclass Backend(InferenceBackend):\n"
            "    def execute(self, inputs):\n        return inputs\n").encode()
    forged = _rewrite(signed["signed"], tmp_path / "forged-0.1.0.zip", "inference.py", evil)
    assert packflow_cli("verify", str(forged)).returncode == 0  # consistent hashes: only the signature tells
    env = {"PACKFLOW_TRUSTED_KEYS": str(signed["pub"])}
    refused = packflow_cli("run", str(forged), "-i", str(signed["records"]), env=env)
    assert refused.returncode == 2 and "bad signature" in refused.stderr and "manifest was rewritten" in refused.stderr
    assert "Traceback" not in refused.stderr and not marker.exists()
    assert not (private_cache / "archives").exists() or not any((private_cache / "archives").iterdir())


def test_tampered_signature_payload_is_a_bad_signature(signed, packflow_cli, tmp_path: Path) -> None:
    forged = tmp_path / "late-0.1.0.zip"
    with zipfile.ZipFile(signed["signed"]) as zf, zipfile.ZipFile(forged, "w") as out:
        for info in zf.infolist():
            data = zf.read(info)
            if info.filename == "packflow-signature.json":
                signature = json.loads(data)
                signature["exported_at"] = "1999-01-01T00:00:00+00:00"  # the payload no longer matches
                data = json.dumps(signature).encode()
            out.writestr(info, data)
    refused = packflow_cli("verify", str(forged), "--trusted-key", str(signed["pub"]))
    assert refused.returncode == 1 and "bad signature: the signature by key" in refused.stdout


@pytest.mark.parametrize("command", ["run", "install"])
def test_run_and_install_honour_trusted_key(command: str, signed, packflow_cli, private_cache: Path) -> None:
    args = ["-i", str(signed["records"])] if command == "run" else []
    refused = packflow_cli(command, str(signed["unsigned"]), *args, "--trusted-key", str(signed["pub"]))
    assert refused.returncode in (1, 2) and "archive is unsigned, but a trust policy is set" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (private_cache / "archives").exists() or not any((private_cache / "archives").iterdir())
    if command == "run":
        ok = packflow_cli("run", str(signed["signed"]), *args, "--trusted-key", str(signed["pub"]))
        assert ok.returncode == 0 and json.loads(ok.stdout.splitlines()[0])


def test_stream_refuses_an_unsigned_archive_before_connecting(signed, packflow_cli) -> None:
    refused = packflow_cli("stream", str(signed["unsigned"]), "--trusted-key", str(signed["pub"]),
                           "--redis-url", "redis://127.0.0.1:9/0", "--input-stream", "i", "--output-stream", "o")
    assert refused.returncode == 2 and "archive is unsigned, but a trust policy is set" in refused.stderr


def test_serve_refuses_an_unsigned_archive(signed) -> None:
    pytest.importorskip("uvicorn")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = str(Path(sys.executable).with_name("packflow"))
    proc = subprocess.run([script, "serve", str(signed["unsigned"]), "--port", str(port), "--trusted-key",
                           str(signed["pub"])], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "archive is unsigned, but a trust policy is set" in proc.stderr


def test_from_archive_accepts_trusted_keys(signed) -> None:
    backend = InferenceBackendLoader.from_archive(signed["signed"], trusted_keys=[signed["pub"]])
    assert backend([{"text": "a"}])
    with pytest.raises(ArchiveError, match="signed by unknown key"):
        InferenceBackendLoader.from_archive(signed["signed"], trusted_keys=[signed["other"]])
    with pytest.raises(ArchiveError, match="archive is unsigned"):
        InferenceBackendLoader.from_archive(signed["unsigned"], trusted_keys=[signed["keys"]])
