"""Events/s of ``packflow stream --kafka-bootstrap`` against a bare confluent-kafka loop, in the same run.

    .venv/bin/python benchmarks/kafka_bench.py [--records 100000] [--batch-size 1000] [--only record,packed,eos]
        [--repeat 3] [--max-wait-ms 5]

Starts librdkafka's mock cluster (``packflow.runtime.stream.kafka_mock``, one broker, loopback) in a
child process. Inputs are pre-loaded; each consumer runs in its own process — ``packflow stream``
with an identity backend, or the bare loop a user would write (consume → orjson decode → produce
with the input's key and headers plus an input-position header, as packflow writes → flush →
synchronous commit; in a transaction for ``eos``) — and
is timed from its first output to its last (polled on the output topic's watermarks), so
interpreter start-up and the group join are not counted. Scenarios:

* ``record`` — one message per record in, one per record out;
* ``packed`` — 200 records per input message (``--input-mode batch``), one output message per batch
  and partition (``--output-mode batch``) carrying the records' input ids in a header; the bare
  loop does the same (as the Redis benchmark's bare loop does);
* ``eos``    — ``record`` with ``--exactly-once`` (one transaction per batch) vs the bare loop in a
  transaction; the ``record`` figures give the cost of exactly-once.

What each side does per batch (the same batching and the same commit-after-ack semantics):

=================  ==========================================  ==========================================
step               bare loop                                   packflow stream
=================  ==========================================  ==========================================
read               ``consume(1000, 0.5)`` (packed: 5 messages)  ``consume(1000, …)``, topped up for at most
                                                               ``--max-wait-ms`` if short (packed: sized
                                                               from records per message)
decode             ``orjson.loads`` per value                  the shared codec once per batch (exact
                                                               wide integers: one digit-run scan), dict
                                                               check; identity backend through the Runner
produce            key, input headers + an input-position      the same (header ``packflow.input``), same
                   header, partition = input partition          partition; packed: one message per batch
                                                               and partition with the ids header
acknowledge        ``flush()``, then synchronous ``commit()``  the same; plus one delivery-mark commit per
                   of last offset + 1 per partition            partition per assignment (crash isolation)
eos                one transaction per batch                   the same (``--exactly-once``)
=================  ==========================================  ==========================================

Producer settings match (``linger.ms=5``, idempotent, so ``acks=all``); both consumers read
``read_committed`` (librdkafka's default) with auto-commit off.

The mock keeps everything in memory and shares the machine's cores with both clients: figures are
relative (packflow / bare in the same run), not a statement about a real cluster's throughput.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
IDENTITY = "from packflow import InferenceBackend\n\nclass Identity(InferenceBackend):\n    def execute(self, inputs):\n        return inputs\n"

BARE = textwrap.dedent(
    """
    import sys, orjson
    from confluent_kafka import Consumer, Producer, TopicPartition
    bootstrap, source, out, group, mode, count = sys.argv[1:7]
    count = int(count)
    eos = mode == "eos"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "enable.auto.offset.store": False})
    settings = {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    if eos:
        settings["transactional.id"] = "bare-" + group
    p = Producer(settings)
    if eos:
        p.init_transactions(30)
    c.subscribe([source])
    idle = 0
    while idle < 6:
        msgs = c.consume(count, 0.5)
        if not msgs:
            idle += 1
            continue
        idle = 0
        if eos:
            p.begin_transaction()
        last = {}
        if mode == "packed":
            groups = {}
            for m in msgs:
                records = orjson.loads(m.value())
                outputs, ids = groups.setdefault(m.partition(), ([], []))
                outputs.extend(records)
                prefix = "%s:%d:%d#" % (source, m.partition(), m.offset())
                ids.extend(prefix + str(k) for k in range(len(records)))
                last[m.partition()] = m.offset()
            for part, (outputs, ids) in groups.items():
                p.produce(out, orjson.dumps(outputs), partition=part, headers=[("ids", orjson.dumps(ids))])
        else:
            for m in msgs:
                record = orjson.loads(m.value())
                headers = m.headers() or []
                headers.append(("input", "%s:%d:%d" % (source, m.partition(), m.offset())))
                p.produce(out, orjson.dumps(record), m.key(), partition=m.partition(), headers=headers)
                last[m.partition()] = m.offset()
        offsets = [TopicPartition(source, part, off + 1) for part, off in last.items()]
        if eos:
            p.send_offsets_to_transaction(offsets, c.consumer_group_metadata(), 30)
            p.commit_transaction(30)
        else:
            p.flush(30)
            c.commit(offsets=offsets, asynchronous=False)
    c.close()
    """
)


def start_mock(topics: list[str]) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, "-m", "packflow.runtime.stream.kafka_mock"]
    for topic in topics:
        args += ["--topic", topic]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())
    line = proc.stdout.readline().strip() if proc.stdout else ""
    return proc, line.split("=", 1)[1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def fill(bootstrap: str, topic: str, records: int, packed: int) -> int:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    headers = [("traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    sent = 0
    for k in range(0, records, packed):
        rows = [{"i": i, "x": i * 0.5, "name": "user-%d" % i} for i in range(k, min(k + packed, records))]
        value = orjson.dumps(rows if packed > 1 else rows[0])
        producer.produce(topic, value, str(k).encode(), headers=headers)
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)
    return sent


def count(consumer: Consumer, topic: str, partitions: int) -> int:
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in range(partitions))


def timed(proc: subprocess.Popen, watch: Consumer, topic: str, partitions: int, expected: int) -> float:
    """Seconds from the first output message to ``expected`` output messages."""
    first = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        n = count(watch, topic, partitions)
        now = time.monotonic()
        if n and first is None:
            first = now
        if n >= expected:
            proc.wait(120)
            if first is None or now - first < 0.05:
                raise RuntimeError(f"{topic}: outputs appeared too fast to time ({n} at the first poll); use more --records")
            return now - first
        if proc.poll() is not None and count(watch, topic, partitions) < expected:
            raise RuntimeError(f"consumer exited early ({proc.returncode}) with {n}/{expected} outputs")
        time.sleep(0.01)
    raise RuntimeError("timed out")


def run_one(name: str, mode: str, args: argparse.Namespace, workdir: Path) -> tuple[float, float]:
    partitions = 4
    packed = 200 if mode == "packed" else 1
    topics = [f"{name}-in-pf:{partitions}", f"{name}-out-pf:{partitions}", f"{name}-in-bare:{partitions}", f"{name}-out-bare:{partitions}", "dead:1"]
    mock, bootstrap = start_mock(topics)
    try:
        for side in ("pf", "bare"):
            sent = fill(bootstrap, f"{name}-in-{side}", args.records, packed)
        watch = Consumer({"bootstrap.servers": bootstrap, "group.id": "watch"})
        for side in ("pf", "bare"):  # the mock keeps about 5 MB per partition and drops older messages
            if any(watch.get_watermark_offsets(TopicPartition(f"{name}-in-{side}", p), timeout=5)[0] for p in range(partitions)):
                raise SystemExit("the mock cluster dropped input messages (about 5 MB per partition): use fewer --records")
        expected_pf = sent if mode != "packed" else None
        results = []
        for side in ("bare", "pf"):
            source, out = f"{name}-in-{side}", f"{name}-out-{side}"
            if side == "bare":
                per_read = max(1, args.batch_size // packed)  # the same records per batch as packflow
                proc = subprocess.Popen([sys.executable, "-c", BARE, bootstrap, source, out, "g-bare", mode, str(per_read)], env=_env())
                expected = sent if mode != "packed" else -1
            else:
                extra = {"record": [], "eos": ["--exactly-once"], "packed": ["--input-mode", "batch", "--output-mode", "batch"]}[mode]
                proc = subprocess.Popen(
                    [sys.executable, "-m", "packflow.cli", "stream", "bench_identity:Identity", "--kafka-bootstrap", bootstrap,
                     "--input-stream", source, "--output-stream", out, "--dead-letter-stream", "dead", "--group", "g-pf",
                     "--batch-size", str(args.batch_size), "--max-wait-ms", str(args.max_wait_ms), "--exit-when-idle", "3", *extra],
                    cwd=workdir, env=_env(), stderr=subprocess.DEVNULL,
                )  # fmt: skip
                expected = expected_pf if expected_pf is not None else -1
            if expected < 0:  # packed: outputs are batches; wait for the consumer to finish, time to its last output
                results.append(_timed_packed(proc, watch, out, partitions))
            else:
                results.append(timed(proc, watch, out, partitions, expected))
        watch.close()
        bare_s, pf_s = results
        return args.records / pf_s, args.records / bare_s
    finally:
        mock.communicate("quit\n", timeout=30)


def _timed_packed(proc: subprocess.Popen, watch: Consumer, topic: str, partitions: int) -> float:
    first = last = None
    seen = 0
    while proc.poll() is None:
        n = count(watch, topic, partitions)
        now = time.monotonic()
        if n and first is None:
            first = now
        if n > seen:
            seen, last = n, now
        time.sleep(0.01)
    return (last or 0) - (first or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--only", default="record,packed,eos")
    parser.add_argument("--repeat", type=int, default=3, help="runs per scenario; the median ratio is shown")
    parser.add_argument("--max-wait-ms", type=float, default=5.0, help="packflow --max-wait-ms")
    args = parser.parse_args()
    labels = {"record": "one message per record", "packed": "200 records per input message", "eos": "--exactly-once, one message per record"}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "bench_identity.py").write_text(IDENTITY)
        print(f"{'scenario':42} {'packflow ev/s':>14} {'bare ev/s':>12} {'ratio':>7}")
        figures = {}
        for mode in args.only.split(","):
            runs = sorted((run_one(mode, mode, args, workdir) for _ in range(args.repeat)), key=lambda r: r[0] / r[1])
            pf, bare = runs[len(runs) // 2]  # the run with the median ratio (the machine may be shared)
            figures[mode] = pf
            spread = f"  (ratios {', '.join(f'{p / b:.2f}' for p, b in runs)})" if len(runs) > 1 else ""
            print(f"{labels[mode]:42} {pf:14,.0f} {bare:12,.0f} {pf / bare:6.2f}x{spread}", flush=True)
        if "record" in figures and "eos" in figures:
            print(f"cost of --exactly-once: {figures['eos'] / figures['record']:.2f}x the at-least-once rate")


if __name__ == "__main__":
    main()
