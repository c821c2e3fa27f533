"""Cost of tracing on the clean path: Runner.process_batch per record, off vs on, and vs older code.

    .venv/bin/python benchmarks/otel_bench.py [--baseline-src /path/to/older/checkout/src]

Modes, each measured in this run (best of 7 repeats of 2,000 batches):
  off      — the default (no observer installed);
  logs     — ``--log-format json`` only: a batch id in the log context per batch;
  tracing  — the OpenTelemetry SDK with a span processor that drops spans (span creation and the
             step children, not the export);
  baseline — the same workload on the code before this change (``--baseline-src``), in a child
             process, when that tree exists.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOAD = r"""
import time, json, sys
from packflow import InferenceBackend
from packflow.runtime import Runner

class Identity(InferenceBackend):
    def execute(self, inputs):
        return inputs

def measure(batch):
    runner = Runner(Identity(), max_batch_size=batch)
    records = [{"x": i} for i in range(batch)]
    for _ in range(200):
        runner.process_batch(records)
    best = float("inf")
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(2000):
            runner.process_batch(records)
        best = min(best, (time.perf_counter() - start) / 2000)
    return best * 1e6  # µs per batch
"""


def _install(mode: str) -> None:
    from packflow.runtime import tracing

    if mode == "logs":
        from packflow.runtime._logobserver import LogObserver

        tracing.install(LogObserver())
    elif mode == "tracing":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult, SimpleSpanProcessor

        class Drop(SpanExporter):
            def export(self, spans):  # type: ignore[no-untyped-def]
                return SpanExportResult.SUCCESS

        from packflow.runtime._otel import OtelObserver

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Drop()))
        tracing.install(OtelObserver(provider))


def _child(mode: str, batch: int, src: str | None) -> float:
    env = {**os.environ, "PYTHONPATH": src or str(HERE.parent / "src")}
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r})\n{WORKLOAD}\n"
            + ("" if mode == "baseline" else f"from otel_bench import _install; _install({mode!r})\n")
            + f"print(json.dumps(measure({batch})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline-src", default="", help="src/ of another checkout to compare with (e.g. after git worktree add /tmp/before COMMIT)")
    args = parser.parse_args()
    has_baseline = bool(args.baseline_src) and (Path(args.baseline_src) / "packflow").is_dir()
    print(f"{'batch':>6} {'mode':>9} {'µs/batch':>10} {'ns/record':>10} {'vs off':>8}")
    for batch in (1, 64, 1000):
        off = _child("off", batch, None)
        modes = [("baseline", args.baseline_src)] if has_baseline else []
        rows = [("off", off), *((m, _child(m, batch, src)) for m, src in modes),
                *((m, _child(m, batch, None)) for m in ("logs", "tracing"))]
        for mode, value in rows:
            print(f"{batch:>6} {mode:>9} {value:>10.2f} {value * 1000 / batch:>10.1f} {value / off:>7.2f}×")


if __name__ == "__main__":
    main()
