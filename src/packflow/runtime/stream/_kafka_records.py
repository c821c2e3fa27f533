"""Kafka messages ⇄ records: decoding input values, the optional metadata field, input ids.

* ``record`` input mode: a message's value is one JSON object (the record).
* ``batch`` input mode: a message's value is a JSON array of objects; record ``i`` of the message
  at offset ``o`` has the id ``<topic>:<partition>:<o>#<i>``.

Anything else (invalid JSON, not an object/array, a tombstone without value) becomes a
:class:`Rejected` marker, which the driver dead-letters with step ``decode``.

Keys and headers reach the backend only when a *metadata field* is named (``--kafka-meta-field``):
each record then gets ``record[field] = {"topic", "partition", "offset", "timestamp", "key",
"headers"}`` — key and header values as UTF-8 text, or ``{"base64": ...}`` when they are not text.
"""

from __future__ import annotations

import base64
from itertools import chain, repeat
from typing import Any

from packflow.runtime.stream._kafka import ck
from packflow.runtime.stream.base import Batch, Rejected

from packflow.runtime.codec import DecodeError, decode_many
from packflow.runtime.codec import decode as _loads
from packflow.runtime.stream.codec import only_dicts

__all__ = ["MessageDecoder", "input_id", "text_or_base64"]

_DICT = dict
_VALUE = ck.Message.value


def text_or_base64(value: bytes | None) -> Any:
    """``value`` as UTF-8 text, or ``{"base64": ...}`` when it is not text; None stays None."""
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(value).decode("ascii")}


def input_id(source: Any) -> str:
    """The id of a record's input: ``topic:partition:offset``, plus ``#index`` for batch-packed input."""
    if type(source) is tuple:
        m, index = source
        return f"{m.topic()}:{m.partition()}:{m.offset()}#{index}"
    return f"{source.topic()}:{source.partition()}:{source.offset()}"


def message_meta(m: Any) -> dict[str, Any]:
    """What the backend sees of a message besides its value (``--kafka-meta-field``)."""
    headers = m.headers()
    return {
        "topic": m.topic(),
        "partition": m.partition(),
        "offset": m.offset(),
        "timestamp": m.timestamp()[1],
        "key": text_or_base64(m.key()),
        "headers": {k: text_or_base64(v) for k, v in headers} if headers else {},
    }


def _rejected_value(value: Any, exc: Exception | None, want: str) -> Rejected:
    if value is None:
        return Rejected(None, "the message has no value (a tombstone); send JSON in the message value")
    if exc is not None:
        return Rejected(value, f"the message value is not valid JSON: {exc}")
    return Rejected(value, f"the message value is not {want}")


def _decode_all(values: list) -> list | None:
    """Every value decoded in one C loop when all are JSON objects; None to take the per-message path."""
    try:
        records = decode_many(values)
    except (DecodeError, TypeError):  # an unreadable value or a tombstone (None)
        return None
    return records if only_dicts(records) else None


def _decode_arrays(messages: list) -> Batch | None:
    """A packed batch built in C-level loops when every value is an array of objects; else None."""
    try:
        arrays = decode_many(list(map(_VALUE, messages)))
    except (DecodeError, TypeError):
        return None
    if any(type(a) is not list for a in arrays):
        return None
    records = list(chain.from_iterable(arrays))
    if not only_dicts(records):
        return None
    sources: list[Any] = list(chain.from_iterable(zip(repeat(m, len(a)), range(len(a))) for m, a in zip(messages, arrays)))
    return Batch(records, sources, list(messages))


def _as_received(received: Any, _source: Any) -> Any:
    """Record ``received`` as it came: the message value (bytes), or item ``i`` of a packed one, decoded again."""
    if type(received) is not tuple:
        return received.value()
    m, index = received
    try:
        items = _loads(m.value())
    except (DecodeError, TypeError):
        return None
    return items[index] if type(items) is list and index < len(items) else None


def message_trace_parents(messages: list) -> list[str]:
    """The W3C ``traceparent`` header of each message that carries one (docs/tracing.md)."""
    found = []
    for m in messages:
        for key, value in m.headers() or ():
            if key == "traceparent" and value:
                found.append(value.decode("latin-1") if type(value) is bytes else str(value))
    return found


class MessageDecoder:
    """Turns a list of consumed messages into a :class:`Batch` (records aligned with their sources)."""

    def __init__(self, packed: bool = False, meta_field: str | None = None) -> None:
        self.packed = packed
        self.meta_field = meta_field

    def batch(self, messages: list) -> Batch:
        batch = self._packed(messages) if self.packed else self._records(messages)
        # What each record was as received, so the Runner retries (and dead-letters) fresh copies
        # decoded again, never dicts a failed backend call changed. A copy: ``sources`` may be ``ack_ids``.
        batch.received, batch.original_of = list(batch.sources), _as_received
        return batch

    def _records(self, messages: list) -> Batch:
        if self.meta_field is None:
            fast = _decode_all(list(map(_VALUE, messages)))
            if fast is not None:
                return Batch(fast, messages, messages)
        records: list[Any] = []
        rejected = False
        meta = self.meta_field
        for m in messages:
            value = m.value()
            try:
                record = _loads(value) if value is not None else None
            except DecodeError as exc:
                record = _rejected_value(value, exc, "one JSON object")
            if type(record) is not _DICT:
                if type(record) is not Rejected:
                    record = _rejected_value(value, None, "a JSON object: send one record per message")
                rejected = True
            elif meta is not None:
                record[meta] = message_meta(m)
            records.append(record)
        return Batch(records, messages, messages, has_rejected=rejected)

    def _packed(self, messages: list) -> Batch:
        if self.meta_field is None:
            fast = _decode_arrays(messages)
            if fast is not None:
                return fast
        records: list[Any] = []
        sources: list[Any] = []
        rejected = False
        for m in messages:
            items: Any = self._items(m)
            if type(items) is Rejected:
                records.append(items)
                sources.append((m, 0))
                rejected = True
                continue
            meta = message_meta(m) if self.meta_field is not None else None
            for i, item in enumerate(items):
                if type(item) is not _DICT:
                    item = Rejected(item, f"item {i} of the array is a JSON {type(item).__name__}, not an object")
                    rejected = True
                elif meta is not None:
                    item[self.meta_field] = meta  # type: ignore[index]
                records.append(item)
                sources.append((m, i))
        return Batch(records, sources, list(messages), has_rejected=rejected)

    @staticmethod
    def _items(m: Any) -> list | Rejected:
        value = m.value()
        try:
            items = _loads(value) if value is not None else None
        except DecodeError as exc:
            return _rejected_value(value, exc, "a JSON array of records")
        if type(items) is not list:
            return _rejected_value(value, None, "a JSON array (batch input mode)")
        return items
