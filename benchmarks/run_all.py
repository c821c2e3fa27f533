"""Run every ``benchmarks/*_bench.py`` script in turn (``make bench``); exit non-zero if one fails."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    scripts = sorted(p for p in HERE.glob("*_bench.py") if not wanted or p.stem in wanted or p.name in wanted)
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)], cwd=str(HERE.parent))
        print(f"=== {script.name}: exit {code} in {time.perf_counter() - start:.1f} s ===", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"\nFailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
