"""``run_with_engine``: what ``packflow run --engine ray|spark`` calls.

Reads JSON lines or Parquet (a file or a directory of them) with the engine's own reader, runs the
backend on the engine, and writes outputs to one file (JSON lines, or Parquet when the output path
ends in ``.parquet``) and dead letters to a JSON-lines file. The driver streams the results to
those files, so the output side is bounded by one machine's disk, not its memory.

JSON lines are read as text and decoded by the shared codec on the workers, and JSON-lines outputs
are the codec's encoding of each output, in input order: the same bytes as ``packflow run`` without
``--engine`` (an int stays an int even when other rows hold floats; wide integers stay exact).
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
import time
from typing import Any, Callable, Literal

import pyarrow as pa

from packflow.exceptions import ConfigurationError, PackflowError
from packflow.runtime.integrations._io import ResultWriter, input_format
from packflow.runtime.integrations._records import JSON_COLUMN, json_output_schema

__all__ = ["ENGINES", "EngineJobError", "run_with_engine"]

ENGINES = ("ray", "spark")


class EngineJobError(PackflowError, RuntimeError):
    """The Ray or Spark job failed (a worker could not load the backend, ``on_error="fail"`` hit a bad
    record, the engine could not start); the message carries the engine's own error."""


def run_with_engine(
    engine: str,
    target: str,
    input_path: str,
    output_path: str,
    dead_letters_path: str | None = None,
    batch_size: int = 256,
    backend_kwargs: dict[str, Any] | None = None,
    on_error: Literal["isolate", "fail"] = "isolate",
) -> dict[str, Any]:
    """Run ``target`` over ``input_path`` on Ray or Spark; a summary of counts and per-step stats.

    ``dead_letters_path`` defaults to ``<output_path>.dead-letters.jsonl`` (stderr when the output is
    ``-``, stdout). Inputs must be files or directories, not stdin. A Ray or Spark session
    already running in this process is reused; otherwise a local one is started and stopped.
    """
    if engine not in ENGINES:
        raise ConfigurationError(f"Unknown engine {engine!r}; choose one of {', '.join(ENGINES)}.")
    if batch_size < 1:
        raise ConfigurationError(f"batch_size must be >= 1, got {batch_size!r}.")
    fmt = input_format(input_path)
    _import_adapter(engine)  # a missing extra is a start-up error, raised before any output is opened
    dead_path = dead_letters_path or (f"{output_path}.dead-letters.jsonl" if output_path != "-" else "-")
    runner: Callable[..., tuple[dict[str, Any], pa.Schema | None]] = _run_ray if engine == "ray" else _run_spark
    started = time.monotonic()
    writer = ResultWriter(output_path, dead_path)
    schema = None
    try:
        metrics, schema = runner(target, input_path, fmt, writer, batch_size, backend_kwargs or {}, on_error)
    except PackflowError:
        raise
    except Exception as exc:
        raise EngineJobError(f"The {engine} job failed: {_first_lines(exc)}") from exc
    finally:
        writer.close(schema)
    return {
        "engine": engine,
        "records_in": writer.outputs + writer.dead_letters,
        "records_out": writer.outputs,
        "dead_letters": writer.dead_letters,
        "dead_letters_by_step": metrics["dead_letters_by_step"],
        "steps": metrics["steps"],
        "workers": metrics["workers"],
        "runner": {k: metrics[k] for k in ("batches", "backend_calls", "isolation_calls", "workers")},
        "output_path": output_path,
        "dead_letters_path": dead_path,
        "elapsed_s": round(time.monotonic() - started, 3),
    }


def _import_adapter(engine: str) -> None:
    """Import the engine's adapter; its ImportError names ``pip install 'packflow[<engine>]'``."""
    import importlib

    importlib.import_module(f"packflow.runtime.integrations.{'ray_data' if engine == 'ray' else 'spark_df'}")


def _run_ray(target: str, path: str, fmt: str, writer: ResultWriter, batch_size: int,
             kwargs: dict[str, Any], on_error: Any) -> tuple[dict[str, Any], pa.Schema | None]:
    from packflow.runtime.integrations.ray_data import RayMetrics, map_dataset, ray

    started_here = not ray.is_initialized()
    if started_here:  # connect to RAY_ADDRESS if set, else start a local cluster
        options: dict[str, Any] = {} if os.environ.get("RAY_ADDRESS") else {"include_dashboard": False}
        ray.init(log_to_driver=False, **options)
    try:
        ray.data.DataContext.get_current().execution_options.preserve_order = True  # outputs in input order
        ds = ray.data.read_text(path).rename_columns({"text": JSON_COLUMN}) if fmt == "json" else ray.data.read_parquet(path)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        metrics = RayMetrics()
        out = map_dataset(ds, target, backend_kwargs=kwargs, batch_size=batch_size, on_error=on_error,
                          concurrency=max(1, cpus), num_cpus=0.5, metrics=metrics, output_schema=_json_out(writer))
        schema = None
        table: Any
        for table in out.iter_batches(batch_format="pyarrow", batch_size=None):
            schema = table.schema
            writer.write(table)
        summary = metrics.summary()
        metrics.close()
        return summary, _without_status(schema)
    finally:
        if started_here:
            ray.shutdown()


def _run_spark(target: str, path: str, fmt: str, writer: ResultWriter, batch_size: int,
               kwargs: dict[str, Any], on_error: Any) -> tuple[dict[str, Any], pa.Schema | None]:
    from packflow.runtime.integrations.spark_df import SparkMetrics, SparkSession, map_dataframe

    spark = SparkSession.getActiveSession()
    started_here = spark is None
    if spark is None:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        spark = (SparkSession.builder.master(os.environ.get("PACKFLOW_SPARK_MASTER", "local[*]"))
                 .appName("packflow-run").config("spark.ui.enabled", "false").getOrCreate())
    scratch = tempfile.mkdtemp(prefix="packflow-spark-")
    try:
        df = spark.read.text(path).withColumnRenamed("value", JSON_COLUMN) if fmt == "json" else spark.read.parquet(path)
        metrics = SparkMetrics()
        out = map_dataframe(df, target, backend_kwargs=kwargs, batch_size=batch_size, on_error=on_error,
                            metrics=metrics, output_schema=_json_out(writer))
        out.write.mode("overwrite").parquet(scratch)
        schema = _copy_parts(scratch, writer)
        return metrics.summary(), _without_status(schema)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if started_here:
            spark.stop()


def _json_out(writer: ResultWriter) -> pa.Schema | None:
    """JSON-lines output: outputs travel as the codec's JSON text (exact); Parquet output: typed columns."""
    return None if writer.parquet else json_output_schema()


def _first_lines(exc: BaseException, limit: int = 6) -> str:
    lines = [line for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip()]
    return "\n".join(lines[:limit]) + ("\n..." if len(lines) > limit else "")


def _copy_parts(folder: str, writer: ResultWriter) -> pa.Schema | None:
    import pyarrow.parquet as pq

    schema = None
    for part in sorted(glob.glob(os.path.join(folder, "*.parquet"))):
        handle = pq.ParquetFile(part)
        schema = handle.schema_arrow
        for batch in handle.iter_batches():
            writer.write(pa.Table.from_batches([batch]))
    return schema


def _without_status(schema: pa.Schema | None) -> pa.Schema | None:
    from packflow.runtime.integrations._records import DEAD_LETTER_COLUMN, STATUS_COLUMN

    if schema is None:
        return None
    return pa.schema([f for f in schema if f.name not in (STATUS_COLUMN, DEAD_LETTER_COLUMN)])
