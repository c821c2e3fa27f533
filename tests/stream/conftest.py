"""Fixtures for the stream tests: a real redis-server on a free loopback port, and helpers.

The session server runs without persistence (fast); the restart test starts its own server with
``appendonly yes`` / ``appendfsync always``. Every server is stopped by its fixture's finalizer.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

redis = pytest.importorskip("redis", reason="needs the packflow[redis] extra")
orjson = pytest.importorskip("orjson")

HERE = Path(__file__).parent
REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server child process on 127.0.0.1; ``restart()`` keeps its port and data directory."""

    def __init__(self, directory: Path, persistent: bool = False) -> None:
        self.directory = directory
        self.port = free_port()
        self.persistent = persistent
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=2)

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", *persistence, "--logfile", str(self.directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}; see {self.directory / 'redis.log'}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path, persistent=True)
    yield server
    server.stop()


@pytest.fixture
def r(redis_server: RedisServer) -> Any:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


def fill(client: Any, stream: str, n: int, poison_every: int = 0, start: int = 0, chunk: int = 5000) -> list[bytes]:
    """Append records ``{"i": k}`` (every ``poison_every``-th one poisoned); returns the entry ids."""
    ids: list[bytes] = []
    for lo in range(start, start + n, chunk):
        pipe = client.pipeline(transaction=False)
        for k in range(lo, min(lo + chunk, start + n)):
            poison = bool(poison_every) and k % poison_every == poison_every - 1
            pipe.xadd(stream, {"data": orjson.dumps({"i": k, "poison": poison})})
        ids.extend(pipe.execute())
    return ids


def read_all(client: Any, stream: str) -> list[tuple[bytes, dict]]:
    """Every entry of ``stream`` (paged)."""
    out: list[tuple[bytes, dict]] = []
    last = "-"
    while True:
        page = client.xrange(stream, min=last, count=10_000)
        if last != "-":
            page = page[1:]
        if not page:
            return out
        out.extend(page)
        last = page[-1][0]


def output_ids(client: Any, stream: str) -> list[bytes]:
    """Input ids carried by the output stream (record or batch mode)."""
    ids: list[bytes] = []
    for _, fields in read_all(client, stream):
        if b"ids" in fields:
            ids.extend(i.encode() for i in orjson.loads(fields[b"ids"]))
        else:
            ids.append(fields[b"id"])
    return ids


def stream_cli(url: str, *args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """Start ``packflow stream`` in a child process (cwd: this folder, so ``stream_backends:X`` resolves)."""
    command = [sys.executable, "-c", "import sys; from packflow.cli import cli; sys.exit(cli())", "stream"]
    return subprocess.Popen(
        [*command, *args, "--redis-url", url],
        cwd=HERE, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )  # fmt: skip


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    """Child processes a test starts; any still running at the end are killed."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()


def load_backend(name: str, **kwargs: Any) -> Any:
    from packflow.loaders.local import LocalLoader

    return LocalLoader(f"stream_backends:{name}", base_dir=HERE).load(**kwargs)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def make_driver(url: str, backend: Any = "Poison", **kw: Any) -> Any:
    """An in-process StreamDriver reading ``in`` and writing ``out`` / ``in:dead`` (group ``g``)."""
    from packflow.runtime import Runner
    from packflow.runtime.stream import DriverOptions, StreamDriver
    from packflow.runtime.stream.redis import RedisSink, RedisSource, connect

    client = connect(url)
    source = RedisSource(
        client, kw.pop("input", "in"), "g", kw.pop("consumer", "c1"),
        start_from=kw.pop("start_from", "begin"), input_mode=kw.pop("input_mode", "record"),
        claim_idle_ms=kw.pop("claim_idle_ms", 60_000), max_deliveries=kw.pop("max_deliveries", 5),
    )  # fmt: skip
    sink = RedisSink(
        client, kw.pop("output", "out"), kw.pop("dead", "in:dead"),
        output_mode=kw.pop("output_mode", "record"), maxlen=kw.pop("maxlen", None),
    )  # fmt: skip
    batch_size = kw.pop("batch_size", 100)
    runner = Runner(load_backend(backend) if isinstance(backend, str) else backend, max_batch_size=batch_size)
    options = DriverOptions(batch_size=batch_size, max_wait_ms=kw.pop("max_wait_ms", 0), poll_ms=kw.pop("poll_ms", 100),
                            exit_when_idle=kw.pop("exit_when_idle", 0.3), **kw)
    return StreamDriver(runner, source, sink, options)


@pytest.fixture
def background() -> Iterator[Any]:
    """``background(driver)`` runs a driver on a daemon thread; stopped at teardown whatever happened."""
    import threading

    started: list[tuple[Any, threading.Thread]] = []

    def start(driver: Any) -> threading.Thread:
        thread = threading.Thread(target=driver.run, daemon=True)
        thread.start()
        started.append((driver, thread))
        return thread

    yield start
    for driver, thread in started:
        driver.options.stop_grace_s = 0
        driver.request_stop("test teardown")
        thread.join(10)


@pytest.fixture(scope="session")
def h() -> Any:
    """The helpers above, for test modules (``--import-mode=importlib`` cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        fill=fill, read_all=read_all, output_ids=output_ids, stream_cli=stream_cli,
        load_backend=load_backend, wait_for=wait_for, make_driver=make_driver,
    )  # fmt: skip
