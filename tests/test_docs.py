"""Every fenced Python and shell block of README.md and docs/*.md runs, so a doc that drifts fails CI.

Blocks of a page run in order in one fresh working directory holding a copy of ``examples/``,
with this interpreter's ``packflow`` first on the PATH. A comment on the line right before a
fence changes how its block runs:

- ``<!-- doc: illustration (why) -->`` — not run: it shows a variation (a cluster address, an
  S3 path) a reader adapts; the reason is required.
- ``<!-- doc: server -->`` — a long-running command (``packflow serve …``): started in the
  background, the page's next blocks run once its ``--port`` accepts connections, and it is
  stopped (SIGTERM, then SIGKILL) when the page ends.
- ``<!-- doc: exit=N -->`` — the block is expected to exit with N (e.g. 3: records dead-lettered).
- ``<!-- doc: needs=redis -->`` (once per page) — a redis-server on 127.0.0.1:6379 for the page,
  started and stopped by the test (skipped when redis-server is not installed).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(
    r"^(?:<!-- doc: (?P<marker>[^>]*?) -->\n)?```(?P<lang>python|bash|sh)\n(?P<code>.*?)^```\s*$", re.M | re.S
)
BLOCK_TIMEOUT_S = 180


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    code: str
    marker: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def option(self, name: str) -> str | None:
        match = re.search(rf"\b{name}=(\S+)", self.marker)
        return match.group(1) if match else None


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [
        Block(page, text.count("\n", 0, m.start("lang")) + 1, m.group("lang"), m.group("code"), m.group("marker") or "")
        for m in FENCE.finditer(text)
    ]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(port):
            return
        if proc.poll() is not None:
            raise AssertionError(f"the server block exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.1)
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _command(block: Block) -> list[str]:
    if block.lang == "python":
        return [sys.executable, "-c", block.code]
    return ["bash", "-euo", "pipefail", "-c", block.code]


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BACKEND_CONFIG_FILE_PATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    return env


def _redis(work: Path) -> subprocess.Popen | None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    if _port_open(6379):
        return None  # one is running already (a developer's): the page uses it
    proc = subprocess.Popen([binary, "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(work)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    _wait_for_port(6379, proc, 10)
    return proc


def run_page(page: Path, work: Path) -> int:
    """Run every block of ``page`` in ``work``; the number of blocks run."""
    blocks = blocks_of(page)
    shutil.copytree(ROOT / "examples", work / "examples")
    env, background, ran = _environment(), [], 0
    if any("needs=redis" in b.marker for b in blocks):
        redis = _redis(work)
        if redis is not None:
            background.append(redis)
    try:
        for block in blocks:
            if block.marker.startswith("illustration"):
                continue
            ran += 1
            if block.marker.startswith("server"):
                port = int(re.search(r"--port[ =](\d+)", block.code).group(1))  # type: ignore[union-attr]
                proc = subprocess.Popen(_command(block), cwd=work, env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, start_new_session=True)
                background.append(proc)
                _wait_for_port(port, proc)
                continue
            done = subprocess.run(_command(block), cwd=work, env=env, capture_output=True, text=True,
                                  timeout=BLOCK_TIMEOUT_S)
            expected = int(block.option("exit") or 0)
            assert done.returncode == expected, (
                f"{block.where}: exit {done.returncode} (expected {expected})\n--- stdout\n{done.stdout[-3000:]}"
                f"\n--- stderr\n{done.stderr[-3000:]}"
            )
    finally:
        for proc in reversed(background):
            _stop(proc)
    return ran


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_blocks_run(page: Path, tmp_path: Path) -> None:
    if not blocks_of(page):
        pytest.skip("no Python or shell blocks")
    run_page(page, tmp_path)


def test_illustrations_say_why() -> None:
    for page in PAGES:
        for block in blocks_of(page):
            if block.marker.startswith("illustration"):
                assert re.match(r"illustration \(.+\)", block.marker), f"{block.where}: give the reason in parentheses"


def test_user_docs_hold_no_internal_notes() -> None:
    for page in PAGES:
        text = page.read_text(encoding="utf-8").lower()
        for phrase in ("other engineers", "this session", "while five", "todo"):
            assert phrase not in text, f"{page.relative_to(ROOT)} mentions {phrase!r}"
