"""Ray Data and Spark vs a plain single-process Runner on nested records (identity and numpy row-sum).

Prints records/s for each engine and backend next to the Runner measured in the same run, and each
engine's fixed start-up cost (engine start, then a 1,000-record job). Run:

    .venv/bin/python benchmarks/cluster_bench.py --records 1000000

Needs ``packflow[ray,spark]`` and Java 17. Figures on a shared machine are noisy: compare the
ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = [f"f{i}" for i in range(8)]
SOURCE = '''
from packflow import InferenceBackend


class Identity(InferenceBackend):
    def execute(self, inputs):
        return inputs


class RowSum(InferenceBackend):
    def execute(self, inputs):
        return inputs.sum(axis=1)

    def transform_outputs(self, outputs):
        return [{"sum": value} for value in outputs.tolist()]
'''
ROWSUM = {"input_format": "numpy", "feature_names": [f"features.{f}" for f in FEATURES]}


def make_table(n: int, start: int = 0) -> pa.Table:
    ids = list(range(start, start + n))
    features = {f: [float((i * (k + 1)) % 97) for i in ids] for k, f in enumerate(FEATURES)}
    return pa.table({
        "id": ids,
        "src": pa.StructArray.from_arrays([pa.array([f"10.0.{i % 256}.{i % 7}" for i in ids]),
                                           pa.array([i % 65536 for i in ids])], names=["ip", "port"]),
        "features": pa.StructArray.from_arrays([pa.array(v) for v in features.values()], names=FEATURES),
    })


def write_inputs(folder: Path, n: int, files: int = 8) -> Path:
    data = folder / "records"
    data.mkdir()
    step = -(-n // files)
    for part, start in enumerate(range(0, n, step)):
        pq.write_table(make_table(min(step, n - start), start), data / f"part-{part:03d}.parquet")
    return data


def write_projects(folder: Path) -> dict[str, str]:
    projects = {}
    for name, config in (("Identity", {}), ("RowSum", ROWSUM)):
        root = folder / name.lower()
        root.mkdir()
        (root / "inference.py").write_text(SOURCE)
        (root / "packflow.yaml").write_text(json.dumps({"name": name.lower(), "inference_backend": f"inference:{name}",
                                                        "backend_config": config}))
        projects[name] = str(root)
    return projects


def output_schema(name: str) -> pa.Schema:
    return make_table(1).schema if name == "Identity" else pa.schema([("sum", pa.float64())])


def bench_runner(data: Path, project: str, batch_size: int) -> float:
    """Parquet → Arrow → records → Runner → Arrow, in one process (what an engine worker does)."""
    from packflow.loaders.target import load_target
    from packflow.runtime import Runner

    runner = Runner(load_target(project), max_batch_size=batch_size, max_wait_ms=0)
    start, rows = time.perf_counter(), 0
    for part in sorted(data.iterdir()):
        for batch in pq.ParquetFile(part).iter_batches(batch_size=batch_size * 16):
            records = batch.to_pylist()
            pa.Table.from_pylist(runner.process_batch(records))
            rows += len(records)
    return rows / (time.perf_counter() - start)


def bench_ray(data: Path, small: Path, projects: dict[str, str], batch_size: int) -> dict[str, float]:
    import ray

    from packflow.runtime.integrations.ray_data import map_dataset

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    results = {"engine_start_s": time.perf_counter() - t0}

    def job(path: Path, name: str) -> tuple[int, float]:
        start = time.perf_counter()
        ds = map_dataset(ray.data.read_parquet(str(path)), projects[name], batch_size=batch_size, concurrency=2,
                         num_cpus=0.5, output_schema=output_schema(name))
        rows = sum(b.num_rows for b in ds.iter_batches(batch_format="pyarrow", batch_size=None))
        return rows, time.perf_counter() - start

    try:
        results["first_small_job_s"] = job(small, "Identity")[1]
        for name in projects:
            rows, seconds = job(data, name)
            results[f"{name}_records_per_s"] = rows / seconds
    finally:
        ray.shutdown()
    return results


def bench_spark(data: Path, small: Path, projects: dict[str, str], batch_size: int) -> dict[str, float]:
    os.environ["PYSPARK_PYTHON"] = sys.executable
    t0 = time.perf_counter()
    from pyspark.sql import SparkSession

    from packflow.runtime.integrations.spark_df import map_dataframe

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    results = {"engine_start_s": time.perf_counter() - t0}

    def job(path: Path, name: str) -> float:
        start = time.perf_counter()
        df = map_dataframe(spark.read.parquet(str(path)), projects[name], batch_size=batch_size,
                           output_schema=output_schema(name))
        df.write.format("noop").mode("overwrite").save()
        return time.perf_counter() - start

    try:
        results["first_small_job_s"] = job(small, "Identity")
        for name in projects:
            rows = spark.read.parquet(str(data)).count()
            results[f"{name}_records_per_s"] = rows / job(data, name)
    finally:
        spark.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--engines", default="ray,spark")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="packflow-cluster-bench-") as tmp:
        folder = Path(tmp)
        data, projects = write_inputs(folder, args.records), write_projects(folder)
        small = folder / "small"
        small.mkdir()
        pq.write_table(make_table(1000), small / "part-000.parquet")
        report: dict[str, dict[str, float]] = {"runner": {}}
        for name, project in projects.items():
            report["runner"][f"{name}_records_per_s"] = bench_runner(data, project, args.batch_size)
        for engine in args.engines.split(","):
            report[engine] = (bench_ray if engine == "ray" else bench_spark)(data, small, projects, args.batch_size)
        print_report(report, args.records)


def print_report(report: dict[str, dict[str, float]], n: int) -> None:
    print(f"\n{n:,} nested records (id, src{{ip,port}}, features{{8 floats}}), 2 workers per engine")
    print(f"{'':10}{'identity rec/s':>16}{'x runner':>10}{'row-sum rec/s':>16}{'x runner':>10}{'start s':>9}{'1k job s':>10}")
    base = report["runner"]
    for engine, figures in report.items():
        cells = []
        for name in ("Identity", "RowSum"):
            rate = figures[f"{name}_records_per_s"]
            cells += [f"{rate:16,.0f}", f"{rate / base[f'{name}_records_per_s']:10.2f}"]
        start = figures.get("engine_start_s")
        first = figures.get("first_small_job_s")
        tail = f"{start:9.1f}{first:10.1f}" if start is not None else f"{'-':>9}{'-':>10}"
        print(f"{engine:10}{''.join(cells)}{tail}")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
