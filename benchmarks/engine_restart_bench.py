"""How long serve's ``--workers N`` isolation takes when a record kills the engine process.

One ``BackendProcess`` (the engine behind each worker of ``packflow serve --workers N``) runs a
batch of ``--batch`` records of which one calls ``os._exit``, three ways, in alternating rounds:

- ``bisect``: the 0.5 behaviour — the failure is retried by bisection and every engine death is
  followed by a synchronous engine start (about ``log2(batch) + 1`` deaths);
- ``one-by-one``: the failing batch is retried one record at a time (2 deaths), synchronous starts;
- ``one-by-one + spare`` (what serve does): the first death starts the replacement and a spare side
  by side; the killer's death swaps in the spare.

The backend sleeps ``--load-s`` in ``initialize()`` to stand for loading a model (default 0.5 s;
0 measures bare interpreter + packflow start). Prints the seconds until the batch's results are
known (best and median of the rounds) and the ratios to ``bisect``. Figures only; nothing is
asserted.

    .venv/bin/python benchmarks/engine_restart_bench.py [--batch 64] [--rounds 3] [--load-s 0.5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

BACKEND = '''
import os, time
from packflow import InferenceBackend

class Killer(InferenceBackend):
    def initialize(self):
        time.sleep(float(os.environ.get("ENGINE_BENCH_LOAD_S", "0")))

    def execute(self, inputs):
        if any(r.get("kill") for r in inputs):
            os._exit(3)
        return inputs
'''


class _Plain(RuntimeError):
    """A process death as an ordinary failure: the Runner bisects it (the 0.5 behaviour)."""


def _bisecting(engine):
    from packflow.runtime.serve.engine import BackendProcessDied

    def call(records):
        try:
            return engine(records)
        except BackendProcessDied as exc:
            raise _Plain(str(exc)) from None

    return call


def _once(way: str, batch: int) -> tuple[float, int]:
    from packflow.loaders.target import resolve_target
    from packflow.runtime import Runner, is_dead_letter
    from packflow.runtime.serve.engine import BackendProcess

    engine = BackendProcess(resolve_target("engine_bench_backend:Killer"), {}, spare=way.endswith("spare"))
    try:
        records = [{"i": i} for i in range(batch)]
        records[batch // 3]["kill"] = True
        backend = _bisecting(engine) if way == "bisect" else engine
        start = time.perf_counter()
        results = Runner(backend, max_batch_size=batch).process_batch(records)  # type: ignore[arg-type]
        took = time.perf_counter() - start
        assert [i for i, r in enumerate(results) if is_dead_letter(r)] == [batch // 3], "isolation went wrong"
        return took, engine.restarts
    finally:
        engine.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load-s", type=float, default=0.5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    (folder / "engine_bench_backend.py").write_text(textwrap.dedent(BACKEND))
    sys.path.insert(0, str(folder))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(folder), *sys.path])
    os.environ["ENGINE_BENCH_LOAD_S"] = str(args.load_s)
    ways = ["bisect", "one-by-one", "one-by-one + spare"]
    times: dict[str, list[float]] = {way: [] for way in ways}
    deaths: dict[str, int] = {}
    for _ in range(args.rounds):
        for way in ways:
            took, deaths[way] = _once(way, args.batch)
            times[way].append(took)
    base = statistics.median(times["bisect"])
    print(f"batch {args.batch}, one os._exit record, initialize() {args.load_s:g} s, {args.rounds} rounds, {os.cpu_count()} CPUs")
    print(f"{'way':<20} {'deaths':>6} {'best s':>8} {'median s':>9} {'vs bisect':>10}")
    for way in ways:
        median = statistics.median(times[way])
        print(f"{way:<20} {deaths[way]:>6} {min(times[way]):>8.2f} {median:>9.2f} {median / base:>9.2f}x")


if __name__ == "__main__":
    main()
