"""``packflow install`` is offline: requirement lines that could reach out are refused before pip runs, pip's
environment and configuration are neutralised, and a recording HTTP server on 127.0.0.1 sees zero requests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REG = 0o100644


@pytest.fixture
def wheel_archive(build_zip, kit, tmp_path: Path):  # type: ignore[no-untyped-def]
    """``make(requirements)``: an archive bundling the tiny wheel ``tinydep`` with that requirements.txt."""
    wheel = kit.make_wheel(tmp_path)

    def make(requirements: str, name: str = "offline-0.1.0.zip") -> Path:
        files = {**kit.GOOD_FILES, "requirements.txt": requirements.encode(), f"wheels/{wheel.name}": wheel.read_bytes()}
        return build_zip([(n, d, REG) for n, d in files.items()], name=name)

    return make


HOSTILE_LINES = [
    ("-f {url}/links", "is a pip option"),
    ("--find-links={url}/links", "is a pip option"),
    ("--index-url {url}/simple", "is a pip option"),
    ("-i {url}/simple", "is a pip option"),
    ("--extra-index-url {url}/extra", "is a pip option"),
    ("--trusted-host 127.0.0.1", "is a pip option"),
    ("-r {url}/more.txt", "is a pip option"),
    ("-e git+{url}/repo.git#egg=tinydep", "is a pip option"),
    ("tinydep @ {url}/tinydep-1.0-py3-none-any.whl", "is a URL or version-control link"),
    ("{url}/tinydep-1.0-py3-none-any.whl", "is a URL or version-control link"),
    ("git+{url}/repo.git#egg=tinydep", "is a URL or version-control link"),
    ("tinydep @ file:///etc/passwd", "is a URL or version-control link"),
    ("../outside/tinydep-1.0-py3-none-any.whl", "is a path outside the archive's wheels"),
    ("/tmp/tinydep-1.0-py3-none-any.whl", "is a path outside the archive's wheels"),
]


@pytest.mark.parametrize(("line", "reason"), HOSTILE_LINES, ids=[line for line, _ in HOSTILE_LINES])
def test_reaching_lines_are_refused_before_pip_runs(line: str, reason: str, wheel_archive, recording_server,
                                                    packflow_cli, kit, tmp_path: Path) -> None:
    text = line.format(url=recording_server.url)
    archive = wheel_archive(f"# offline please\n{text}\ntinydep\n")
    venv = tmp_path / "venv"
    proc = packflow_cli("install", str(archive), "--target-venv", str(venv),
                        env=recording_server.offline_env(tmp_path / "home"), timeout=120)
    kit.assert_refused(proc, 1, f"requirements.txt line 2: {text!r} {reason}", "uses only the wheels bundled")
    assert recording_server.requests == []
    assert not venv.exists()  # refused before a virtualenv was even created


def test_install_is_offline_with_pip_env_and_config_aimed_at_the_network(wheel_archive, recording_server,
                                                                         packflow_cli, tmp_path: Path) -> None:
    """Also: a relative PACKFLOW_CACHE_DIR works (resolved once, before pip runs in the extracted tree)."""
    env = {**recording_server.offline_env(tmp_path / "home"), "PACKFLOW_CACHE_DIR": "relcache"}
    venv = tmp_path / "venv"
    missing = packflow_cli("install", str(wheel_archive("tinydep\nnotbundled==1.0\n", name="missing-0.1.0.zip")),
                           "--target-venv", str(venv), env=env, cwd=tmp_path, timeout=240)
    assert missing.returncode == 1 and "No bundled wheel satisfies notbundled" in missing.stderr
    ok = packflow_cli("install", str(wheel_archive("tinydep==1.0 ; python_version >= '3'\n")),
                      "--target-venv", str(venv), env=env, cwd=tmp_path, timeout=240)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Success: Installed the requirements" in ok.stdout
    assert (tmp_path / "relcache" / "archives").is_dir()
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    value = subprocess.run([str(venv / "bin" / "python"), "-c", "import tinydep; print(tinydep.VALUE)"],
                           capture_output=True, text=True, env=clean, timeout=60)
    assert value.stdout.strip() == "42", value.stderr
    assert recording_server.requests == []
