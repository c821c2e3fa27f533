"""Run any packflow backend on Ray Data, unchanged: :func:`map_dataset`.

Each actor of a ``map_batches`` actor pool loads the backend once (``initialize()`` runs once per
actor, not per batch) and pushes every batch through a :class:`~packflow.runtime.Runner`, so
poison records become dead letters instead of failing the job. Output rows carry the status
columns described in :mod:`packflow.runtime.integrations._records`; :func:`split_results` turns
them into an outputs dataset and a dead-letters dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

try:
    import ray
    import ray.data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("Running on Ray needs the ray extra: pip install 'packflow[ray]'") from exc

from packflow.exceptions import PackflowError
from packflow.runtime.codec import decode, encode
from packflow.runtime.integrations._metrics import empty_part, merge_parts, summarize
from packflow.runtime.integrations._records import (
    DEAD_LETTER_COLUMN,
    STATUS_COLUMN,
    STATUS_OK,
    derive_schema,
    with_status_fields,
)
from packflow.runtime.integrations._shipping import TargetSpec, prepare_target, write_verified_archive
from packflow.runtime.integrations._worker import BackendWorker, sample_outputs

__all__ = ["ActorPoolTooLargeError", "RayMetrics", "check_actor_pool_fits", "map_dataset", "split_results"]

DEAD_LETTER_FIELDS = ("step", "error_type", "message", "timestamp", "record")


@ray.remote(num_cpus=0)
class _MetricsCollector:
    """Holds the latest cumulative metrics part of every actor."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, Any]] = {}

    def report(self, worker_id: str, part: dict[str, Any]) -> None:
        self.parts[worker_id] = part

    def collect(self) -> list[dict[str, Any]]:
        return list(self.parts.values())


class RayMetrics:
    """Pass to :func:`map_dataset`; after the dataset is consumed, :meth:`summary` has every actor's metrics."""

    def __init__(self) -> None:
        self._actor: Any = None

    def collector(self) -> Any:
        """The collector actor handle (created on first use, on the current Ray cluster)."""
        if self._actor is None:
            self._actor = _MetricsCollector.remote()  # type: ignore[attr-defined]
        return self._actor

    def summary(self) -> dict[str, Any]:
        """Counters summed over actors; per-step stats merged (see ``_metrics`` for percentiles)."""
        total = empty_part()
        if self._actor is not None:
            for part in ray.get(self._actor.collect.remote()):
                total = merge_parts(total, part)
        return summarize(total)

    def close(self) -> None:
        """Stop the collector actor."""
        if self._actor is not None:
            ray.kill(self._actor)
            self._actor = None


class _BackendActor:
    """The class-based UDF: one backend per actor, loaded in ``__init__``."""

    def __init__(self, spec: TargetSpec, schema: pa.Schema, batch_size: int, on_error: Any,
                 archive_box: list | None, collector: Any) -> None:
        copy = write_verified_archive(ray.get(archive_box[0]), spec) if archive_box else None
        self.worker = BackendWorker(spec, schema, batch_size=batch_size, on_error=on_error, archive_copy=copy)
        self.collector = collector

    def __call__(self, batch: pa.Table) -> pa.Table:
        out = self.worker.process(batch)
        if self.collector is not None:
            ray.get(self.collector.report.remote(self.worker.worker_id, self.worker.metrics_part()))
        return out


def map_dataset(
    ds: ray.data.Dataset,
    target: str,
    *,
    backend_kwargs: dict[str, Any] | None = None,
    batch_size: int = 256,
    concurrency: int = 2,
    num_cpus: float = 1.0,
    on_error: Literal["isolate", "fail"] = "isolate",
    output_schema: pa.Schema | None = None,
    sample_size: int = 64,
    metrics: RayMetrics | None = None,
    wait_for_resources: bool = False,
) -> ray.data.Dataset:
    """Run ``target``'s backend over ``ds`` (rows are records) on a pool of ``concurrency`` actors.

    Returns a lazy dataset with one row per input: the output fields plus ``_packflow_status``
    (``ok``/``dead_letter``) and ``_packflow_dead_letter`` (JSON). Without ``output_schema`` the
    schema is derived from ``sample_size`` rows run through the backend on the driver.

    An actor pool that cannot fit the cluster (``concurrency * num_cpus`` more CPUs than it has)
    would wait forever without an error, so it is refused with :class:`ActorPoolTooLargeError`;
    pass ``wait_for_resources=True`` on an autoscaling cluster that will add the nodes.
    """
    spec = prepare_target(target, backend_kwargs)
    archive_box = [ray.put(Path(spec.location).read_bytes())] if spec.kind == "archive" else None
    schema = with_status_fields(output_schema if output_schema is not None else _sample_schema(ds, spec, sample_size))
    if not wait_for_resources:
        check_actor_pool_fits(concurrency, num_cpus)
    return ds.map_batches(
        _BackendActor,
        batch_size=batch_size,
        batch_format="pyarrow",
        concurrency=concurrency,
        num_cpus=num_cpus,
        fn_constructor_kwargs={
            "spec": spec, "schema": schema, "batch_size": batch_size, "on_error": on_error,
            "archive_box": archive_box, "collector": metrics.collector() if metrics is not None else None,
        },
    )


class ActorPoolTooLargeError(PackflowError, ValueError):
    """``map_dataset``'s actors need more CPUs than the Ray cluster has: they would never all start."""


def check_actor_pool_fits(concurrency: int, num_cpus: float) -> None:
    """Refuse an actor pool the running cluster cannot place (skipped before Ray is initialised)."""
    if not ray.is_initialized():
        return
    available = float(ray.cluster_resources().get("CPU", 0.0))
    needed = concurrency * num_cpus
    if needed > available:
        fit = max(1, int(available // num_cpus)) if num_cpus else concurrency
        raise ActorPoolTooLargeError(
            f"map_dataset(concurrency={concurrency}, num_cpus={num_cpus}) needs {needed:g} CPUs but the Ray cluster "
            f"has {available:g}: the actors would wait forever. Use concurrency={fit}, or num_cpus="
            f"{available / concurrency:g}, or wait_for_resources=True on an autoscaling cluster."
        )


def _sample_schema(ds: ray.data.Dataset, spec: TargetSpec, sample_size: int) -> pa.Schema:
    rows = ds.take(sample_size)
    return derive_schema(sample_outputs(spec, rows, spec.location if spec.kind == "archive" else None))


def split_results(ds: ray.data.Dataset, *, materialize: bool = True) -> tuple[ray.data.Dataset, ray.data.Dataset]:
    """``(outputs, dead_letters)`` from :func:`map_dataset`'s result.

    ``materialize=True`` computes the results once and filters the materialized blocks; with
    False, consuming both datasets runs the backend twice. Dead-letter rows have the columns
    step, error_type, message, timestamp and record (the input record as a JSON string).
    """
    if materialize:
        ds = ds.materialize()
    return ds.map_batches(_outputs_only, batch_format="pyarrow"), ds.map_batches(_dead_only, batch_format="pyarrow")


def _outputs_only(batch: pa.Table) -> pa.Table:
    kept = batch.filter(pc.equal(batch[STATUS_COLUMN], STATUS_OK))
    return kept.drop_columns([STATUS_COLUMN, DEAD_LETTER_COLUMN])


def _dead_only(batch: pa.Table) -> pa.Table:
    letters = [decode(text) for text in batch[DEAD_LETTER_COLUMN].to_pylist() if text is not None]
    rows = [{**{k: d.get(k) for k in DEAD_LETTER_FIELDS[:4]}, "record": encode(d.get("record")).decode()} for d in letters]
    return pa.Table.from_pylist(rows, schema=pa.schema([(name, pa.string()) for name in DEAD_LETTER_FIELDS]))
