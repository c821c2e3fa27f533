"""Run any packflow backend on Spark, unchanged: :func:`map_dataframe` (batch and Structured Streaming).

Built on ``DataFrame.mapInArrow``: each partition arrives as Arrow record batches, which become
record dicts (nested structs → nested dicts) without a pandas detour, and results go back as
Arrow. The backend is loaded once per Python worker process and cached in a module-level dict
keyed by target, config and schema, so ``initialize()`` runs once per process, not per batch
or per task (Spark reuses Python workers by default: ``spark.python.worker.reuse=true``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import tempfile
from typing import Any, Iterator, Literal

import pyarrow as pa

try:
    from pyspark import SparkFiles
    from pyspark.accumulators import AccumulatorParam
    from pyspark.sql import DataFrame, SparkSession, functions as F
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
    from pyspark.sql.types import StructType
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("Running on Spark needs the spark extra: pip install 'packflow[spark]'") from exc

from packflow.exceptions import ConfigurationError
from packflow.runtime.integrations._metrics import empty_part, merge_parts, subtract_parts, summarize
from packflow.runtime.integrations._records import (
    DEAD_LETTER_COLUMN,
    STATUS_COLUMN,
    STATUS_OK,
    derive_schema,
    with_status_fields,
)
from packflow.runtime.integrations._shipping import TargetSpec, prepare_target
from packflow.runtime.integrations._worker import BackendWorker, sample_outputs

__all__ = ["SparkMetrics", "map_dataframe", "split_results"]

#: Per Python worker process: cache key -> loaded worker. Lives as long as the (reused) process.
_WORKERS: dict[str, BackendWorker] = {}

DEAD_LETTER_SCHEMA = "step string, error_type string, message string, timestamp string, record string"


class _PartParam(AccumulatorParam):
    def zero(self, value: Any) -> dict[str, Any]:
        return empty_part()

    def addInPlace(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - Spark's name
        return merge_parts(a, b)


class SparkMetrics:
    """Pass to :func:`map_dataframe`; :meth:`summary` merges what every task reported (an accumulator)."""

    def __init__(self) -> None:
        self._acc: Any = None

    def accumulator(self, spark: SparkSession) -> Any:
        """The accumulator tasks add their metrics deltas to (created on first use)."""
        if self._acc is None:
            self._acc = spark.sparkContext.accumulator(empty_part(), _PartParam())
        return self._acc

    def summary(self) -> dict[str, Any]:
        """Counters summed over tasks; per-step stats merged (see ``_metrics`` for percentiles)."""
        return summarize(self._acc.value if self._acc is not None else empty_part())


def map_dataframe(
    df: DataFrame,
    target: str,
    *,
    backend_kwargs: dict[str, Any] | None = None,
    batch_size: int = 256,
    on_error: Literal["isolate", "fail"] = "isolate",
    output_schema: StructType | pa.Schema | str | None = None,
    sample_records: list[dict] | None = None,
    sample_size: int = 64,
    metrics: SparkMetrics | None = None,
) -> DataFrame:
    """Run ``target``'s backend over ``df`` (rows are records; works on streaming DataFrames too).

    Returns a DataFrame with one row per input: the output columns plus ``_packflow_status``
    (``ok``/``dead_letter``) and ``_packflow_dead_letter`` (JSON). ``output_schema`` may be a
    StructType, a DDL string or a pyarrow schema; without it the schema is derived by running
    ``sample_records`` (or the first ``sample_size`` rows of a batch DataFrame) on the driver.
    """
    spark = df.sparkSession
    spec = prepare_target(target, backend_kwargs)
    schema = with_status_fields(_output_schema(df, spec, output_schema, sample_records, sample_size))
    if spec.kind == "archive":
        spec = _ship_archive(spark, spec)
    acc = metrics.accumulator(spark) if metrics is not None else None
    func = functools.partial(_map_partition, spec, schema, batch_size, on_error, acc)
    return df.mapInArrow(func, from_arrow_schema(schema))


def _ship_archive(spark: SparkSession, spec: TargetSpec) -> TargetSpec:
    """``addFile`` a copy named by content hash: Spark refuses two different files with one name."""
    digest = spec.archive_sha256 or ""
    shipped = os.path.join(tempfile.gettempdir(), "packflow-ship", f"{digest[:16]}-{os.path.basename(spec.location)}")
    if not os.path.exists(shipped):
        os.makedirs(os.path.dirname(shipped), exist_ok=True)
        partial = f"{shipped}.{os.getpid()}.tmp"
        shutil.copyfile(spec.location, partial)
        os.replace(partial, shipped)
    spark.sparkContext.addFile(shipped)
    return dataclasses.replace(spec, location=shipped)


def split_results(df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """``(outputs, dead_letters)`` from :func:`map_dataframe`'s result.

    Consuming both re-runs the backend unless ``df`` is cached (``df.persist()``) first.
    Dead-letter columns: step, error_type, message, timestamp, record (the input as JSON).
    """
    outputs = df.filter(F.col(STATUS_COLUMN) == STATUS_OK).drop(STATUS_COLUMN, DEAD_LETTER_COLUMN)
    parsed = F.from_json(F.col(DEAD_LETTER_COLUMN), DEAD_LETTER_SCHEMA)
    dead = df.filter(F.col(STATUS_COLUMN) != STATUS_OK).select(parsed.alias("d"), F.col(DEAD_LETTER_COLUMN))
    dead = dead.select("d.step", "d.error_type", "d.message", "d.timestamp",
                       F.get_json_object(F.col(DEAD_LETTER_COLUMN), "$.record").alias("record"))
    return outputs, dead


def _output_schema(df: DataFrame, spec: TargetSpec, given: Any, samples: list[dict] | None, size: int) -> pa.Schema:
    if isinstance(given, pa.Schema):
        return given
    if isinstance(given, StructType):
        return to_arrow_schema(given)
    if isinstance(given, str):
        return to_arrow_schema(df.sparkSession.createDataFrame([], given).schema)
    if given is not None:
        raise ConfigurationError(f"output_schema must be a StructType, DDL string or pyarrow.Schema, got {given!r}.")
    if samples is None:
        if df.isStreaming:
            raise ConfigurationError(
                "A streaming DataFrame cannot be sampled: pass output_schema= or sample_records= to map_dataframe()."
            )
        samples = [row.asDict(recursive=True) for row in df.limit(size).collect()]
    return derive_schema(sample_outputs(spec, samples, spec.location if spec.kind == "archive" else None))


def _map_partition(spec: TargetSpec, schema: pa.Schema, batch_size: int, on_error: Any, acc: Any,
                   batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    worker = _worker(spec, schema, batch_size, on_error)
    start = worker.metrics_part()
    for batch in batches:
        yield from worker.process(batch).to_batches()
    if acc is not None:
        acc.add(subtract_parts(worker.metrics_part(), start))


def _worker(spec: TargetSpec, schema: pa.Schema, batch_size: int, on_error: Any) -> BackendWorker:
    key = json.dumps([spec.key(), schema.to_string(), batch_size, on_error])
    worker = _WORKERS.get(key)
    if worker is None:
        copy = SparkFiles.get(os.path.basename(spec.location)) if spec.kind == "archive" else None
        worker = BackendWorker(spec, schema, batch_size=batch_size, on_error=on_error, archive_copy=copy)
        _WORKERS[key] = worker
    return worker
