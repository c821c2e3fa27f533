"""Fixtures for the Kafka tests: a librdkafka mock cluster in a child process, or a real cluster.

Every test that takes ``kafka`` runs twice: on a fresh mock cluster (``packflow.runtime.stream.kafka_mock``
started as a subprocess, stopped at teardown) and on the cluster named by ``PACKFLOW_KAFKA_BOOTSTRAP``
(skipped, and reported as skipped, when the variable is unset). Topics get unique names per test,
so a real cluster can be shared.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

ck = pytest.importorskip("confluent_kafka", reason="needs the packflow[kafka] extra")

HERE = Path(__file__).parent
BACKENDS = HERE.parent / "stream"  # stream_backends.py, shared with the Redis tests
REAL = os.environ.get("PACKFLOW_KAFKA_BOOTSTRAP")


class Cluster:
    """A Kafka cluster for one test: topics, producing inputs, reading results, committed offsets."""

    def __init__(self, kind: str, bootstrap: str, mock: subprocess.Popen | None = None) -> None:
        self.kind, self.bootstrap, self.mock = kind, bootstrap, mock
        self.prefix = f"t{uuid.uuid4().hex[:8]}"

    # -- topics and data ------------------------------------------------------------------------

    def topic(self, name: str, partitions: int = 4) -> str:
        full = f"{self.prefix}.{name}"
        if self.mock is not None:
            self.command(f"topic {full} {partitions}")
        else:
            from confluent_kafka.admin import AdminClient, NewTopic

            admin = AdminClient({"bootstrap.servers": self.bootstrap})
            for future in admin.create_topics([NewTopic(full, partitions, 1)]).values():
                future.result(30)
        return full

    def command(self, line: str) -> None:
        assert self.mock is not None and self.mock.stdin is not None and self.mock.stdout is not None
        self.mock.stdin.write(line + "\n")
        self.mock.stdin.flush()
        reply = self.mock.stdout.readline().strip()
        assert reply == "ok", f"mock cluster refused {line!r}: {reply}"

    def produce(self, topic: str, values: list[bytes | None], keys: list | None = None, headers: Any = None) -> None:
        producer = ck.Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        for i, value in enumerate(values):
            key = keys[i] if keys is not None else str(i).encode()
            producer.produce(topic, value, key, headers=headers)
            if i % 10_000 == 0:
                producer.poll(0)
        assert producer.flush(30) == 0

    def fill(self, topic: str, n: int, poison_every: int = 0, **extra: Any) -> None:
        """Records ``{"i": k}`` (every ``poison_every``-th one poisoned), key ``str(k)``, one header."""
        values = [
            json.dumps({"i": k, "poison": bool(poison_every) and k % poison_every == poison_every - 1, **extra}).encode()
            for k in range(n)
        ]
        self.produce(topic, values, headers=[("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")])

    def read(self, topic: str, isolation: str = "read_committed", timeout: float = 30.0) -> list[Any]:
        """Every message of ``topic`` (all partitions, from the start, up to the high watermarks)."""
        consumer = ck.Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
            "isolation.level": isolation, "enable.auto.commit": False, "enable.partition.eof": False,
        })  # fmt: skip
        try:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            parts = sorted(meta.partitions)
            ends = {p: consumer.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10)[1] for p in parts}
            consumer.assign([ck.TopicPartition(topic, p, 0) for p in parts])
            out: list[Any] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                out.extend(m for m in consumer.consume(10_000, 0.2) if m.error() is None)
                # the position passes transaction markers too (they are never returned as messages)
                positions = consumer.position([ck.TopicPartition(topic, p) for p in parts])
                if all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions):
                    return out
            return out
        finally:
            consumer.close()

    def end_offsets(self, topic: str) -> dict[int, int]:
        consumer = ck.Consumer({"bootstrap.servers": self.bootstrap, "group.id": "watermarks"})
        try:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            return {p: consumer.get_watermark_offsets(ck.TopicPartition(topic, p), timeout=10)[1] for p in parts}
        finally:
            consumer.close()

    def count(self, topic: str) -> int:
        return sum(self.end_offsets(topic).values())

    def committed(self, group: str, topic: str) -> dict[int, tuple[int, str | None]]:
        consumer = ck.Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            tps = consumer.committed([ck.TopicPartition(topic, p) for p in parts], timeout=10)
            return {tp.partition: (tp.offset, tp.metadata) for tp in tps}
        finally:
            consumer.close()

    def stop(self) -> None:
        if self.mock is not None and self.mock.poll() is None:
            try:
                self.mock.communicate("quit\n", timeout=10)
            except subprocess.TimeoutExpired:
                self.mock.kill()
                self.mock.wait()


def start_mock(brokers: int = 1) -> Cluster:
    proc = subprocess.Popen(
        [sys.executable, "-m", "packflow.runtime.stream.kafka_mock", "--brokers", str(brokers)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("bootstrap.servers="):
        proc.kill()
        raise RuntimeError(f"the mock cluster did not start: {line!r}")
    return Cluster("mock", line.split("=", 1)[1], proc)


@pytest.fixture(params=["mock", "real"])
def kafka(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A fresh mock cluster, or the real one named by PACKFLOW_KAFKA_BOOTSTRAP."""
    if request.param == "real":
        if not REAL:
            pytest.skip("set PACKFLOW_KAFKA_BOOTSTRAP=HOST:PORT to run this test against a real Kafka cluster")
        cluster = Cluster("real", REAL)
    else:
        cluster = start_mock(brokers=getattr(request, "brokers", 1))
    yield cluster
    cluster.stop()


def stream_cli(cluster: Cluster, *args: str, env: dict[str, str] | None = None, cwd: Path = BACKENDS) -> subprocess.Popen:
    """``packflow stream`` on Kafka in a child process (cwd: the stream backends' folder, or ``cwd``)."""
    command = [sys.executable, "-c", "import sys; from packflow.cli import cli; sys.exit(cli())", "stream"]
    fast_group = ("--kafka-config", "consumer.session.timeout.ms=3000", "--kafka-config", "consumer.heartbeat.interval.ms=500")
    return subprocess.Popen(
        [*command, *args, "--kafka-bootstrap", cluster.bootstrap, *fast_group],
        cwd=cwd, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
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


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def header(m: Any, name: str) -> bytes | None:
    for k, v in m.headers() or []:
        if k == name:
            return v
    return None


def input_ids(outputs: list[Any], dead: list[Any]) -> Counter:
    """Counter of input ids (``topic:partition:offset[#i]``) over outputs and dead letters."""
    ids: list[str] = []
    for m in outputs:
        one = header(m, "packflow.input")
        ids.extend([one.decode()] if one is not None else json.loads(header(m, "packflow.inputs") or b"[]"))
    for m in dead:
        base = f"{header(m, 'packflow.topic').decode()}:{header(m, 'packflow.partition').decode()}:{header(m, 'packflow.offset').decode()}"
        index = header(m, "packflow.index")
        ids.append(base + (f"#{index.decode()}" if index is not None else ""))
    return Counter(ids)


def all_ids(topic: str, ends: dict[int, int]) -> Counter:
    return Counter(f"{topic}:{p}:{o}" for p, end in ends.items() for o in range(end))


@pytest.fixture(scope="session")
def k() -> Any:
    """The helpers above, for test modules (``--import-mode=importlib`` cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        stream_cli=stream_cli, wait_for=wait_for, header=header, input_ids=input_ids, all_ids=all_ids,
        start_mock=start_mock, here=HERE,
    )  # fmt: skip
