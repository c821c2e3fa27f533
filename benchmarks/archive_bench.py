"""Archive verify and load times on a ~20 MB archive: the code before issue 15 vs this tree, same run.

    .venv/bin/python benchmarks/archive_bench.py                 # baseline = commit 7237919 (before issue 15)
    .venv/bin/python benchmarks/archive_bench.py --baseline REF  # any other git ref

Both contenders run in fresh processes against the same archive (a template project plus an
18 MiB incompressible weights file and 200 small modules). For each: ``verify_archive`` (best of
5), a cold ``extract_verified`` into an empty cache (best of 3), and a warm one on the populated
cache (median of 30), plus a warm ``InferenceBackendLoader.from_archive`` (median of 30). The
baseline trusts a warm cache after re-hashing its project files against the *cached* manifest
(and hashes the whole archive to find the cache key); this tree reads the manifest from the
archive, keys the cache by the manifest's SHA-256, and re-hashes every extracted file on every
load. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "7237919"
CHILD = r'''
import json, os, statistics, sys, time
from pathlib import Path
from packflow.archive import extract_verified, verify_archive
from packflow.loaders.base import InferenceBackendLoader

archive, work = Path(sys.argv[1]), Path(sys.argv[2])

def timed(fn):
    start = time.perf_counter(); fn(); return (time.perf_counter() - start) * 1000

verify = min(timed(lambda: verify_archive(archive)) for _ in range(5))
cold = min(timed(lambda i=i: extract_verified(archive, cache_dir=work / f"cold{i}")) for i in range(3))
warm_dir = work / "cold0"
warm = statistics.median(timed(lambda: extract_verified(archive, cache_dir=warm_dir)) for _ in range(30))
os.environ["PACKFLOW_CACHE_DIR"] = str(work / "env")
InferenceBackendLoader.from_archive(archive)
load = statistics.median(timed(lambda: InferenceBackendLoader.from_archive(archive)) for _ in range(30))
print(json.dumps({"verify_ms": verify, "cold_ms": cold, "warm_ms": warm, "warm_from_archive_ms": load}))
'''


def build_archive(work: Path) -> Path:
    """A template project with 18 MiB of random weights and 200 small modules, exported with this tree."""
    sys.path.insert(0, str(ROOT / "src"))
    from packflow.project import PackflowProject

    project = PackflowProject.create("bench", parent_dir=work / "src")
    (project.base_dir / "weights.bin").write_bytes(os.urandom(18 << 20))
    pkg = project.base_dir / "helpers"
    pkg.mkdir()
    for i in range(200):
        (pkg / f"mod_{i:03d}.py").write_text(f"VALUE = {i}\n" + "# padding\n" * 800)
    return project.export(work / "dist")


def baseline_tree(ref: str, work: Path) -> Path:
    dest = work / "baseline"
    dest.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src/packflow"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def measure(src: Path, archive: Path, work: Path) -> dict[str, float]:
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(archive), str(work)], capture_output=True, text=True,
                         env=env, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _remove(path: Path) -> None:
    for dirpath, _, _ in os.walk(path):
        os.chmod(dirpath, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help="git ref of the code to compare against")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="packflow-archive-bench-"))
    try:
        archive = build_archive(work)
        size = archive.stat().st_size / 1e6
        before = measure(baseline_tree(args.baseline, work), archive, work / "run-before")
        after = measure(ROOT / "src", archive, work / "run-after")
    finally:
        _remove(work)
    print(f"archive: {size:.1f} MB, {len(before)} measures; baseline {args.baseline} vs this tree\n")
    print(f"{'measure':<26}{'before (ms)':>14}{'after (ms)':>14}{'after/before':>14}")
    for key in before:
        print(f"{key:<26}{before[key]:>14.1f}{after[key]:>14.1f}{after[key] / before[key]:>13.2f}x")


if __name__ == "__main__":
    main()
