"""What the metric vocabulary costs per batch: the Runner's step-latency histograms and serve's observer.

    PYTHONPATH=src .venv/bin/python benchmarks/metrics_bench.py [--quick]

Same run, same backend (identity, two steps), alternating sides so background load hits both:
  Runner.process_batch, batch of 1 and of 64 records:
    baseline  the backend's pipeline called directly (no per-call step histograms)
    ours      each successful call's step times go into the Runner's histograms (one lock, bisect per step)
  serve's per-batch metrics work (prometheus-client objects, one worker):
    baseline  what serve did before: get_metrics() per batch (a pydantic object) and one observe per step
    ours      ServeMetrics.batch_done + call_done (the Runner's observer hooks)
Prints microseconds per batch (median of repeats) and the difference; never asserts.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable

from packflow import InferenceBackend
from packflow.runtime import Runner
from packflow.runtime.serve.metrics import ServeMetrics


class Identity(InferenceBackend):
    def transform_inputs(self, inputs):
        return inputs

    def execute(self, inputs):
        return inputs


def _per_call_us(fn: Callable[[], object], number: int, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(samples)


def _runner_sides(size: int) -> dict[str, Callable[[], object]]:
    records = [{"i": i} for i in range(size)]
    ours = Runner(Identity(), max_batch_size=size)
    base = Runner(Identity(), max_batch_size=size)
    base._invoke = base.backend._pipeline  # the Runner before the histograms: no per-call timing hook
    return {"baseline": lambda: base.process_batch(records), "ours": lambda: ours.process_batch(records)}


def _serve_sides() -> dict[str, Callable[[], object]]:
    backend = Identity()
    backend([{"i": 0}])
    names = backend._step_names
    old, new = ServeMetrics("old", "1"), ServeMetrics("new", "1")
    old_steps = {s: old._step_family.labels("old", "1", s) for s in names}

    def baseline() -> None:  # the former observe_batch: counters, then step times from get_metrics()
        old._batch.observe(64)
        old._records.inc(64)
        times = backend.get_metrics().execution_times
        for step, child in old_steps.items():
            ms = getattr(times, step, None)
            if ms is not None:
                child.observe(ms / 1000.0)

    seconds = (0.00001, 0.00002, 0.00003)[: len(names)]
    return {"baseline": baseline, "ours": lambda: (new.batch_done(64, (), 1), new.call_done(names, seconds))}


def main(quick: bool) -> None:
    number, repeats = (2_000, 5) if quick else (20_000, 7)
    cases = {"Runner, batch of 1": _runner_sides(1), "Runner, batch of 64": _runner_sides(64),
             "serve metrics per batch": _serve_sides()}
    print(f"{'case':28} {'baseline us':>12} {'ours us':>10} {'diff us':>9}")
    for name, sides in cases.items():
        figures: dict[str, list[float]] = {"baseline": [], "ours": []}
        for _ in range(3):  # alternate sides
            for side, fn in sides.items():
                figures[side].append(_per_call_us(fn, number, repeats))
        base, ours = statistics.median(figures["baseline"]), statistics.median(figures["ours"])
        print(f"{name:28} {base:12.2f} {ours:10.2f} {ours - base:+9.2f}")


if __name__ == "__main__":
    main("--quick" in sys.argv)
