"""Redis Streams: a consumer-group :class:`RedisSource` and a :class:`RedisSink` that acks atomically.

Needs ``pip install 'packflow[redis]'`` (redis-py with hiredis, orjson).

Entry formats (see :mod:`packflow.runtime.stream.codec` and ``docs/stream.md``):

* output, ``record`` mode — one entry per output: ``data`` (JSON object), ``id`` (input entry id);
* output, ``batch`` mode — one entry per batch: ``data`` (JSON array), ``ids`` (JSON array of input
  ids, aligned with ``data``), ``count``;
* dead letter — ``data`` (original payload), ``id``, ``step``, ``error_type``, ``reason``, ``timestamp``.

Entries read again (this consumer's own pending entries after a restart, or entries reclaimed from
another consumer) are *suspects*: they are read one entry at a time, so that reading one does not
raise the delivery count of the others, and the driver runs and commits each on its own.
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

from packflow.runtime.codec import DecodeError
from packflow.runtime.codec import decode as loads
from packflow.runtime.stream._redis import TRANSIENT, StreamConnectionError, connect, group_error, redis, text
from packflow.runtime.stream._redis_sink import RedisSink
from packflow.runtime.stream.base import Batch, Rejected, Source
from packflow.runtime.stream.codec import (
    DATA_FIELD,
    decode_entry,
    decode_packed_entry,
    field_value,
    only_dicts,
    original_payload,
)

__all__ = ["RedisSink", "RedisSource", "StreamConnectionError", "connect", "refuse_loops"]

log = logging.getLogger("packflow.stream")
#: The entry field carrying a W3C trace context, next to ``data`` (``XADD in * data {...} traceparent 00-...``).
TRACEPARENT_FIELD = b"traceparent"

#: XACK the inputs (KEYS[1], group ARGV[1], ids ARGV[2..]) only if every written key (KEYS[2..])
#: holds a stream: run after the batch's XADDs in one MULTI/EXEC, it acknowledges nothing when an
#: XADD failed with WRONGTYPE (the key changed type mid-run), the one way our XADDs fail at run time.
GUARDED_XACK = """
for i = 2, #KEYS do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind ~= 'stream' then
    return redis.error_reply('UNWRITTEN ' .. KEYS[i] .. ' holds a ' .. kind .. ', not a stream; nothing acknowledged')
  end
end
local acked = 0
for i = 2, #ARGV, 1000 do
  acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return acked
"""


def refuse_loops(input_stream: str, output_stream: str, dead_letter_stream: str) -> None:
    """Raise :class:`StreamConnectionError` when outputs or dead letters would go to the input stream."""
    for option, key in (("--output-stream", output_stream), ("--dead-letter-stream", dead_letter_stream)):
        if key == input_stream:
            raise StreamConnectionError(
                f"{option} {key!r} is the input stream: every result would be read again as input, forever; "
                "write results to another stream."
            )


class RedisSource(Source):
    """Read a stream through a consumer group; reclaim entries other consumers left unacknowledged."""

    transient_errors = TRANSIENT

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        start_from: str = "begin",
        input_mode: str = "record",
        field: bytes = DATA_FIELD,
        claim_idle_ms: int = 60_000,
        max_deliveries: int = 5,
    ) -> None:
        if start_from not in ("begin", "new"):
            raise ValueError(f"start_from must be 'begin' or 'new', got {start_from!r}")
        if input_mode not in ("record", "batch"):
            raise ValueError(f"input_mode must be 'record' or 'batch', got {input_mode!r}")
        self.client = client
        self.stream, self.group, self.consumer = stream, group, consumer
        self.start_from = start_from
        self.packed = input_mode == "batch"
        self.field = field
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self._claim_every = max(claim_idle_ms / 2000.0, 0.05)
        self._next_claim = 0.0
        self._claim_cursor = b"0-0"
        self._history: bytes | None = b"0"  # own unacknowledged entries are read first
        self._per_entry = 0.0  # running mean of records per packed entry (0: none seen yet)
        self._suffixes: list[bytes] = []
        self._unpacked: tuple[Any, Any] = (None, None)

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the consumer group (and the stream) if missing."""
        start = "0" if self.start_from == "begin" else "$"
        try:
            self.client.execute_command("XGROUP", "CREATE", self.stream, self.group, start, "MKSTREAM")
            log.info("created consumer group %r on %r from %s", self.group, self.stream, self.start_from)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise StreamConnectionError(f"Cannot create consumer group {self.group!r} on {self.stream!r}: {exc}") from exc

    def recover(self) -> None:
        """After a connection loss: make sure the group exists, re-read our own unacknowledged entries."""
        self.open()
        self._history = b"0"

    def close(self) -> None:
        self.client.close()

    # -- reading --------------------------------------------------------------------------------

    def read(self, max_records: int, block_ms: int) -> Batch | None:
        if time.monotonic() >= self._next_claim:
            batch = self._reclaim(max(max_records, 100))
            if batch is not None:
                return batch
        if self._history is not None:
            entries = self._xreadgroup(1, None, self._history)
            if entries:
                self._history = entries[-1][0]
                return self._decode(self._check_deliveries(entries), suspect=True)
            self._history = None
        entries = self._xreadgroup(self._entry_count(max_records), block_ms, b">")
        return self._decode(entries) if entries else None

    def _entry_count(self, max_records: int) -> int:
        """Entries to ask for: one per record, or for packed entries as many as fit ``max_records``."""
        if not self.packed:
            return max_records
        if not self._per_entry:  # records per packed entry unknown until the first read
            return 1
        return max(1, int(max_records / self._per_entry))

    def _xreadgroup(self, count: int, block_ms: int | None, start: bytes) -> list:
        args: list[Any] = ["XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", block_ms]
        try:
            reply = self.client.execute_command(*args, "STREAMS", self.stream, start)
        except redis.ResponseError as exc:
            raise group_error(exc) from exc
        return reply[0][1] if reply else []

    def _reclaim(self, count: int) -> Batch | None:
        """Take over entries other consumers left pending past ``claim_idle_ms``.

        ``JUSTID`` moves them to this consumer without raising their delivery counts; they are then
        read one at a time from this consumer's own pending list (as suspects), each read raising
        only its own count.
        """
        try:
            reply = self.client.execute_command(
                "XAUTOCLAIM", self.stream, self.group, self.consumer, self.claim_idle_ms, self._claim_cursor,
                "COUNT", count, "JUSTID",
            )  # fmt: skip
        except redis.ResponseError as exc:
            raise group_error(exc) from exc
        self._claim_cursor = reply[0]
        if self._claim_cursor == b"0-0":  # a full pass over the pending list is done
            self._next_claim = time.monotonic() + self._claim_every
        if reply[1]:
            log.info("reclaimed %d entries idle for more than %d ms", len(reply[1]), self.claim_idle_ms)
            self._history = b"0"
        deleted = reply[2] if len(reply) > 2 else []
        if not deleted:  # trimmed or deleted while pending: dead-lettered, not dropped silently
            return None
        log.warning("%d pending entries were deleted from %r before being processed", len(deleted), self.stream)
        return self._decode([(eid, None) for eid in deleted], suspect=True)

    def _check_deliveries(self, entries: list) -> list:
        """Replace entries delivered more than ``max_deliveries`` times by Rejected markers."""
        first, last = entries[0][0], entries[-1][0]
        pending = self.client.xpending_range(self.stream, self.group, first, last, len(entries), self.consumer)
        counts: dict[Any, int] = {p["message_id"]: int(p["times_delivered"]) for p in pending}
        out = []
        for eid, fields in entries:
            delivered = counts.get(eid, 0)
            if delivered > self.max_deliveries:
                reason = (
                    f"delivered {delivered} times without being acknowledged (max_deliveries={self.max_deliveries}); "
                    "a consumer probably crashed on it"
                )
                fields = Rejected(original_payload(fields, self.field), reason, "deliver")
            out.append((eid, fields))
        return out

    # -- decoding -------------------------------------------------------------------------------

    def _decode(self, entries: list, suspect: bool = False) -> Batch:
        if self.packed:
            return self._decode_packed(entries, suspect)
        field = self.field
        ids, records, rejected = [], [], False
        for eid, fields in entries:
            ids.append(eid)
            record = decode_entry(fields, field) if type(fields) is not Rejected else fields
            if type(record) is not dict:
                rejected = True
            records.append(record)
        # received: the entries themselves, aligned with the records (no per-record cost)
        return Batch(records, ids, ids, has_rejected=rejected, suspect=suspect, received=entries,
                     original_of=self._original_entry)  # fmt: skip

    def _decode_packed(self, entries: list, suspect: bool = False) -> Batch:
        field = self.field
        acks: list[Any] = []
        sources: list[Any] = []
        records: list[Any] = []
        received: list[Any] = []
        rejected = False
        for eid, fields in entries:
            acks.append(eid)
            packed = decode_packed_entry(fields, field) if type(fields) is not Rejected else fields
            if type(packed) is not list:
                records.append(packed)
                sources.append(eid)
                received.append(fields)
                rejected = True
                continue
            records.extend(packed)
            sources.extend([eid + s for s in self._suffix(len(packed))])
            received.extend([fields] * len(packed))
            if not rejected:
                rejected = not only_dicts(packed)
        if acks:
            seen = max(1.0, len(records) / len(acks))
            self._per_entry = 0.8 * self._per_entry + 0.2 * seen if self._per_entry else seen
        return Batch(records, sources, acks, has_rejected=rejected, suspect=suspect, received=received,
                     original_of=self._original_packed)  # fmt: skip

    def _original_entry(self, entry: Any, _source: Any) -> Any:
        """What a dead letter keeps of a record entry: the raw field bytes as they came."""
        fields = entry[1]
        return fields.payload if type(fields) is Rejected else original_payload(fields, self.field)

    def _original_packed(self, fields: Any, source: Any) -> Any:
        """Item ``k`` of a packed entry (position ``<id>#<k>``) as received: a new copy each time."""
        if type(fields) is Rejected:
            return fields.payload
        raw = original_payload(fields, self.field)
        _, sep, index = (source.decode() if type(source) is bytes else str(source)).rpartition("#")
        if self._unpacked[0] is not raw:  # one entry decoded again, kept while its records are asked for
            try:
                self._unpacked = (raw, loads(raw))
            except DecodeError:
                return raw
        try:
            return copy.deepcopy(self._unpacked[1][int(index)]) if sep else raw
        except (ValueError, TypeError, IndexError, KeyError):
            return raw

    def _suffix(self, n: int) -> list[bytes]:
        if len(self._suffixes) < n:
            self._suffixes = [b"#%d" % i for i in range(max(n, 2 * len(self._suffixes)))]
        return self._suffixes[:n]

    # -- acknowledging and stats ----------------------------------------------------------------

    def ack(self, batch: Batch) -> None:
        self.client.execute_command("XACK", self.stream, self.group, *batch.ack_ids)

    def ack_into(self, pipe: Any, batch: Batch, unless_broken: tuple[str, ...] = ()) -> None:
        """Queue the XACK of ``batch`` on a pipeline (so it commits with the outputs).

        ``unless_broken``: keys the batch wrote to; the XACK runs only if each still holds a stream.
        """
        if not unless_broken:
            pipe.execute_command("XACK", self.stream, self.group, *batch.ack_ids)
            return
        keys = (self.stream, *unless_broken)
        pipe.execute_command("EVAL", GUARDED_XACK, len(keys), *keys, self.group, *batch.ack_ids)

    def trace_parents(self, batch: Batch) -> list[str]:
        """The ``traceparent`` field of each entry of ``batch`` that has one (tracing on; docs/tracing.md)."""
        found: list[str] = []
        last = None
        for item in batch.received or ():
            fields = item if self.packed else item[1]
            if fields is last or not fields or type(fields) is Rejected:  # packed: one entry, many records
                continue
            last = fields
            value = field_value(fields, TRACEPARENT_FIELD)
            if value:
                found.append(value.decode("latin-1") if type(value) is bytes else str(value))
        return found

    def stats(self) -> dict[str, Any]:
        """``lag`` (entries not yet delivered to the group) and ``pending`` (delivered, unacknowledged)."""
        for info in self.client.xinfo_groups(self.stream):
            if text(info.get("name")) == self.group:
                return {"lag": info.get("lag"), "pending": info.get("pending")}
        return {}
