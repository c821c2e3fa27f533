"""Arrow batches ⇄ lists of record dicts, and the status columns that carry dead letters.

Every output row of a cluster job has the backend's output fields plus two columns:
``_packflow_status`` (``"ok"`` or ``"dead_letter"``) and ``_packflow_dead_letter`` (null, or the
dead letter as a JSON object string: record, step, error_type, message, timestamp). Nested Arrow
structs become nested dicts (and back), lists become lists, maps become dicts.

JSON mode (exact, like the local run): an input whose only column is ``_packflow_json`` holds one
JSON record per row, decoded by :mod:`packflow.runtime.codec` (wide integers exact, NaN refused as a
``decode`` dead letter); an output schema whose only field is ``_packflow_json`` (see
:func:`json_output_schema`) carries each output as the codec's JSON text, so ints stay ints even
where Arrow would have made a column of doubles.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
from typing import Any

import pyarrow as pa

from packflow.exceptions import ConfigurationError
from packflow.runtime.codec import EncodeError, dead_letter, encode
from packflow.runtime.deadletter import DeadLetter

__all__ = [
    "DEAD_LETTER_COLUMN",
    "JSON_COLUMN",
    "STATUS_COLUMN",
    "STATUS_DEAD",
    "STATUS_OK",
    "dead_letter_json",
    "derive_schema",
    "json_output_schema",
    "json_text",
    "results_to_table",
    "table_to_records",
    "with_status_fields",
]

STATUS_COLUMN = "_packflow_status"
DEAD_LETTER_COLUMN = "_packflow_dead_letter"
STATUS_OK = "ok"
STATUS_DEAD = "dead_letter"
#: One JSON record per row (input), or each output as JSON text (output): see the module docstring.
JSON_COLUMN = "_packflow_json"
_STATUS_FIELDS = (pa.field(STATUS_COLUMN, pa.string(), nullable=False), pa.field(DEAD_LETTER_COLUMN, pa.string()))


def table_to_records(table: pa.Table | pa.RecordBatch) -> list[dict]:
    """Rows as dicts: structs → nested dicts, lists → lists, maps → dicts."""
    if any(_has_map(field.type) for field in table.schema):
        return table.to_pylist(maps_as_pydicts="lossy")  # several times slower: only when needed
    return table.to_pylist()


def _has_map(kind: pa.DataType) -> bool:
    if pa.types.is_map(kind):
        return True
    return any(_has_map(kind.field(i).type) for i in range(kind.num_fields))


def with_status_fields(schema: pa.Schema) -> pa.Schema:
    """``schema`` (fields made nullable: dead-letter rows have no outputs) plus the two status columns."""
    clash = [f.name for f in _STATUS_FIELDS if f.name in schema.names]
    if clash:
        raise ConfigurationError(f"The output schema already has packflow's reserved column(s) {clash}; rename them.")
    return pa.schema([f.with_nullable(True) for f in schema] + list(_STATUS_FIELDS))


def derive_schema(outputs: list[dict]) -> pa.Schema:
    """The Arrow schema of sample outputs; fields whose type cannot be told (all null) are an error."""
    if not outputs:
        raise ConfigurationError(
            "Cannot derive an output schema: every sample record was dead-lettered. Pass output_schema= or "
            "sample records the backend accepts."
        )
    try:
        schema = pa.Table.from_pylist(outputs).schema
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"Cannot derive an output schema from sample outputs ({exc}); pass output_schema= explicitly."
        ) from exc
    unknown = [f.name for f in schema if pa.types.is_null(f.type)]
    if unknown:
        raise ConfigurationError(
            f"Sample outputs have only nulls in {unknown}, so their type is unknown; pass output_schema= "
            "or a larger/more varied sample."
        )
    return schema


def json_output_schema() -> pa.Schema:
    """The output schema of JSON mode: each output as the codec's JSON text (no schema sampling)."""
    return pa.schema([pa.field(JSON_COLUMN, pa.string())])


def json_text(value: Any) -> str:
    """``value`` as JSON text by the codec; Arrow-only values (bytes, dates) made JSON first
    (base64, ISO 8601)."""
    try:
        return encode(value).decode("utf-8")
    except EncodeError:
        return json.dumps(value, default=_json_default, separators=(",", ":"))


def dead_letter_json(dead: DeadLetter) -> str:
    """A dead letter as one JSON object string (see :func:`json_text`)."""
    return json_text(dead.to_dict())


def results_to_table(results: list[Any], originals: Any, schema: pa.Schema) -> tuple[pa.Table, int]:
    """Runner results → an Arrow table with status columns; also the number of outputs that could not
    be encoded (they become ``encode`` dead letters, never dropped). ``originals(i)`` is input ``i``
    as received (dead letters hold it, not the backend's copy); a list of the inputs works too."""
    if isinstance(originals, list):
        originals = originals.__getitem__
    outputs: list[dict] = []
    status: list[str] = []
    letters: list[str | None] = []
    for i, result in enumerate(results):
        if type(result) is DeadLetter:
            outputs.append(_EMPTY)
            status.append(STATUS_DEAD)
            letters.append(dead_letter_json(dead_letter(originals(i), result.step, result)))
        else:
            outputs.append(result)
            status.append(STATUS_OK)
            letters.append(None)
    if schema.names[:1] == [JSON_COLUMN]:
        return _json_table(outputs, originals, status, letters)
    base = _output_part(schema)
    try:
        _check_fields(outputs, base)
        table = pa.Table.from_pylist(outputs, schema=base)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        table, failures = _encode_one_by_one(outputs, originals, base, status, letters)
    else:
        failures = 0
    table = table.append_column(_STATUS_FIELDS[0], pa.array(status, pa.string()))
    return table.append_column(_STATUS_FIELDS[1], pa.array(letters, pa.string())), failures


_EMPTY: dict = {}


def _output_part(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f for f in schema if f.name not in (STATUS_COLUMN, DEAD_LETTER_COLUMN)])


def _json_table(outputs: list[dict], originals: Any, status: list[str], letters: list[str | None]) -> tuple[pa.Table, int]:
    """JSON mode: each output as the codec's JSON text; an unencodable one is an ``encode`` dead letter."""
    texts: list[str | None] = []
    failures = 0
    for i, output in enumerate(outputs):
        if status[i] != STATUS_OK:
            texts.append(None)
            continue
        try:
            texts.append(encode(output).decode("utf-8"))
        except EncodeError as exc:
            failures += 1
            texts.append(None)
            status[i] = STATUS_DEAD
            letters[i] = dead_letter_json(dead_letter(originals(i), "encode", exc))
    table = pa.table({JSON_COLUMN: pa.array(texts, pa.string())})
    table = table.append_column(_STATUS_FIELDS[0], pa.array(status, pa.string()))
    return table.append_column(_STATUS_FIELDS[1], pa.array(letters, pa.string())), failures


def _check_fields(rows: list[dict], schema: pa.Schema) -> None:
    extra = set().union(*rows) - set(schema.names)
    if extra:
        raise ValueError(f"output fields {sorted(extra)} are not in the output schema")


def _encode_one_by_one(rows: list[dict], originals: Any, schema: pa.Schema, status: list[str],
                       letters: list[str | None]) -> tuple[pa.Table, int]:
    encoded, failures = [], 0
    for i, row in enumerate(rows):
        try:
            _check_fields([row], schema)
            pa.Table.from_pylist([row], schema=schema)
            encoded.append(row)
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            failures += 1
            message = (f"output {str(row)[:200]} does not fit the output schema: {exc}. Pass an output_schema "
                       "that covers every field and type the backend returns.")
            encoded.append(_EMPTY)
            status[i] = STATUS_DEAD
            letters[i] = dead_letter_json(dead_letter(originals(i), "encode", exc, message=message))
    return pa.Table.from_pylist(encoded, schema=schema), failures


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time)):
        return value.isoformat()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)
