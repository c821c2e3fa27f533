"""Core benchmark: this packflow vs the released packflow 0.4.1, same workloads, one run.

    .venv/bin/python benchmarks/core_bench.py [--quick]

Workloads (synthetic nested firewall-log records, generated deterministically):
  identity backend, one dict per call (rolling statistics on)        target <= 0.8x released
  records preprocessor, flatten + 5 feature names, 1,000 rows        target >= 10x faster
  numpy preprocessor, 5 feature paths, 1,000 rows                    target >= 25x faster,
                                                                     and <= 2x a bare comprehension
  `import packflow` / `from packflow import InferenceBackend`,
  fresh subprocesses                                                 target <= 0.5x released
Figures are medians of timeit-style repeats. Prints a table and the ratios; never asserts.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _released import RELEASED_VERSION, run_ours, run_released  # noqa: E402

WORKLOADS = str(HERE / "_core_workloads.py")
QUIET = {"PACKFLOW_LOG_LEVEL": "WARNING"}
IMPORT_SNIPPETS = {
    "import packflow": "import packflow",
    "from packflow import InferenceBackend": "from packflow import InferenceBackend",
}


def _import_ms(run: object, statement: str, repeats: int) -> tuple[float, float]:
    """Median (in-process import ms, whole-process wall ms) over fresh interpreters."""
    code = (
        "import time; t0 = time.perf_counter(); " + statement + "; t1 = time.perf_counter(); "
        "import json; print(json.dumps((t1 - t0) * 1000))"
    )
    inner, outer = [], []
    for _ in range(repeats):
        import time

        start = time.perf_counter()
        inner.append(float(run(["-c", code], **QUIET)))  # type: ignore[operator]
        outer.append((time.perf_counter() - start) * 1000)
    return statistics.median(inner), statistics.median(outer)


def _row(label: str, ours: float, released: float, unit: str, target: str) -> str:
    ratio = ours / released if released else float("nan")
    return f"{label:<56} {ours:>11.3f} {released:>11.3f} {unit:<3} {ratio:>7.3f}x  {1 / ratio:>7.1f}x faster   {target}"


def main() -> None:
    quick = "--quick" in sys.argv
    scale = "0.3" if quick else "1"
    repeats = 5 if quick else 15
    ours = json.loads(run_ours([WORKLOADS, scale, "--baseline"], **QUIET))
    released = json.loads(run_released([WORKLOADS, scale], **QUIET))
    imports = {
        label: (_import_ms(run_ours, stmt, repeats), _import_ms(run_released, stmt, repeats))
        for label, stmt in IMPORT_SNIPPETS.items()
    }
    print(f"packflow (this tree) vs packflow {RELEASED_VERSION} (released), medians; ratio = ours / released")
    print(f"{'workload':<56} {'ours':>11} {'released':>11}     {'ratio':>8}")
    print(_row("identity backend, 1 dict per call", ours["identity_call_s"] * 1e6, released["identity_call_s"] * 1e6, "us", "target <= 0.8x"))
    print(_row("records: flatten + 5 features, 1,000 rows", ours["records_1000_s"] * 1e3, released["records_1000_s"] * 1e3, "ms", "target >= 10x faster"))
    print(_row("numpy: 5 feature paths, 1,000 rows", ours["numpy_1000_s"] * 1e3, released["numpy_1000_s"] * 1e3, "ms", "target >= 25x faster"))
    for label, ((ours_in, ours_wall), (rel_in, rel_wall)) in imports.items():
        print(_row(f"{label} (import time)", ours_in, rel_in, "ms", "target <= 0.5x"))
        print(_row(f"{label} (whole process)", ours_wall, rel_wall, "ms", ""))
    bare = ours["bare_numpy_1000_s"]
    print(
        f"numpy preprocessor vs bare comprehension + np.array on pre-flattened rows: "
        f"{ours['numpy_1000_s'] * 1e3:.3f} ms vs {bare * 1e3:.3f} ms = {ours['numpy_1000_s'] / bare:.2f}x (target <= 2x)"
    )


if __name__ == "__main__":
    main()
