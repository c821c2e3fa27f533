"""``BackendWorker``: what runs inside one Ray actor or Spark Python worker process."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any, Literal

import pyarrow as pa

from packflow.runtime.integrations._metrics import part_from_snapshot
from packflow.runtime.integrations._records import results_to_table, table_to_records
from packflow.runtime.integrations._shipping import TargetSpec, load_spec
from packflow.runtime.runner import Runner

__all__ = ["BackendWorker", "sample_outputs"]


class BackendWorker:
    """Load the backend once, then turn Arrow batches of records into Arrow batches of results."""

    def __init__(
        self,
        spec: TargetSpec,
        schema: pa.Schema,
        *,
        batch_size: int,
        on_error: Literal["isolate", "fail"],
        archive_copy: str | None = None,
    ) -> None:
        self.backend = load_spec(spec, archive_copy)
        self.runner = Runner(self.backend, max_batch_size=batch_size, max_wait_ms=0.0, on_error=on_error)
        self.schema = schema
        self.encode_dead = 0
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def process(self, table: pa.Table | pa.RecordBatch) -> pa.Table:
        """Results for every input row, in order: outputs and dead letters (status columns)."""
        records = table_to_records(table)
        results = self.runner.process_batch(records)
        out, failures = results_to_table(results, records, self.schema)
        self.encode_dead += failures
        return out

    def metrics_part(self) -> dict[str, Any]:
        """This worker's cumulative metrics as an aggregatable part."""
        return part_from_snapshot(self.runner.snapshot().to_dict(), self.worker_id, self.encode_dead)


def sample_outputs(spec: TargetSpec, records: list[dict], archive_copy: str | None = None) -> list[dict]:
    """Run sample records through the backend on the driver: the outputs that succeeded."""
    runner = Runner(load_spec(spec, archive_copy), max_batch_size=max(1, len(records)), max_wait_ms=0.0)
    return [r for r in runner.process_batch(records) if isinstance(r, dict)]
