"""The same traffic through every driver, and what each one's metrics say about it (real subprocesses).

Each function runs a real ``packflow`` CLI process on the project :func:`write_project` makes, sends
:data:`TRAFFIC` (20 records, one poisoned), and returns the driver's metrics as :data:`Families`
(parsed with ``prometheus_client.parser`` from a real scrape, or read from ``--metrics-json``) and
the number of batches the driver itself reported.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from tests.stream.conftest import free_port

CLI = [sys.executable, "-c", "import sys; from packflow.cli import cli; sys.exit(cli())"]
NAME, VERSION = "scorer", "1.4.0"
POISON = 7
TRAFFIC = [{"id": i, "x": i, **({"poison": True} if i == POISON else {})} for i in range(20)]
#: family name -> (type, {(sample name, sorted label items): value})
Families = dict[str, tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]]
BACKEND = '''
from packflow import InferenceBackend


class Backend(InferenceBackend):
    def execute(self, inputs):
        if any(r.get("poison") for r in inputs):
            raise ValueError("poison record")
        return [{"id": r["id"], "y": 2 * r["x"]} for r in inputs]
'''


def write_project(root: Path) -> Path:
    """A project named scorer 1.4.0 whose backend counts three configured fields."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "inference.py").write_text(BACKEND)
    (root / "packflow.yaml").write_text(
        f"name: {NAME}\nversion: {VERSION}\ninference_backend: inference:Backend\n"
        "backend_config:\n  feature_names: [id, x, poison]\n"
    )
    return root


def parse_exposition(text: str) -> Families:
    """Every ``packflow_*`` family of a Prometheus text exposition (``_created`` samples left out)."""
    from prometheus_client.parser import text_string_to_metric_families

    families: Families = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("packflow_"):
            samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples
                       if not s.name.endswith("_created")}
            families[family.name] = (family.type, samples)
    return families


def parse_json(metrics: dict[str, Any]) -> Families:
    """The ``metrics`` object of ``run --metrics-json`` in the same shape."""
    return {
        name: (family["type"], {(s["name"], tuple(sorted(s["labels"].items()))): float(s["value"]) for s in family["samples"]})
        for name, family in metrics.items()
    }


def _scrape(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()


def _records_seen(text: str) -> float:
    found = parse_exposition(text).get("packflow_records", ("", {}))[1]
    return sum(found.values())


def _wait(predicate: Callable[[], bool], proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the process exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the driver never reported the traffic in its metrics")


def _end(proc: subprocess.Popen) -> str:
    """Stop ``proc`` (SIGTERM if still running) and return its stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    return err


def through_serve(project: Path, workdir: Path) -> tuple[Families, int]:
    """One POST /invoke of the 20 records to a real ``packflow serve``; its /metrics and /stats."""
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", str(project), "--port", str(port), "--max-batch-size", "64"],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2).status == 200, proc)
        body = json.dumps(TRAFFIC).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invoke", body, {"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
        assert "error" in answer[POISON] and answer[0] == {"id": 0, "y": 0}
        text = _scrape(port)
        stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5).read())
    finally:
        _end(proc)
    return parse_exposition(text), stats["batches"]


def through_run(project: Path, workdir: Path) -> tuple[Families, int]:
    """``packflow run`` on a file of the 20 records; its ``--metrics-json``."""
    source = workdir / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in TRAFFIC))
    done = subprocess.run([*CLI, "run", str(project), "-i", str(source), "-o", str(workdir / "out.jsonl"),
                           "--dead-letters", str(workdir / "dead.jsonl"), "-b", "64", "--metrics-json",
                           str(workdir / "m.json"), "--no-progress"], cwd=workdir, capture_output=True, timeout=120)
    assert done.returncode == 3, done.stderr.decode()  # 3: some records were dead-lettered
    summary = json.loads((workdir / "m.json").read_text())
    return parse_json(summary["metrics"]), summary["runner"]["batches"]


def _stream(args: list[str], workdir: Path, feed: Callable[[], None]) -> tuple[Families, int]:
    port = free_port()
    proc = subprocess.Popen([*CLI, "stream", *args, "--batch-size", "64", "--metrics-port", str(port),
                             "--exit-when-idle", "3", "--no-status"],
                            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    try:
        feed()
        texts: list[str] = []

        def done() -> bool:  # every record counted, and the monitor has sampled the broker once
            texts.append(_scrape(port))
            return _records_seen(texts[-1]) >= len(TRAFFIC) and "packflow_stream_lag" in parse_exposition(texts[-1])

        _wait(done, proc)
    finally:
        err = _end(proc)
    batches = re.search(r"([\d,]+) batches", err)
    assert proc.returncode == 0 and batches, err
    return parse_exposition(texts[-1]), int(batches.group(1).replace(",", ""))


def through_redis(project: Path, workdir: Path, redis_url: str) -> tuple[Families, int]:
    """``packflow stream`` on a real redis-server holding the 20 records; a scrape of --metrics-port."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete("mv:in", "mv:out", "mv:in:dead")
    for record in TRAFFIC:
        client.xadd("mv:in", {"data": json.dumps(record)})
    client.close()
    args = [str(project), "--redis-url", redis_url, "--input-stream", "mv:in", "--output-stream", "mv:out", "--group", "g"]
    return _stream(args, workdir, lambda: None)


def through_kafka(project: Path, workdir: Path, cluster: Any) -> tuple[Families, int]:
    """``packflow stream`` on the librdkafka mock cluster (one partition); a scrape of --metrics-port."""
    topics = cluster.topic("in", 1), cluster.topic("out", 1), cluster.topic("dead", 1)
    args = [str(project), "--input-stream", topics[0], "--output-stream", topics[1], "--dead-letter-stream", topics[2],
            "--group", "g", "--kafka-bootstrap", cluster.bootstrap,
            "--kafka-config", "consumer.session.timeout.ms=3000", "--kafka-config", "consumer.heartbeat.interval.ms=500"]
    return _stream(args, workdir, lambda: cluster.produce(topics[0], [json.dumps(r).encode() for r in TRAFFIC]))
