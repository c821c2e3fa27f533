"""End-to-end events/s of ``packflow stream`` against a bare redis-py consumer loop, in the same run.

    .venv/bin/python benchmarks/stream_bench.py [--records 200000] [--batch-size 1000] [--only record,batch-out,packed,two]
    .venv/bin/python benchmarks/stream_bench.py --baseline-src /tmp/before/src   # + another tree's packflow

Starts its own redis-server (no persistence) on a free loopback port. Records are pre-loaded in
the input stream; each consumer (``packflow stream`` with an identity backend, or the bare loop:
XREADGROUP → orjson decode → XADD → XACK in one pipeline, same COUNT) runs in its own process and
is timed from its first output (and, with two consumers, from when both have started reading) to
the moment the group has nothing left (lag 0, pending 0), so interpreter start-up is not counted. Scenarios:

* ``record``    — one entry per record in, one per record out;
* ``batch-out`` — one entry per record in, one output entry per batch (``--output-mode batch``);
* ``packed``    — 1,000 records packed per input entry, one output entry per batch
                  (``--input-mode batch --output-mode batch``);
* ``two``       — ``record`` with two packflow processes in one group vs one;
* ``two-packed`` — ``packed`` with two packflow processes vs one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import orjson
import redis

IDENTITY = textwrap.dedent(
    """
    from packflow import InferenceBackend

    class Identity(InferenceBackend):
        def execute(self, inputs):
            return inputs
    """
)

# The baseline a user would write with redis-py; ``mode`` picks the output/input shape.
BARE = textwrap.dedent(
    """
    import sys, orjson, redis
    url, mode, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    r = redis.Redis.from_url(url)
    while True:
        reply = r.xreadgroup("g", "bare", {"in": ">"}, count=count, block=500)
        if not reply:
            break
        for _stream, entries in reply:
            ids = [eid for eid, _ in entries]
            pipe = r.pipeline(transaction=False)
            if mode == "record":
                for eid, fields in entries:
                    record = orjson.loads(fields[b"data"])
                    pipe.xadd("out", {"data": orjson.dumps(record), "id": eid})
            elif mode == "batch-out":
                outputs = [orjson.loads(fields[b"data"]) for _, fields in entries]
                pipe.xadd("out", {"data": orjson.dumps(outputs), "ids": orjson.dumps([i.decode() for i in ids]),
                                  "count": len(outputs)})
            else:  # packed: each entry holds a JSON array of records
                outputs, out_ids = [], []
                for eid, fields in entries:
                    records = orjson.loads(fields[b"data"])
                    outputs.extend(records)
                    prefix = eid.decode() + "#"
                    out_ids.extend(prefix + str(k) for k in range(len(records)))
                pipe.xadd("out", {"data": orjson.dumps(outputs), "ids": orjson.dumps(out_ids), "count": len(outputs)})
            pipe.xack("in", "g", *ids)
            pipe.execute()
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(directory: str) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: apt-get install redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("redis-server did not start")


def preload(client: redis.Redis, records: int, per_entry: int) -> None:
    client.flushall()
    record = {"id": 0, "x": 1.5, "name": "sensor-a", "tags": ["a", "b"]}
    pipe = client.pipeline(transaction=False)
    for start in range(0, records, per_entry):
        if per_entry == 1:
            record["id"] = start
            pipe.xadd("in", {"data": orjson.dumps(record)})
        else:
            pipe.xadd("in", {"data": orjson.dumps([{**record, "id": start + k} for k in range(per_entry)])})
        if len(pipe) >= 5000:
            pipe.execute()
    pipe.execute()
    client.xgroup_create("in", "g", id="0")


def written(client: redis.Redis, batched: bool) -> int:
    if not batched:
        return client.xlen("out")
    return sum(int(fields[b"count"]) for _, fields in client.xrange("out"))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    client: redis.Redis, procs: list[subprocess.Popen], records: int, batched: bool, server_pid: int
) -> tuple[float, float, float]:
    """Records/s from the first output to an empty group (lag 0, pending 0), redis-server's cores used,
    and records per CPU-second of the consumer processes (robust to other load on the machine)."""
    deadline = time.monotonic() + 600
    while not client.exists("out") or len(client.xinfo_consumers("in", "g")) < len(procs):
        if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
            raise RuntimeError("no output appeared: " + " ".join(p.stderr.read() if p.stderr else "" for p in procs))
        time.sleep(0.0005)
    t0, n0, cpu0 = time.perf_counter(), written(client, batched), cpu_seconds(server_pid)
    own0 = sum(cpu_seconds(p.pid) for p in procs)
    while True:
        group = client.xinfo_groups("in")[0]
        if group["lag"] == 0 and group["pending"] == 0:
            break
        time.sleep(0.002)
    elapsed = time.perf_counter() - t0
    redis_cores = (cpu_seconds(server_pid) - cpu0) / elapsed
    own = max(sum(cpu_seconds(p.pid) for p in procs) - own0, 1e-6)
    for p in procs:
        p.wait(60)
    return (records - n0) / elapsed, redis_cores, (records - n0) / own


def run_packflow(url: str, workdir: str, extra: list[str], consumers: int, batch: int, src: str | None = None) -> list[subprocess.Popen]:
    base = [sys.executable, "-c", "import sys; from packflow.cli import cli; sys.exit(cli())", "stream", "bench_backend:Identity",
            "--redis-url", url, "--input-stream", "in", "--output-stream", "out", "--group", "g",
            "--batch-size", str(batch), "--max-pending", str(max(batch, 10_000)), "--exit-when-idle", "0.5", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": src} if src else None
    return [
        subprocess.Popen([*base, "--consumer", f"c{i}"], cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, env=env)
        for i in range(consumers)
    ]


def scenario(
    client: redis.Redis, url: str, workdir: str, name: str, args: argparse.Namespace, server_pid: int
) -> dict[str, tuple[float, float, float]]:
    packed = name in ("packed", "two-packed")
    per_entry = 1000 if packed else 1
    records = args.records * {"packed": 10, "two": 4, "two-packed": 20}.get(name, 1)
    count = args.batch_size // per_entry or 1
    mode = {"two": "record", "two-packed": "packed"}.get(name, name)
    flags = {"record": [], "two": [], "batch-out": ["--output-mode", "batch"],
             "packed": ["--input-mode", "batch", "--output-mode", "batch"]}[mode]  # fmt: skip
    batched = mode in ("batch-out", "packed")
    results: dict[str, tuple[float, float, float]] = {}
    if name.startswith("two"):
        runs: list[tuple[str, int | None]] = [("packflow x1", 1), ("packflow x2", 2)]
    else:
        runs = [("bare", None), ("packflow", 1)] + ([("packflow baseline", 1)] if args.baseline_src else [])
    for label, consumers in runs:
        best = (0.0, 0.0, 0.0)
        for _ in range(args.repeat):
            preload(client, records, per_entry)
            if consumers is None:
                procs = [subprocess.Popen([sys.executable, "-c", BARE, url, mode, str(count)], stderr=subprocess.PIPE, text=True)]
            else:
                src = args.baseline_src if label.endswith("baseline") else None
                procs = run_packflow(url, workdir, flags, consumers, args.batch_size, src)
            got = measure(client, procs, records, batched, server_pid)
            best = (max(best[0], got[0]), got[1] if got[0] > best[0] else best[1], max(best[2], got[2]))
        results[label] = best
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=200_000, help="records per run (x10 for 'packed')")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per variant; the best is reported")
    parser.add_argument("--only", default="record,batch-out,packed,two,two-packed")
    parser.add_argument("--baseline-src", default=None, help="also run packflow imported from this src directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        Path(workdir, "bench_backend.py").write_text(IDENTITY)
        server, url = start_redis(workdir)
        client = redis.Redis.from_url(url)
        try:
            print(f"cores: {os.cpu_count()}, batch size {args.batch_size}, best of {args.repeat}")
            for name in args.only.split(","):
                res = scenario(client, url, workdir, name, args, server.pid)
                line = "  ".join(
                    f"{k}: {rate:,.0f}/s, {per_cpu:,.0f}/CPU-s (redis {cores:.2f} cores)" for k, (rate, cores, per_cpu) in res.items()
                )
                if "bare" in res:
                    line += f"  ratio packflow/bare: {res['packflow'][0] / res['bare'][0]:.2f}"
                if "packflow baseline" in res:
                    ours, before = res["packflow"], res["packflow baseline"]
                    line += f"  this tree/baseline: {ours[0] / before[0]:.3f} (per CPU-s {ours[2] / before[2]:.3f})"
                else:
                    line += f"  scaling x2/x1: {res['packflow x2'][0] / res['packflow x1'][0]:.2f}"
                print(f"{name:<10} {line}", flush=True)
        finally:
            client.flushall()
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
