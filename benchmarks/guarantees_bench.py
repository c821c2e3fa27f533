"""Cost of the issue-10 guarantees on the clean path. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/guarantees_bench.py                 # 3 rounds
    .venv/bin/python benchmarks/guarantees_bench.py --ref main --rounds 5

"Before" is the source of ``--ref`` (default ``main``) extracted with ``git archive`` into a
temporary folder; "after" is this working tree. The same workloads run in fresh child processes,
alternating before/after each round; the best round of each is printed.

1. Runner clean path: identity backend, batches of 64 small records, ``process_batch_counted``.
2. ``run`` (``run_jsonl``) over N JSON lines in memory, identity backend, batch 256: decode with
   the big-integer scan, ``fresh=`` plumbing, encode.
3. The same input where every line holds a >64-bit integer (after: exact stdlib path; before:
   orjson turned them into floats — the cost of being right).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = r'''
import io, json, sys, time
from packflow import InferenceBackend
from packflow.runtime import Runner
from packflow.runtime.jsonl import JsonLinesReader, JsonLinesWriter, run_jsonl

class Identity(InferenceBackend):
    def execute(self, inputs):
        return inputs

def best(fn, repeats=3):
    return min(fn() for _ in range(repeats))

def runner_clean():
    runner = Runner(Identity(), max_batch_size=64)
    batch = [{"id": i, "x": i * 0.5, "name": "abc", "tags": [1, 2]} for i in range(64)]
    call = runner.process_batch_counted
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        call(batch)
    return (time.perf_counter() - start) / (n * 64)

def jsonl(data):
    def once():
        out = io.BytesIO()
        start = time.perf_counter()
        run_jsonl(Runner(Identity(), max_batch_size=256), JsonLinesReader(io.BytesIO(data), 256),
                  JsonLinesWriter(out), lambda dead: None)
        return (time.perf_counter() - start) / data.count(b"\n")
    return once

n = int(sys.argv[1])
plain = b"".join(b'{"id":%d,"x":%d.5,"user":"u%d","tags":["a","b"],"nested":{"k":%d}}\n' % (i, i, i % 97, i) for i in range(n))
wide = b"".join(b'{"id":%d,"x":%d.5,"big":%d}\n' % (i, i, 2**64 + i) for i in range(n))
print(json.dumps({
    "runner_clean": 1 / best(runner_clean),
    "run_jsonl": 1 / best(jsonl(plain)),
    "run_jsonl_wide_ints": 1 / best(jsonl(wide)),
}))
'''


def _extract(ref: str, into: Path) -> Path:
    archive = into / "src.tar"
    with open(archive, "wb") as handle:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src/packflow"], stdout=handle, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _measure(src: Path, records: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(records)], env=env, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", default="main", help="git ref of the 'before' source")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before_src = _extract(args.ref, Path(tmp))
        rounds: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            rounds["before"].append(_measure(before_src, args.records))
            rounds["after"].append(_measure(ROOT / "src", args.records))
    print(f"records/s, best of {args.rounds} alternating rounds; before = {args.ref}, after = this tree")
    print(f"{'workload':<22}{'before':>14}{'after':>14}{'change':>9}")
    for key in rounds["after"][0]:
        before = max(r[key] for r in rounds["before"])
        after = max(r[key] for r in rounds["after"])
        print(f"{key:<22}{before:>14,.0f}{after:>14,.0f}{(after / before - 1) * 100:>+8.1f}%")


if __name__ == "__main__":
    main()
