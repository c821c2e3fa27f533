"""Benchmarks of the Runner and ``packflow run`` (issue 3). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/run_bench.py              # 1,000,000 records, 3 repeats
    .venv/bin/python benchmarks/run_bench.py --records 200000 --repeats 1   # quicker
    .venv/bin/python benchmarks/run_bench.py --baseline-src /tmp/before/src   # + another tree's packflow

1. Throughput of ``packflow run`` (identity backend, batch 1,000) over N JSON lines, against two
   bare Python loops over the same file in the same run: (a) read a line, ``orjson.loads``,
   ``orjson.dumps``, write; (b) the same a batch of 1,000 lines at a time with one write per
   batch. Each loop runs with and without ``MALLOC_TRIM_THRESHOLD_`` and the best is the baseline.
   Every contender runs as a fresh process writing to /dev/null; best of ``--repeats``.
2. Isolation overhead: one 1,000-record batch with one poison record vs a clean batch — backend
   calls made and time (median of 50), with and without the failing record's index.
3. Peak RSS of ``packflow run`` over N/10 and N records (``wait4`` rusage of the child).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
PACKFLOW = [str(Path(sys.executable).with_name("packflow"))]

IDENTITY = '''
from packflow import InferenceBackend

class Identity(InferenceBackend):
    def execute(self, inputs):
        return inputs
'''

BARE_PER_RECORD = '''
import sys, orjson
loads, dumps = orjson.loads, orjson.dumps
with open(sys.argv[1], "rb") as f, open("/dev/null", "wb") as out:
    for line in f:
        out.write(dumps(loads(line)) + b"\\n")
'''

BARE_BATCHED = '''
import itertools, sys, orjson
loads, dumps = orjson.loads, orjson.dumps
with open(sys.argv[1], "rb") as f, open("/dev/null", "wb") as out:
    while lines := list(itertools.islice(f, 1000)):
        records = list(map(loads, lines))
        out.write(b"\\n".join(map(dumps, records)) + b"\\n")
'''


def make_records(path: Path, n: int) -> None:
    """Firewall-log-like records (~110 bytes each), deterministic."""
    rng = random.Random(0)
    with path.open("wb") as out:
        for start in range(0, n, 10_000):
            out.write(b"".join(
                orjson.dumps({
                    "id": i, "src": {"ip": f"10.0.{i % 256}.{i % 200}", "port": 1024 + i % 50_000},
                    "dst_port": rng.choice((22, 53, 80, 443)), "bytes": rng.randint(1, 10**6),
                    "packets": rng.randint(1, 1000), "action": "allow",
                }) + b"\n"
                for i in range(start, min(n, start + 10_000))
            ))


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{cmd} exited with {proc.returncode}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def bench_throughput(work: Path, data: Path, n: int, repeats: int, baseline_src: str | None = None) -> None:
    print(f"\n## Throughput: {n:,} records, batch 1,000 (best of {repeats}, wall time of a fresh process)")
    (work / "bare_a.py").write_text(BARE_PER_RECORD)
    (work / "bare_b.py").write_text(BARE_BATCHED)
    plain = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    trimmed = {**plain, "MALLOC_TRIM_THRESHOLD_": str(32 << 20)}
    metrics = work / "metrics.json"
    contenders: dict[str, tuple[list[str], dict[str, str]]] = {}
    for label, script in (("bare loop, per record", "bare_a.py"), ("bare loop, batch of 1,000", "bare_b.py")):
        for env_label, env in (("", plain), (" + MALLOC_TRIM_THRESHOLD_", trimmed)):
            contenders[label + env_label] = ([sys.executable, str(work / script), str(data)], env)
    contenders["packflow run"] = ([*PACKFLOW, "run", "bench_identity:Identity", "-i", str(data), "-o", "/dev/null",
                                   "-b", "1000", "--no-progress", "--metrics-json", str(metrics)], plain)
    if baseline_src:  # the same command with another source tree's packflow first on the path
        contenders["packflow run, baseline tree"] = (contenders["packflow run"][0], {**plain, "PYTHONPATH": baseline_src})
    best = {label: float("inf") for label in contenders}
    cpu = {label: float("inf") for label in contenders}
    inner = 0.0
    for _ in range(repeats):  # round-robin, so load from other processes hits every contender alike
        for label, (cmd, env) in contenders.items():
            wall_s, _, cpu_s = timed(cmd, env, work)
            best[label], cpu[label] = min(best[label], wall_s), min(cpu[label], cpu_s)
            if label == "packflow run":
                inner = max(inner, json.loads(metrics.read_text())["records_per_s"])
    rates = {label: n / seconds for label, seconds in best.items()}
    wall = rates.pop("packflow run")
    before = rates.pop("packflow run, baseline tree", None)
    baseline = max(rates.values())
    for label, rate in rates.items():
        print(f"{label:<52}{rate:>12,.0f} rec/s")
    print(f"{'packflow run (process wall time, incl. ~0.17 s start-up)':<52}{wall:>12,.0f} rec/s"
          f"   {wall / baseline:.2f}x the best bare loop")
    print(f"{'packflow run (from its --metrics-json, best run)':<52}{inner:>12,.0f} rec/s   {inner / baseline:.2f}x")
    if before is not None:
        print(f"{'packflow run, baseline tree (process wall time)':<52}{before:>12,.0f} rec/s"
              f"   this tree / baseline: {wall / before:.3f}")
        ours, theirs = n / cpu["packflow run"], n / cpu["packflow run, baseline tree"]
        print(f"{'per CPU-second: this tree, baseline tree':<52}{ours:>12,.0f} / {theirs:,.0f} rec/CPU-s"
              f"   this tree / baseline: {ours / theirs:.3f}")


def bench_isolation() -> None:
    from packflow import InferenceBackend
    from packflow.runtime import Runner

    class Poisonable(InferenceBackend):
        def execute(self, inputs):
            for index, record in enumerate(inputs):
                if record.get("poison"):
                    error = ValueError("poison record")
                    if record.get("say_where"):
                        error.record_index = index  # type: ignore[attr-defined]
                    raise error
            return inputs

    print("\n## Isolation: one 1,000-record batch (median of 50)")
    clean = [{"id": i, "x": i * 0.5} for i in range(1000)]
    for label, poison in (("clean batch", None), ("1 poison record", {}), ("1 poison record, index known", {"say_where": 1})):
        runner = Runner(Poisonable(), max_batch_size=1000)
        times = []
        rng = random.Random(1)
        for _ in range(50):
            batch = [dict(r) for r in clean]
            if poison is not None:
                batch[rng.randrange(1000)].update(poison=True, **poison)
            started = time.perf_counter()
            runner.process_batch(batch)
            times.append(time.perf_counter() - started)
        snap = runner.snapshot()
        print(f"{label:<32}{snap.backend_calls / 50:>8.1f} calls/batch{statistics.median(times) * 1e3:>10.3f} ms"
              f"   dead letters: {snap.dead_letters}")


def bench_rss(work: Path, data: Path, n: int) -> None:
    small = work / "small.jsonl"
    with data.open("rb") as src, small.open("wb") as dst:
        for _, line in zip(range(n // 10), src):
            dst.write(line)
    print("\n## Peak RSS of packflow run (identity backend, batch 1,000)")
    for count, path in ((n // 10, small), (n, data)):
        cmd = [*PACKFLOW, "run", "bench_identity:Identity", "-i", str(path), "-o", "/dev/null", "-b", "1000",
               "--no-progress"]
        _, rss, _ = timed(cmd, cwd=work)
        print(f"{count:>12,} records   peak RSS {rss / 1024:8.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-src", default=None, help="also time packflow imported from this src directory")
    parser.add_argument("--only-throughput", action="store_true", help="skip the isolation and RSS sections")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; figures are noisy on a shared machine")
    with tempfile.TemporaryDirectory(prefix="packflow-run-bench-") as tmp:
        work = Path(tmp)
        (work / "bench_identity.py").write_text(IDENTITY)
        data = work / "records.jsonl"
        make_records(data, args.records)
        bench_throughput(work, data, args.records, args.repeats, args.baseline_src)
        if not args.only_throughput:
            bench_isolation()
            bench_rss(work, data, args.records)


if __name__ == "__main__":
    main()
