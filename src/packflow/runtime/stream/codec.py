"""Turning broker entries into records and results into bytes — the per-record hot path.

An input entry is either

* a JSON object in one field (``data`` by default): ``XADD in * data '{"x": 1}'``, or
* a flat entry whose fields *are* the record: ``XADD in * x 1 name ada`` → ``{"x": "1", "name": "ada"}``
  (values stay strings: a stream field carries bytes, not types).

In ``batch`` input mode the ``data`` field holds a JSON *array* of records instead.
Anything else becomes a :class:`Rejected` marker, which the driver dead-letters (step ``decode``);
decoding never raises.
"""

from __future__ import annotations

from typing import Any

import orjson

from packflow.runtime.codec import DecodeError
from packflow.runtime.codec import decode as _loads
from packflow.runtime.codec import encode as dumps
from packflow.runtime.stream.base import Rejected

__all__ = ["DATA_FIELD", "decode_entry", "decode_packed_entry", "dumps", "field_value", "only_dicts", "original_payload",
           "payload_bytes"]

#: The field holding a JSON record (or, in batch input mode, a JSON array of records).
DATA_FIELD = b"data"

_DICT_ONLY = {dict}


def _as_pairs(fields: Any) -> list:
    """Entry fields as a flat ``[k1, v1, k2, v2, ...]`` list (accepts a dict too)."""
    if isinstance(fields, dict):
        flat: list = []
        for key, value in fields.items():
            flat.append(key)
            flat.append(value)
        return flat
    return fields


def _field_record(pairs: list) -> dict | Rejected:
    try:
        return {
            (k.decode() if type(k) is bytes else str(k)): (v.decode() if type(v) is bytes else str(v))
            for k, v in zip(pairs[::2], pairs[1::2])
        }
    except UnicodeDecodeError as exc:
        return Rejected(_pairs_payload(pairs), f"entry fields are not UTF-8 text ({exc}); send UTF-8 or JSON in 'data'")


def _find(pairs: list, field: bytes) -> Any:
    for i in range(0, len(pairs) - 1, 2):
        if pairs[i] == field:
            return pairs[i + 1]
    return None


def decode_entry(fields: Any, field: bytes = DATA_FIELD) -> dict | Rejected:
    """The record an entry holds, or :class:`Rejected` saying why it holds none."""
    if not fields:
        return Rejected(None, "the entry has no fields (it was deleted from the stream before it was processed)")
    pairs = _as_pairs(fields)
    raw = pairs[1] if len(pairs) > 1 and pairs[0] == field else _find(pairs, field)
    if raw is None:
        return _field_record(pairs)
    try:
        record = _loads(raw)
    except DecodeError as exc:
        return Rejected(raw, f"field {field.decode()!r} is not valid JSON ({exc}); send one JSON object per entry")
    if type(record) is not dict:
        return Rejected(
            raw, f"field {field.decode()!r} holds a JSON {type(record).__name__}, not an object; send one record per entry"
        )
    return record


def decode_packed_entry(fields: Any, field: bytes = DATA_FIELD) -> list[dict | Rejected] | Rejected:
    """The records a batch-packed entry holds (a JSON array in ``field``), each a dict or Rejected."""
    if not fields:
        return Rejected(None, "the entry has no fields (it was deleted from the stream before it was processed)")
    pairs = _as_pairs(fields)
    raw = pairs[1] if len(pairs) > 1 and pairs[0] == field else _find(pairs, field)
    if raw is None:
        return Rejected(_pairs_payload(pairs), f"batch input mode needs a JSON array of records in field {field.decode()!r}")
    try:
        records = _loads(raw)
    except DecodeError as exc:
        return Rejected(raw, f"field {field.decode()!r} is not valid JSON ({exc}); send a JSON array of records")
    if type(records) is not list:
        return Rejected(raw, f"field {field.decode()!r} holds a JSON {type(records).__name__}; batch input mode needs an array")
    if not only_dicts(records):
        for i, record in enumerate(records):
            if type(record) is not dict:
                records[i] = Rejected(record, f"item {i} of the array is a JSON {type(record).__name__}, not an object")
    return records


def field_value(fields: Any, field: bytes) -> Any:
    """The value of ``field`` in an entry's fields (pairs or a dict), None when absent."""
    return _find(_as_pairs(fields), field) if fields else None


def only_dicts(items: list) -> bool:
    """True when every item is a dict (a C-speed scan: no Python bytecode per item)."""
    return not items or set(map(type, items)) == _DICT_ONLY


def original_payload(fields: Any, field: bytes = DATA_FIELD) -> Any:
    """What a dead letter keeps of an entry: the raw ``field`` bytes if present, else the fields as text."""
    if not fields:
        return None
    pairs = _as_pairs(fields)
    raw = _find(pairs, field)
    return raw if raw is not None else _pairs_payload(pairs)


def _pairs_payload(pairs: list) -> dict:
    return {_text(k): _text(v) for k, v in zip(pairs[::2], pairs[1::2])}


def _text(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if type(value) is bytes else str(value)


def payload_bytes(payload: Any) -> bytes:
    """The original payload of a dead letter as bytes: raw input bytes as they came, anything else as JSON."""
    if type(payload) is bytes:
        return payload
    try:
        return dumps(payload)
    except TypeError:
        return orjson.dumps(repr(payload))
