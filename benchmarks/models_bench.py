"""Memory and start-up cost per model of a several-model ``packflow serve``.

Starts ``packflow serve`` with 1, 2, 4 and 8 copies of a backend (``serve_apps/identity.py``, or
``--target``), each under its own name, and measures the time from process start to
``/health/ready`` 200 and the server's resident memory (RSS, psutil) once ready. The cost of one
more model is the slope between the runs.

    python benchmarks/models_bench.py [--target identity:Identity] [--counts 1,2,4,8]

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import APPS, free_port  # noqa: E402


def ready_after(port: int, proc: subprocess.Popen, timeout: float = 120.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health/ready")
            if conn.getresponse().status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("server never became ready")


def measure(target: str, count: int) -> tuple[float, float]:
    """(seconds to ready, RSS MiB when ready) of a server with ``count`` models."""
    port = free_port()
    specs = [f"m{i}={target}" for i in range(count)] if count > 1 else [target]
    command = [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", *specs, "--port", str(port), "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")])}
    started = time.monotonic()
    proc = subprocess.Popen(command, env=env)
    try:
        ready_after(port, proc)
        seconds = time.monotonic() - started
        rss = psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return seconds, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="identity:Identity")
    parser.add_argument("--counts", default="1,2,4,8")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for count in (int(c) for c in args.counts.split(",")):
        runs = [measure(args.target, count) for _ in range(args.repeats)]
        rows.append((count, min(r[0] for r in runs), min(r[1] for r in runs)))
    print(f"models of {args.target}: start-up to ready (best of {args.repeats}) and RSS when ready")
    base = rows[0]
    for count, seconds, rss in rows:
        extra = "" if count == base[0] else (
            f"  +{(seconds - base[1]) / (count - base[0]) * 1000:.0f} ms and +{(rss - base[2]) / (count - base[0]):.1f} MiB per extra model"
        )
        print(f"  {count:>2} model(s): {seconds:6.2f} s  {rss:7.1f} MiB{extra}")


if __name__ == "__main__":
    main()
