"""File formats for ``packflow run --engine``: JSON lines or Parquet in, JSON lines or Parquet out."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from packflow.exceptions import ConfigurationError
from packflow.runtime.integrations._records import (
    DEAD_LETTER_COLUMN,
    JSON_COLUMN,
    STATUS_COLUMN,
    STATUS_OK,
    json_text,
    table_to_records,
)

__all__ = ["ResultWriter", "input_format"]

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


def input_format(path: str) -> str:
    """``json`` or ``parquet`` for an input file or directory, judged by suffix (directories: their files)."""
    if path == "-":
        raise ConfigurationError("Engines read files, not stdin: give --input a JSON-lines or Parquet file or directory.")
    p = Path(path)
    if not p.exists():
        raise ConfigurationError(f"Input {path!r} does not exist; give a JSON-lines or Parquet file or directory.")
    names = [p.name] if p.is_file() else [c.name for c in p.iterdir() if not c.name.startswith((".", "_"))]
    suffixes = {Path(n).suffix.lower() for n in names}
    if suffixes and suffixes <= {".parquet"}:
        return "parquet"
    if suffixes and suffixes <= set(JSON_SUFFIXES):
        return "json"
    raise ConfigurationError(
        f"Cannot tell the format of {path!r} (suffixes {sorted(suffixes)}): engines read JSON lines "
        "(.jsonl/.json/.ndjson) or Parquet (.parquet) files, or a directory of one of them."
    )


class ResultWriter:
    """Split result tables into the output file (JSON lines, or Parquet when it ends in .parquet)
    and the dead-letters file (JSON lines), counting both. ``-`` is stdout (outputs) or stderr
    (dead letters)."""

    def __init__(self, output_path: str, dead_letters_path: str) -> None:
        self.output_path, self.dead_path = output_path, dead_letters_path
        self.parquet = output_path.endswith(".parquet")
        self._out: IO[str] | None = None if self.parquet else _open_text(output_path, sys.stdout)
        self._dead: IO[str] = _open_text(dead_letters_path, sys.stderr)
        self._pq: pq.ParquetWriter | None = None
        self.outputs = 0
        self.dead_letters = 0

    def write(self, table: pa.Table) -> None:
        """Write one result table (with status columns)."""
        ok_mask = pc.equal(table[STATUS_COLUMN], STATUS_OK)
        outputs = table.filter(ok_mask).drop_columns([STATUS_COLUMN, DEAD_LETTER_COLUMN])
        dead = table.filter(pc.invert(ok_mask))[DEAD_LETTER_COLUMN].to_pylist()
        self._write_outputs(outputs)
        for text in dead:
            self._dead.write(text + "\n")
        self.outputs += outputs.num_rows
        self.dead_letters += len(dead)

    def _write_outputs(self, outputs: pa.Table) -> None:
        if self.parquet:
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.output_path, outputs.schema)
            self._pq.write_table(outputs)
            return
        if self._out is None:  # pragma: no cover - Parquet output returned above
            return
        if outputs.column_names == [JSON_COLUMN]:  # the codec's text of each output, written as is
            self._out.writelines(text + "\n" for text in outputs.column(0).to_pylist())
            return
        for row in table_to_records(outputs):
            self._out.write(json_text(row) + "\n")

    def close(self, schema: pa.Schema | None = None) -> None:
        """Flush and close (an empty Parquet file is still written when nothing came out)."""
        if self.parquet and self._pq is None and schema is not None:
            self._pq = pq.ParquetWriter(self.output_path, schema)
        for handle in (self._pq, self._out, self._dead):
            if handle is None:
                continue
            if handle in (sys.stdout, sys.stderr):
                handle.flush()  # type: ignore[union-attr]
            else:
                handle.close()


def _open_text(path: str, dash: IO[str]) -> Any:
    if path == "-":
        return dash
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return open(path, "w", encoding="utf-8")

