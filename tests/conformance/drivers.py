"""The columns of the conformance matrix: one small adapter per driver, registered in ``DRIVERS``.

An adapter sends a scenario's records through its driver the way a user would (a real CLI
subprocess, a real socket, a real redis-server) and reports what came out as an
:class:`Observed`: the output bytes written per record id, and the dead letters per record id.
Adding a driver means adding an adapter here (and to ``DRIVERS``), nothing else.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from packflow.runtime import DeadLetter, Runner, codec
from tests.conformance.scenarios import Scenario

HERE = Path(__file__).resolve().parent
TARGET = "conformance_backend:Conformance"
CLI = [sys.executable, "-c", "from packflow.cli import cli; cli()"]
REQUEST_TIMEOUT_S = 10.0  # a killer costs its batch-mates ~one engine start (2 deaths, a spare): slow on a loaded machine
NOT_KEPT = object()  # a driver whose protocol does not return the record (serve answers the client)
#: Scenarios serve gets one request per record: a bad body is a 400 for its whole request, and a
#: killed worker or a timeout fails the requests it holds.
PER_REQUEST = {"nan_input", "process_killing", "hanging_record"}
WARM_UP = 64  # sequential fast requests before the hanging one (serve once ran fast batches on its loop)


@dataclass
class Observed:
    """What a driver produced for one scenario, by record id (lists: duplicates would show)."""

    outputs: dict[int, list[bytes]] = field(default_factory=dict)
    dead: dict[int, list[tuple[str, str, Any]]] = field(default_factory=dict)
    healthy: bool = True
    note: str = ""

    def output(self, i: int, data: bytes) -> None:
        self.outputs.setdefault(i, []).append(data)

    def dead_letter(self, i: int, step: str, error_type: str, record: Any) -> None:
        self.dead.setdefault(i, []).append((step, error_type, record))


class Driver:
    """A column: ``run(scenario)`` -> :class:`Observed`; ``skip``/``xfail`` say which cells do not apply."""

    name: ClassVar[str] = ""
    #: scenario -> why the driver does not promise this outcome (documented in docs/guarantees.md).
    skip: ClassVar[dict[str, str]] = {}
    #: scenario -> the branch whose fix makes the cell pass (strict xfail until it is merged).
    xfail: ClassVar[dict[str, str]] = {}

    def start(self, workdir: Path, redis_url: str | None) -> None:
        self.workdir = workdir
        self.redis_url = redis_url

    def run(self, scenario: Scenario) -> Observed:
        raise NotImplementedError

    def stop(self) -> None:
        """Release processes and sessions."""


def _record_of(record: Any) -> Any:
    """A dead letter's record as the test compares it: bytes decoded like the driver read them."""
    if isinstance(record, (bytes, bytearray)):
        try:
            return codec.decode(record)
        except codec.DecodeError:
            return bytes(record).decode()
    return record


# -- Runner (in-process, with the codec at its edges, as a driver uses it) -------------------------


class RunnerColumn(Driver):
    name = "Runner"
    skip = {
        "process_killing": "in-process: os._exit ends the caller's process; only supervising drivers (serve, stream) can isolate it",
        "hanging_record": "in-process: the Runner has no per-call timeout; a hanging call blocks its caller (serve bounds it)",
    }

    def run(self, scenario: Scenario) -> Observed:
        from tests.conformance.conformance_backend import Conformance

        seen = Observed()
        ids, lines = [], []
        for i, line in enumerate(scenario.lines):
            try:
                codec.decode_record(line)
                ids.append(i)
                lines.append(line)
            except codec.DecodeError as exc:
                seen.dead_letter(i, "decode", type(exc).__name__, line.decode())
        records = codec.decode_many(lines)
        results = Runner(Conformance(), max_batch_size=64).process_batch_counted(
            records, fresh=lambda lo, hi: codec.decode_many(lines[lo:hi]))[0]
        for i, result in zip(ids, results):
            if type(result) is DeadLetter:
                seen.dead_letter(i, result.step, result.error_type, result.record)
                continue
            try:
                seen.output(i, codec.encode(result))
            except codec.EncodeError as exc:
                seen.dead_letter(i, "encode", type(exc).__name__, codec.decode(scenario.lines[i]))
        return seen


# -- packflow run (a CLI subprocess per scenario) ----------------------------------------------------


class RunColumn(Driver):
    name = "run"
    skip = {
        "process_killing": "one process: a record that kills it ends the run (its exit code); re-run dead input with packflow replay",
        "hanging_record": "no per-record timeout: a hanging call blocks the run (bound it with timeout(1))",
    }

    def run(self, scenario: Scenario) -> Observed:
        folder = self.workdir / f"run-{scenario.name}"
        folder.mkdir()
        (folder / "in.jsonl").write_bytes(b"\n".join(scenario.lines) + b"\n")
        done = subprocess.run(
            [*CLI, "run", TARGET, "--input", str(folder / "in.jsonl"), "--output", str(folder / "out.jsonl"),
             "--dead-letters", str(folder / "dead.jsonl"), "--batch-size", "64", "--no-progress"],
            cwd=HERE, capture_output=True, timeout=60,
        )  # fmt: skip
        seen = Observed(healthy=done.returncode in (0, 3), note=done.stderr.decode()[-2000:])
        for line in (folder / "out.jsonl").read_bytes().splitlines():
            seen.output(codec.decode(line)["id"], line)
        for line in (folder / "dead.jsonl").read_bytes().splitlines():
            dead = codec.decode(line)
            seen.dead_letter(dead["source"] - 1, dead["step"], dead["error_type"], dead["record"])
        return seen


# -- packflow serve (a server process per column, requests over a real socket) ----------------------


class ServeColumn(Driver):
    workers: ClassVar[int] = 1
    options: ClassVar[tuple[str, ...]] = ()

    def start(self, workdir: Path, redis_url: str | None) -> None:
        super().start(workdir, redis_url)
        self.proc: subprocess.Popen | None = None
        self._launch()

    def _launch(self) -> None:
        from tests.stream.conftest import free_port

        self.port = free_port()
        self.log = open(self.workdir / f"serve-{self.workers}-{self.port}.log", "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*CLI, "serve", TARGET, "--port", str(self.port), "--workers", str(self.workers),
             "--request-timeout-s", str(REQUEST_TIMEOUT_S), "--max-batch-size", "64", "--graceful-timeout-s", "2",
             *self.options],
            cwd=HERE, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self._status("/health/ready", 2.0)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"packflow serve did not become ready:\n{self._log()}")

    def _log(self) -> str:
        self.log.flush()
        return (self.workdir / Path(self.log.name).name).read_text()[-3000:]

    def _request(self, method: str, path: str, body: bytes | None, timeout: float) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            return 0, repr(exc).encode()
        finally:
            conn.close()

    def _status(self, path: str, timeout: float) -> tuple[int, float]:
        start = time.monotonic()
        status, _ = self._request("GET", path, None, timeout)
        return status, time.monotonic() - start

    def run(self, scenario: Scenario) -> Observed:
        if self.proc is None or self.proc.poll() is not None or self._status("/health/ready", 2.0)[0] != 200:
            self.stop()
            self._launch()  # the previous scenario left it dead or stuck
        seen = Observed()
        if scenario.name == "hanging_record":
            return self._run_hang(scenario, seen)
        if scenario.name in PER_REQUEST:
            with concurrent.futures.ThreadPoolExecutor(len(scenario.lines)) as pool:
                answers = list(pool.map(lambda line: self._request("POST", "/invoke", line, 30.0), scenario.lines))
            for i, (status, body) in enumerate(answers):
                self._record(seen, i, status, body)
        else:
            self._run_array(scenario, seen)
        live = self._status("/health/live", 5.0)[0]
        seen.healthy = live == 200 and self.proc is not None and self.proc.poll() is None
        seen.note = self._log()
        if scenario.name == "process_killing" and seen.healthy:  # the engine isolated it, no timeout did
            named = {d[1] for i in scenario.dead for d in seen.dead.get(i, [])}
            if named != {"BackendProcessDied"}:
                seen.healthy, seen.note = False, f"the killer was answered {named}, not BackendProcessDied\n{seen.note}"
        return seen

    def _run_array(self, scenario: Scenario, seen: Observed) -> None:
        """All records in one request (one batch, so isolation is exercised deterministically).

        A failed record's position holds an error entry. The body must be exactly the codec's
        encoding of its items, so each output's bytes are ``codec.encode`` of the item.
        """
        status, body = self._request("POST", "/invoke", b"[" + b",".join(scenario.lines) + b"]", 30.0)
        if status != 200:
            for i in range(len(scenario.lines)):
                self._record(seen, i, status, body)
            return
        items = codec.decode(body)
        if body != b"[" + b",".join(map(codec.encode, items)) + b"]":
            seen.healthy, seen.note = False, f"the body is not the codec's encoding of its items: {body[:300]!r}"
        for i, item in enumerate(items):
            if isinstance(item, dict) and "error" in item:
                self._record(seen, i, 500, codec.encode(item))
            else:
                seen.output(i, codec.encode(item))

    def _run_hang(self, scenario: Scenario, seen: Observed) -> Observed:
        """Warm up (enough fast batches to reach any fast path), innocent records, then the hanging
        one alone, probing liveness while it hangs."""
        for n in range(WARM_UP):
            self._request("POST", "/invoke", codec.encode({"id": 100 + n, "x": n}), 10.0)
        others = [i for i in range(len(scenario.lines)) if i not in scenario.dead]
        with concurrent.futures.ThreadPoolExecutor(len(others) + 1) as pool:
            for i, answer in zip(others, pool.map(lambda i: self._request("POST", "/invoke", scenario.lines[i], 30.0), others)):
                self._record(seen, i, *answer)
            (bad,) = scenario.dead
            hang = pool.submit(self._request, "POST", "/invoke", scenario.lines[bad], REQUEST_TIMEOUT_S + 10)
            time.sleep(0.5)
            probes = [self._status("/health/live", 5.0) for _ in range(8)]  # new connections: every worker
            live, took = max(probes, key=lambda p: (p[0] != 200, p[1]))
            status, body = hang.result()
        self._record(seen, bad, status, body)
        seen.healthy = live == 200 and took < 0.1 and self.proc is not None and self.proc.poll() is None
        seen.note = f"live={live} in {took:.3f}s\n{self._log()}"
        return seen

    @staticmethod
    def _record(seen: Observed, i: int, status: int, body: bytes) -> None:
        """HTTP answers as outcomes: 200 output, 400 a decode dead letter, 504 timeout, else the error entry."""
        if status == 200:
            seen.output(i, body)
        elif status == 400:
            seen.dead_letter(i, "decode", "DecodeError", NOT_KEPT)
        elif status == 504:
            seen.dead_letter(i, "timeout", "RequestTimeout", NOT_KEPT)
        else:
            try:
                error = json.loads(body)["error"]
                seen.dead_letter(i, error.get("step", "deliver"), error.get("type", "?"), NOT_KEPT)
            except (ValueError, KeyError, TypeError):
                seen.dead_letter(i, "deliver", f"HTTP {status}", NOT_KEPT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        self.proc = None


class Serve1Column(ServeColumn):
    name = "serve-1"
    workers = 1
    xfail = {
        "process_killing": "by default one worker runs the backend in the server process, so os._exit ends the "
                           "server (--isolate-process, the serve-1-isolated column, isolates it)",
    }


class Serve2Column(ServeColumn):
    name = "serve-2"
    workers = 2


class Serve1IsolatedColumn(ServeColumn):
    name = "serve-1-isolated"
    workers = 1
    options = ("--isolate-process",)  # one worker, the backend in an engine child as with several


# -- packflow stream on a real redis-server (a consumer process per scenario, restarted if killed) ----


class StreamColumn(Driver):
    name = "stream"
    skip = {"hanging_record": "no per-record timeout: a hanging call blocks the consumer; its entries stay pending for another consumer"}
    MAX_DELIVERIES = 2

    def run(self, scenario: Scenario) -> Observed:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        keys = [f"conf:{scenario.name}:{kind}" for kind in ("in", "out", "dead")]
        ids = [client.xadd(keys[0], {"data": line}) for line in scenario.lines]
        codes = self._consume(keys)
        seen = Observed(healthy=codes[-1] in (0, 3), note=f"exit codes {codes}")
        where = {entry_id: i for i, entry_id in enumerate(ids)}
        for _, fields in client.xrange(keys[1]):
            seen.output(where[fields[b"id"]], fields[b"data"])
        for _, fields in client.xrange(keys[2]):
            seen.dead_letter(where[fields[b"id"]], fields[b"step"].decode(), fields[b"error_type"].decode(),
                             _record_of(fields[b"data"]))
        client.close()
        return seen

    def _consume(self, keys: list[str]) -> list[int]:
        """Run the consumer until it exits by itself (restarting it when a record kills it), bounded."""
        codes: list[int] = []
        return _restart_until_done(
            [*CLI, "stream", TARGET, "--redis-url", self.redis_url, "--input-stream", keys[0],
             "--output-stream", keys[1], "--dead-letter-stream", keys[2], "--consumer", "conformance",
             "--exit-when-idle", "0.5", "--batch-size", "64", "--max-deliveries", str(self.MAX_DELIVERIES),
             "--no-status"],
            self.MAX_DELIVERIES + 3, codes,
        )  # fmt: skip


# -- packflow stream on Kafka (one librdkafka mock cluster per session, a consumer process per scenario) --


class KafkaColumn(Driver):
    name = "kafka"
    skip = {"hanging_record": "no per-record timeout: a hanging call blocks the consumer; its partition waits for it (or its next owner)"}
    MAX_DELIVERIES = 2  # 1 would dead-letter the killer's innocent batch-mates too: each was started once
    #: librdkafka settings that keep a restart quick: a killed member leaves the group after 3 s.
    FAST_GROUP = ("--kafka-config", "consumer.session.timeout.ms=3000", "--kafka-config", "consumer.heartbeat.interval.ms=500")

    def start(self, workdir: Path, redis_url: str | None) -> None:
        super().start(workdir, redis_url)
        self.mock = subprocess.Popen(
            [sys.executable, "-m", "packflow.runtime.stream.kafka_mock"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        line = self.mock.stdout.readline().strip() if self.mock.stdout else ""
        if not line.startswith("bootstrap.servers="):
            self.stop()
            raise RuntimeError(f"the Kafka mock cluster did not start: {line!r}")
        self.bootstrap = line.split("=", 1)[1]

    def _command(self, line: str) -> None:
        assert self.mock.stdin is not None and self.mock.stdout is not None
        self.mock.stdin.write(line + "\n")
        self.mock.stdin.flush()
        reply = self.mock.stdout.readline().strip()
        if reply != "ok":
            raise RuntimeError(f"the Kafka mock cluster refused {line!r}: {reply}")

    def run(self, scenario: Scenario) -> Observed:
        import confluent_kafka as ck

        topics = [f"conf.{scenario.name}.{kind}" for kind in ("in", "out", "dead")]
        for topic in topics:
            self._command(f"topic {topic} 1")  # one partition: record i is the message at offset i
        producer = ck.Producer({"bootstrap.servers": self.bootstrap})
        for i, line in enumerate(scenario.lines):
            producer.produce(topics[0], line, str(i).encode())
        producer.flush(30)
        codes = self._consume(topics, scenario.name)
        seen = Observed(healthy=codes[-1] in (0, 3), note=f"exit codes {codes}")
        for m in self._read(topics[1]):
            seen.output(int(_header(m, "packflow.input").rsplit(":", 1)[1]), m.value())
        for m in self._read(topics[2]):
            seen.dead_letter(int(_header(m, "packflow.offset")), _header(m, "packflow.step"),
                             _header(m, "packflow.error_type"), _record_of(m.value()))
        return seen

    def _consume(self, topics: list[str], group: str) -> list[int]:
        """Run the consumer until it exits by itself (restarting it when a record kills it), bounded."""
        codes: list[int] = []
        return _restart_until_done(
            [*CLI, "stream", TARGET, "--kafka-bootstrap", self.bootstrap, "--input-stream", topics[0],
             "--output-stream", topics[1], "--dead-letter-stream", topics[2], "--group", group,
             "--consumer", "conformance", "--exit-when-idle", "0.5", "--batch-size", "64",
             "--max-deliveries", str(self.MAX_DELIVERIES), "--no-status", *self.FAST_GROUP],
            self.MAX_DELIVERIES + 3, codes,
        )  # fmt: skip

    def _read(self, topic: str) -> list[Any]:
        """Every message of a one-partition topic, up to its high watermark."""
        import confluent_kafka as ck

        consumer = ck.Consumer({"bootstrap.servers": self.bootstrap, "group.id": "conformance-reader", "enable.auto.commit": False})
        try:
            end = consumer.get_watermark_offsets(ck.TopicPartition(topic, 0), timeout=10)[1]
            consumer.assign([ck.TopicPartition(topic, 0, 0)])
            out: list[Any] = []
            deadline = time.monotonic() + 30
            while len(out) < end and time.monotonic() < deadline:
                out.extend(m for m in consumer.consume(100, 0.2) if m.error() is None)
            if len(out) < end:
                raise TimeoutError(f"read {len(out)} of {end} messages of {topic!r}")
            return out
        finally:
            consumer.close()

    def stop(self) -> None:
        if getattr(self, "mock", None) is not None and self.mock.poll() is None:
            try:
                self.mock.communicate("quit\n", timeout=10)
            except subprocess.TimeoutExpired:
                self.mock.kill()
                self.mock.wait()


def _header(message: Any, name: str) -> str:
    """A packflow header of a Kafka message, as text."""
    for key, value in message.headers() or []:
        if key == name:
            return value.decode()
    raise KeyError(f"the message has no {name!r} header: {message.headers()}")


# -- Ray and Spark in local mode (packflow run --engine, in this process: one session per column) -----


class EngineColumn(Driver):
    engine: ClassVar[str] = ""
    skip = {
        "process_killing": "a record that kills a worker process is the engine's to retry; the job fails when retries run out",
        "hanging_record": "no per-record timeout: a hanging call stalls its task (use the engine's task timeouts)",
    }

    def start(self, workdir: Path, redis_url: str | None) -> None:
        super().start(workdir, redis_url)
        self.project = workdir / f"project-{self.engine}"
        self.project.mkdir()
        (self.project / "inference.py").write_bytes((HERE / "conformance_backend.py").read_bytes())
        (self.project / "packflow.yaml").write_text(json.dumps(
            {"name": "conformance", "version": "0.1.0", "inference_backend": "inference:Conformance"}))
        self.session = self._start_session()

    def run(self, scenario: Scenario) -> Observed:
        from packflow.runtime.integrations import run_with_engine

        folder = self.workdir / f"{self.engine}-{scenario.name}"
        folder.mkdir()
        (folder / "in.jsonl").write_bytes(b"\n".join(scenario.lines) + b"\n")
        run_with_engine(self.engine, str(self.project), str(folder / "in.jsonl"), str(folder / "out.jsonl"),
                        str(folder / "dead.jsonl"), batch_size=64)
        seen = Observed()
        for line in (folder / "out.jsonl").read_bytes().splitlines():
            seen.output(codec.decode(line)["id"], line)
        texts = [line.decode() for line in scenario.lines]
        for line in (folder / "dead.jsonl").read_bytes().splitlines():
            dead = codec.decode(line)
            record = dead["record"]
            i = record["id"] if isinstance(record, dict) else texts.index(record)
            seen.dead_letter(i, dead["step"], dead["error_type"], record)
        return seen


class RayColumn(EngineColumn):
    name = "ray"
    engine = "ray"

    def _start_session(self) -> Any:
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        return ray

    def stop(self) -> None:
        self.session.shutdown()


class SparkColumn(EngineColumn):
    name = "spark"
    engine = "spark"

    def _start_session(self) -> Any:
        from pyspark.sql import SparkSession

        os.environ["PYSPARK_PYTHON"] = sys.executable
        session = (SparkSession.builder.master("local[2]").appName("packflow-conformance")
                   .config("spark.ui.enabled", "false").config("spark.driver.memory", "1g").getOrCreate())
        session.sparkContext.setLogLevel("ERROR")
        return session

    def stop(self) -> None:
        self.session.stop()


#: The columns, in order. A new driver is one adapter class above and one entry here.
DRIVERS: list[type[Driver]] = [
    RunnerColumn, RunColumn, Serve1Column, Serve1IsolatedColumn, Serve2Column, StreamColumn, RayColumn, SparkColumn,
    KafkaColumn,
]


def _restart_until_done(args: list[str], attempts: int, codes: list[int]) -> list[int]:
    """Run a stream consumer, restarting it (as a supervisor would) until it exits 0 or 3; the exit codes."""
    for _ in range(attempts):
        done = subprocess.run(args, cwd=HERE, capture_output=True, timeout=60)
        codes.append(done.returncode)
        if done.returncode in (0, 3):
            break
    return codes
