"""Core benchmark: this packflow vs the released packflow 0.4.1, same workloads, one run.

    .venv/bin/python benchmarks/core_bench.py [--quick]

Workloads (synthetic nested firewall-log records, generated deterministically):
  identity backend, one dict per call (rolling statistics on)        target <= 0.8x released
  records preprocessor, flatten + 5 feature names, 1,000 rows        target >= 10x faster
  numpy preprocessor, 5 feature paths, 1,000 rows                    target >= 25x faster,
                                                                     and <= 2x a bare comprehension
  `import packflow` / `from packflow import InferenceBackend`,
  fresh subprocesses                                                 target <= 0.5x released
Figures are medians of timeit-style repeats (7 repeats per run; 3 runs per side, alternating
ours / released so background load hits both alike). Prints a table and the ratios; never asserts.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _released import RELEASED_VERSION, run_ours, run_released  # noqa: E402

WORKLOADS = str(HERE / "_core_workloads.py")
QUIET = {"PACKFLOW_LOG_LEVEL": "WARNING"}
IMPORT_SNIPPETS = {
    "import packflow": "import packflow",
    "from packflow import InferenceBackend": "from packflow import InferenceBackend",
    "import + define + construct a backend": (
        "from packflow import InferenceBackend\n"
        "class B(InferenceBackend):\n    def execute(self, inputs):\n        return inputs\n"
        "B()"
    ),
}


def _import_ms(statement: str, repeats: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """Medians of (in-process import ms, whole-process wall ms) for (ours, released).

    Fresh interpreters, alternating ours / released so that load from other work hits both alike.
    """
    code = "import time\nt0 = time.perf_counter()\n" + statement + "\nt1 = time.perf_counter()\nprint((t1 - t0) * 1000)"
    samples: dict[str, tuple[list[float], list[float]]] = {"ours": ([], []), "released": ([], [])}
    for _ in range(repeats):
        for side, run in (("ours", run_ours), ("released", run_released)):
            start = time.perf_counter()
            inner = float(run(["-c", code], **QUIET).split()[-1])
            samples[side][1].append((time.perf_counter() - start) * 1000)
            samples[side][0].append(inner)
    ours, released = samples["ours"], samples["released"]
    return (
        (statistics.median(ours[0]), statistics.median(ours[1])),
        (statistics.median(released[0]), statistics.median(released[1])),
    )


def _workloads(scale: str, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Per-metric medians over ``rounds`` alternating runs of the workload script on each side."""
    ours_runs, released_runs = [], []
    for _ in range(rounds):
        ours_runs.append(json.loads(run_ours([WORKLOADS, scale, "--baseline"], **QUIET)))
        released_runs.append(json.loads(run_released([WORKLOADS, scale], **QUIET)))

    def medians(runs: list[dict[str, float]]) -> dict[str, float]:
        return {key: statistics.median(run[key] for run in runs) for key in runs[0]}

    return medians(ours_runs), medians(released_runs)


def _row(label: str, ours: float, released: float, unit: str, target: str) -> str:
    ratio = ours / released if released else float("nan")
    return f"{label:<56} {ours:>11.3f} {released:>11.3f} {unit:<3} {ratio:>7.3f}x  {1 / ratio:>7.1f}x faster   {target}"


def main() -> None:
    quick = "--quick" in sys.argv
    scale = "0.3" if quick else "1"
    repeats = 5 if quick else 15
    ours, released = _workloads(scale, 1 if quick else 3)
    imports = {label: _import_ms(stmt, repeats) for label, stmt in IMPORT_SNIPPETS.items()}
    print(f"packflow (this tree) vs packflow {RELEASED_VERSION} (released), medians; ratio = ours / released")
    print(f"{'workload':<56} {'ours':>11} {'released':>11}     {'ratio':>8}")
    print(_row("identity backend, 1 dict per call", ours["identity_call_s"] * 1e6, released["identity_call_s"] * 1e6, "us", "target <= 0.8x"))
    print(_row("records: flatten + 5 features, 1,000 rows", ours["records_1000_s"] * 1e3, released["records_1000_s"] * 1e3, "ms", "target >= 10x faster"))
    print(_row("numpy: 5 feature paths, 1,000 rows", ours["numpy_1000_s"] * 1e3, released["numpy_1000_s"] * 1e3, "ms", "target >= 25x faster"))
    for label, ((ours_in, ours_wall), (rel_in, rel_wall)) in imports.items():
        target = "target <= 0.5x" if label == "import packflow" else "(for information)"
        print(_row(f"{label} (import time)", ours_in, rel_in, "ms", target))
        print(_row(f"{label} (whole process)", ours_wall, rel_wall, "ms", ""))
    bare = ours["bare_numpy_1000_s"]
    print(
        f"numpy preprocessor vs bare comprehension + np.array on pre-flattened rows: "
        f"{ours['numpy_1000_s'] * 1e3:.3f} ms vs {bare * 1e3:.3f} ms = {ours['numpy_1000_s'] / bare:.2f}x (target <= 2x)"
    )
    with_q, without_q = ours["numpy_1000_quality_s"], ours["numpy_1000_no_quality_s"]
    print(
        f"numpy preprocessor, data-quality counting on vs off (clean path, interleaved): {with_q * 1e3:.3f} ms vs "
        f"{without_q * 1e3:.3f} ms = {(with_q / without_q - 1) * 100:+.1f}% (target <= +10%)"
    )


if __name__ == "__main__":
    main()
