"""Cost of the status page's server-side history (``GET /stats/history``) against the work it sits beside.

The history takes every model's ``Runner.snapshot()`` once a second. This measures, in one run:

- the baseline: one ``Runner.process_batch`` of 64 records through a small backend (the unit of
  work a server does many times a second);
- one history sample with 1 and 4 models, after 2,000 batches (rolling windows full), in µs and as
  a share of one core at one sample per second;
- the memory the 300 kept samples per model hold (tracemalloc).

    python benchmarks/status_history_bench.py [--repeat 2000]

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

from packflow import InferenceBackend
from packflow.runtime.runner import Runner
from packflow.runtime.serve.history import PERIOD_S, SAMPLES, StatsHistory


class Doubler(InferenceBackend):
    def execute(self, inputs):
        return [{"y": 2 * r.get("x", 0)} for r in inputs]


def warmed_runner(batches: int) -> Runner:
    runner = Runner(Doubler(feature_names=["x", "z"]), max_batch_size=64)
    records = [{"x": i, "z": i} for i in range(64)]
    for _ in range(batches):
        runner.process_batch(records)
    return runner


def per_call_us(func, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        func()
    return (time.perf_counter() - start) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    runner = warmed_runner(2000)
    records = [{"x": i, "z": i} for i in range(64)]
    batch_us = per_call_us(lambda: runner.process_batch(records), args.repeat)
    print(f"baseline: Runner.process_batch(64 records)      {batch_us:8.1f} µs")
    for models in (1, 4):
        runners = {f"m{i}": warmed_runner(2000) for i in range(models)}
        history = StatsHistory({n: (lambda r=r: r.snapshot().to_dict()) for n, r in runners.items()})
        sample_us = per_call_us(history.sample, args.repeat // 4)
        share = sample_us / 1e6 / PERIOD_S * 100
        print(f"history sample, {models} model(s)                 {sample_us:8.1f} µs "
              f"= {sample_us / batch_us:.2f} batches, {share:.3f} % of a core at 1/s")
        fresh = StatsHistory(history.snapshots)
        tracemalloc.start()
        for i in range(SAMPLES):
            fresh.sample(now=float(i))
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(f"memory of {SAMPLES} samples, {models} model(s)            {held / 1024:8.0f} KiB")


if __name__ == "__main__":
    main()
