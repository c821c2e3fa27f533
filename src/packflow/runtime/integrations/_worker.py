"""``BackendWorker``: what runs inside one Ray actor or Spark Python worker process."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any, Literal

import pyarrow as pa

from packflow.runtime import tracing
from packflow.runtime.integrations._metrics import part_from_snapshot
from packflow.runtime.codec import DecodeError, dead_letter, decode_many, decode_record
from packflow.runtime.integrations._records import JSON_COLUMN, results_to_table, table_to_records
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
        tracing.install_from_env()  # `run --engine ... --tracing otlp`: the workers inherit $PACKFLOW_TRACING
        self.backend = load_spec(spec, archive_copy)
        self.runner = Runner(self.backend, max_batch_size=batch_size, max_wait_ms=0.0, on_error=on_error)
        self.schema = schema
        self.encode_dead = 0
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def process(self, table: pa.Table | pa.RecordBatch) -> pa.Table:
        """Results for every input row, in order: outputs and dead letters (status columns).

        Retries and dead letters use records made again from the (immutable) input, never the
        backend's possibly mutated copies. JSON rows (one ``_packflow_json`` column) are decoded by
        the codec; blank ones are skipped and undecodable ones are ``decode`` dead letters.
        """
        if table.schema.names == [JSON_COLUMN]:
            return self._process_json(table.column(0).to_pylist())
        records = table_to_records(table)
        results = self.runner.process_batch_counted(records, fresh=lambda lo, hi: table_to_records(table.slice(lo, hi - lo)))[0]
        return self._table(results, lambda i: table_to_records(table.slice(i, 1))[0])

    def _process_json(self, lines: list[str | None]) -> pa.Table:
        kept = [line for line in lines if line is not None and line.strip()]
        results = _decode_rows(kept)  # a record or a decode dead letter per row, then outputs
        good = [i for i, r in enumerate(results) if type(r) is dict]
        if len(good) < len(kept):
            self.runner.record_dead_letter("decode", len(kept) - len(good))
        texts = [kept[i] for i in good]
        outputs = self.runner.process_batch_counted(
            [results[i] for i in good], known_dicts=True, fresh=lambda lo, hi: decode_many(texts[lo:hi]))[0]
        for i, output in zip(good, outputs):
            results[i] = output
        return self._table(results, lambda i: _as_received(kept[i]))

    def _table(self, results: list[Any], originals: Any) -> pa.Table:
        out, failures = results_to_table(results, originals, self.schema)
        self.encode_dead += failures
        return out

    def metrics_part(self) -> dict[str, Any]:
        """This worker's cumulative metrics as an aggregatable part (its spans exported first, when traced)."""
        tracing.flush()
        return part_from_snapshot(self.runner.snapshot().to_dict(), self.worker_id, self.encode_dead)


def sample_outputs(spec: TargetSpec, records: list[dict], archive_copy: str | None = None) -> list[dict]:
    """Run sample records through the backend on the driver: the outputs that succeeded."""
    if records and list(records[0]) == [JSON_COLUMN]:  # JSON rows: sample what they hold
        records = [r for r in map(_as_received, (row[JSON_COLUMN] or "" for row in records)) if isinstance(r, dict)]
    runner = Runner(load_spec(spec, archive_copy), max_batch_size=max(1, len(records)), max_wait_ms=0.0)
    return [r for r in runner.process_batch(records) if isinstance(r, dict)]


def _decode_rows(lines: list[str]) -> list[Any]:
    """Each JSON row as a record, or a ``decode`` dead letter holding the row's text."""
    try:
        records = decode_many(lines)
        if all(type(r) is dict for r in records):
            return records
    except DecodeError:
        pass
    out: list[Any] = []
    for line in lines:
        try:
            out.append(decode_record(line))
        except DecodeError as exc:
            out.append(dead_letter(line, "decode", exc))
    return out


def _as_received(line: str) -> Any:
    try:
        return decode_record(line)
    except DecodeError:
        return line
