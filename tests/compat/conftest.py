"""Fixtures of the differential suite: one runner per side, and how two outcomes compare.

``released`` runs cases under packflow 0.4.1 in the side virtualenv (built on first use, see
``_sidevenv.py``); ``ours`` runs them under the packflow this test session imports. Both are
long-lived subprocesses of ``runner.py``; every case result is cached for the session, so a
deliberate-difference test and the generic differential test share one execution.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import _compare  # noqa: E402
import _sidevenv  # noqa: E402

CASE_TIMEOUT_S = 60.0


class Side:
    """A runner subprocess serving cases for one packflow; results cached by case name."""

    def __init__(self, label: str, python: Path, pythonpath: str | None, workdir: Path) -> None:
        self.label, self.python, self.pythonpath, self.workdir = label, python, pythonpath, workdir
        self.cache: dict[str, dict[str, Any]] = {}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str] = queue.Queue()

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "BACKEND_CONFIG_FILE_PATH", "PACKFLOW_LOG_LEVEL")}
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.log = open(self.workdir / f"{self.label}-stderr.log", "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.python), str(HERE / "runner.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, env=env, cwd=str(self.workdir),
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()

    @staticmethod
    def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    def run(self, name: str) -> dict[str, Any]:
        """The outcome of case ``name`` on this side (cached)."""
        if name not in self.cache:
            self.cache[name] = self._request(name)
        return self.cache[name]

    def call(self, name: str, *args: Any) -> dict[str, Any]:
        """The outcome of fuzz case ``name`` on JSON ``args`` (not cached)."""
        return self._request(name, list(args))

    def _request(self, name: str, args: list[Any] | None = None) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        request: dict[str, Any] = {"case": name} if args is None else {"case": name, "args": args}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=CASE_TIMEOUT_S)
        except queue.Empty:
            self.stop()
            return {"outcome": "timeout"}
        if not line:
            self.proc = None
            return {"outcome": "runner-died"}
        return json.loads(line)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None
            self.log.close()


@pytest.fixture(scope="session")
def released_python() -> Path:
    """The side virtualenv's interpreter, with packflow 0.4.1 installed (built here if missing)."""
    try:
        return _sidevenv.ensure_side_venv()
    except _sidevenv.IndexUnreachable as exc:
        pytest.skip(f"packflow=={_sidevenv.RELEASED} cannot be installed: the package index is unreachable ({exc})")


@pytest.fixture(scope="session")
def released(released_python: Path, tmp_path_factory: pytest.TempPathFactory):
    side = Side("released", released_python, None, tmp_path_factory.mktemp("released"))
    yield side
    side.stop()


@pytest.fixture(scope="session")
def ours(tmp_path_factory: pytest.TempPathFactory):
    import packflow

    src = str(Path(packflow.__file__).resolve().parents[1])
    side = Side("ours", Path(sys.executable), src, tmp_path_factory.mktemp("ours"))
    yield side
    side.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    line = _compare.summary()
    if line:
        terminalreporter.write_line(line)
