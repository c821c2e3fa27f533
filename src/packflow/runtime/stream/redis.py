"""Redis Streams: a consumer-group :class:`RedisSource` and a :class:`RedisSink` that acks atomically.

Needs ``pip install 'packflow[redis]'`` (redis-py with hiredis, orjson).

Entry formats (see :mod:`packflow.runtime.stream.codec` and ``docs/stream.md``):

* output, ``record`` mode — one entry per output: ``data`` (JSON object), ``id`` (input entry id);
* output, ``batch`` mode — one entry per batch: ``data`` (JSON array), ``ids`` (JSON array of input
  ids, aligned with ``data``), ``count``;
* dead letter — ``data`` (original payload), ``id``, ``step``, ``error_type``, ``reason``, ``timestamp``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from packflow.exceptions import PackflowError
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.stream._transaction import transaction
from packflow.runtime.stream.base import Batch, Rejected, Sink, SinkCounts, Source
from packflow.runtime.stream.codec import (
    DATA_FIELD,
    decode_entry,
    decode_packed_entry,
    dumps,
    only_dicts,
    original_payload,
    payload_bytes,
)

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "packflow's Redis Streams driver needs the redis client: pip install 'packflow[redis]'"
    ) from exc

__all__ = ["RedisSink", "RedisSource", "StreamConnectionError", "connect"]

log = logging.getLogger("packflow.stream")


class StreamConnectionError(PackflowError):
    """The broker cannot be reached or used at start-up (bad URL, refused connection, wrong server)."""


class GroupMissingError(redis.ConnectionError):
    """The consumer group vanished (Redis restarted without persistence): recreated on recovery."""


TRANSIENT = (redis.ConnectionError, redis.TimeoutError)


def connect(url: str, socket_timeout: float = 10.0) -> redis.Redis:
    """A client for ``url`` that raw-parses stream replies (no per-entry dicts) and never retries on its own."""
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=5.0, retry=Retry(NoBackoff(), 0), protocol=2
        )
    except ValueError as exc:
        raise StreamConnectionError(f"Invalid --redis-url {url!r}: {exc}; use redis://HOST:PORT/DB.") from exc
    for command in ("XREADGROUP", "XAUTOCLAIM"):
        client.set_response_callback(command, lambda response, **options: response)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise StreamConnectionError(
            f"Cannot reach Redis at {url!r} ({type(exc).__name__}: {exc}); start redis-server or fix --redis-url."
        ) from exc
    return client


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
        count = self._entry_count(max_records)
        if time.monotonic() >= self._next_claim:
            batch = self._reclaim(count)
            if batch is not None:
                return batch
        if self._history is not None:
            entries = self._xreadgroup(count, None, self._history)
            if entries:
                self._history = entries[-1][0]
                return self._decode(self._check_deliveries(entries))
            self._history = None
        entries = self._xreadgroup(count, block_ms, b">")
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
            raise _group_error(exc) from exc
        return reply[0][1] if reply else []

    def _reclaim(self, count: int) -> Batch | None:
        try:
            reply = self.client.execute_command(
                "XAUTOCLAIM", self.stream, self.group, self.consumer, self.claim_idle_ms, self._claim_cursor, "COUNT", count
            )
        except redis.ResponseError as exc:
            raise _group_error(exc) from exc
        self._claim_cursor = reply[0]
        if self._claim_cursor == b"0-0":  # a full pass over the pending list is done
            self._next_claim = time.monotonic() + self._claim_every
        entries = [entry for entry in reply[1] if entry is not None]
        if len(reply) > 2 and reply[2]:  # trimmed or deleted while pending: dead-lettered, not dropped silently
            log.warning("%d pending entries were deleted from %r before being processed", len(reply[2]), self.stream)
            entries.extend((eid, None) for eid in reply[2])
        if not entries:
            return None
        log.info("reclaimed %d entries idle for more than %d ms", len(entries), self.claim_idle_ms)
        return self._decode(self._check_deliveries(entries))

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

    def _decode(self, entries: list) -> Batch:
        if self.packed:
            return self._decode_packed(entries)
        field = self.field
        ids, records, rejected = [], [], False
        for eid, fields in entries:
            ids.append(eid)
            record = decode_entry(fields, field) if type(fields) is not Rejected else fields
            if type(record) is not dict:
                rejected = True
            records.append(record)
        return Batch(records, ids, ids, has_rejected=rejected)

    def _decode_packed(self, entries: list) -> Batch:
        field = self.field
        acks: list[Any] = []
        sources: list[Any] = []
        records: list[Any] = []
        rejected = False
        for eid, fields in entries:
            acks.append(eid)
            packed = decode_packed_entry(fields, field) if type(fields) is not Rejected else fields
            if type(packed) is not list:
                records.append(packed)
                sources.append(eid)
                rejected = True
                continue
            records.extend(packed)
            sources.extend([eid + s for s in self._suffix(len(packed))])
            if not rejected:
                rejected = not only_dicts(packed)
        if acks:
            seen = max(1.0, len(records) / len(acks))
            self._per_entry = 0.8 * self._per_entry + 0.2 * seen if self._per_entry else seen
        return Batch(records, sources, acks, has_rejected=rejected)

    def _suffix(self, n: int) -> list[bytes]:
        if len(self._suffixes) < n:
            self._suffixes = [b"#%d" % i for i in range(max(n, 2 * len(self._suffixes)))]
        return self._suffixes[:n]

    # -- acknowledging and stats ----------------------------------------------------------------

    def ack(self, batch: Batch) -> None:
        self.client.execute_command("XACK", self.stream, self.group, *batch.ack_ids)

    def ack_into(self, pipe: Any, batch: Batch) -> None:
        """Queue the XACK of ``batch`` on a pipeline (so it commits with the outputs)."""
        pipe.execute_command("XACK", self.stream, self.group, *batch.ack_ids)

    def stats(self) -> dict[str, Any]:
        """``lag`` (entries not yet delivered to the group) and ``pending`` (delivered, unacknowledged)."""
        for info in self.client.xinfo_groups(self.stream):
            if _text(info.get("name")) == self.group:
                return {"lag": info.get("lag"), "pending": info.get("pending")}
        return {}


class RedisSink(Sink):
    """Append outputs (per record or per batch) and dead letters to streams in one MULTI/EXEC."""

    transient_errors = TRANSIENT

    def __init__(
        self,
        client: redis.Redis,
        output_stream: str,
        dead_letter_stream: str,
        *,
        output_mode: str = "record",
        maxlen: int | None = None,
    ) -> None:
        if output_mode not in ("record", "batch"):
            raise ValueError(f"output_mode must be 'record' or 'batch', got {output_mode!r}")
        self.client = client
        self.output_stream = output_stream
        self.dead_letter_stream = dead_letter_stream
        self.batched = output_mode == "batch"
        self._xadd = (b"XADD", output_stream, b"MAXLEN", b"~", maxlen, b"*") if maxlen else (b"XADD", output_stream, b"*")

    def open(self) -> None:
        """Refuse keys that exist but are not streams: in MULTI/EXEC a failed XADD would not stop the XACK."""
        for option, key in (("--output-stream", self.output_stream), ("--dead-letter-stream", self.dead_letter_stream)):
            kind = _text(self.client.type(key))
            if kind not in ("stream", "none"):
                raise StreamConnectionError(
                    f"{option} {key!r} exists and holds a Redis {kind}, not a stream; choose another name or delete the key."
                )

    def write(self, batch: Batch, results: list[Any]) -> SinkCounts:
        pipe = transaction(self.client)
        counts = self._append(pipe, batch, results)
        pipe.execute()
        return counts

    def write_and_ack(self, batch: Batch, results: list[Any], source: Source) -> SinkCounts:
        if not (isinstance(source, RedisSource) and source.client is self.client):
            return super().write_and_ack(batch, results, source)
        pipe = transaction(self.client)
        counts = self._append(pipe, batch, results)
        source.ack_into(pipe, batch)
        try:
            pipe.execute()
        except redis.ResponseError as exc:
            raise _group_error(exc) from exc
        return counts

    def _append(self, pipe: Any, batch: Batch, results: list[Any]) -> SinkCounts:
        if self.batched:
            return self._append_batch(pipe, batch, results)
        counts = SinkCounts()
        command, xadd = pipe.execute_command, self._xadd
        for source, result in zip(batch.sources, results):
            if type(result) is dict:
                try:
                    command(*xadd, b"data", dumps(result), b"id", source)
                    counts.outputs += 1
                    continue
                except TypeError as exc:
                    result = _encode_failure(result, exc)
                    counts.encode_failures += 1
            self._dead(pipe, source, result)
            counts.dead_letters += 1
        return counts

    def _append_batch(self, pipe: Any, batch: Batch, results: list[Any]) -> SinkCounts:
        counts = SinkCounts()
        outputs, ids = results, batch.sources
        if not only_dicts(results):
            outputs, ids = [], []
            for source, result in zip(batch.sources, results):
                if type(result) is dict:
                    outputs.append(result)
                    ids.append(source)
                else:
                    self._dead(pipe, source, result)
                    counts.dead_letters += 1
        try:
            data = dumps(outputs)
        except TypeError:
            data, ids = self._encode_each(pipe, outputs, ids, counts)
        if ids:
            pipe.execute_command(*self._xadd, b"data", data, b"ids", _ids_json(ids), b"count", len(ids))
        counts.outputs += len(ids)
        return counts

    def _encode_each(self, pipe: Any, outputs: list, ids: list, counts: SinkCounts) -> tuple[bytes, list]:
        encoded, kept = [], []
        for source, output in zip(ids, outputs):
            try:
                encoded.append(dumps(output))
                kept.append(source)
            except TypeError as exc:
                self._dead(pipe, source, _encode_failure(output, exc))
                counts.dead_letters += 1
                counts.encode_failures += 1
        return b"[" + b",".join(encoded) + b"]", kept

    def _dead(self, pipe: Any, source: Any, letter: DeadLetter) -> None:
        pipe.execute_command(
            "XADD", self.dead_letter_stream, "*",
            b"data", payload_bytes(letter.record),
            b"id", source,
            b"step", letter.step,
            b"error_type", letter.error_type,
            b"reason", letter.message,
            b"timestamp", letter.timestamp,
        )  # fmt: skip

    def close(self) -> None:
        self.client.close()


def _encode_failure(output: Any, exc: Exception) -> DeadLetter:
    message = f"the output is not JSON-serialisable ({exc}); return JSON-native values from transform_outputs"
    return DeadLetter(repr(output), "encode", type(exc).__name__, message)


def _ids_json(ids: list) -> bytes:
    if type(ids[0]) is bytes:  # entry ids are ASCII digits, '-' and '#': no escaping needed
        return b'["' + b'","'.join(ids) + b'"]'
    return dumps([_text(i) for i in ids])


def _text(value: Any) -> str:
    return value.decode() if type(value) is bytes else str(value)


def _group_error(exc: redis.ResponseError) -> Exception:
    if "NOGROUP" in str(exc):
        return GroupMissingError(f"consumer group missing ({exc}); recreating it")
    return exc
