"""``RedisSink``: outputs (per record or per batch) and dead letters, committed with the inputs' XACK.

The XACK runs in the same ``MULTI``/``EXEC`` as the writes, guarded: it acknowledges only when every
key written still holds a stream (a Redis transaction does not stop at a failed command, and an
``XADD`` to a key that changed type mid-run fails with ``WRONGTYPE``). Every reply is checked; when a
write failed, only the entries whose results were all written are acknowledged and
:class:`~packflow.runtime.stream.base.WriteFailedError` says what was and was not written.
"""

from __future__ import annotations

from typing import Any

from packflow.runtime.codec import dead_letter
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.stream._redis import TRANSIENT, StreamConnectionError, group_error, redis, text
from packflow.runtime.stream._transaction import transaction
from packflow.runtime.stream.base import Batch, Sink, SinkCounts, Source, WriteFailedError
from packflow.runtime.stream.codec import dumps, only_dicts, payload_bytes

__all__ = ["RedisSink"]

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
        """Refuse keys that exist but are not streams (every write to them would fail)."""
        for option, key in (("--output-stream", self.output_stream), ("--dead-letter-stream", self.dead_letter_stream)):
            kind = text(self.client.type(key))
            if kind not in ("stream", "none"):
                raise StreamConnectionError(
                    f"{option} {key!r} exists and holds a Redis {kind}, not a stream; choose another name or delete the key."
                )

    def write(self, batch: Batch, results: list[Any]) -> SinkCounts:
        pipe = transaction(self.client)
        counts, covers = self._append(pipe, batch, results)
        replies = pipe.execute(raise_on_error=False)
        failed = [i for i, reply in enumerate(replies) if isinstance(reply, redis.ResponseError)]
        if failed:
            raise self._failure(batch, replies, failed, covers, acknowledged=[])
        return counts

    def write_and_ack(self, batch: Batch, results: list[Any], source: Source) -> SinkCounts:
        ack_into = getattr(source, "ack_into", None)
        if ack_into is None or getattr(source, "client", None) is not self.client:
            return super().write_and_ack(batch, results, source)
        pipe = transaction(self.client)
        counts, covers = self._append(pipe, batch, results)
        ack_into(pipe, batch, unless_broken=self._written_keys(counts))
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis.ResponseError as exc:  # the transaction was refused as a whole: nothing ran
            raise group_error(exc) from exc
        writes, ack = replies[:-1], replies[-1]
        failed = [i for i, reply in enumerate(writes) if isinstance(reply, redis.ResponseError)]
        if failed:
            raise self._failure(batch, writes, failed, covers, self._ack_written(batch, failed, covers, source))
        if isinstance(ack, redis.ResponseError):  # e.g. NOGROUP: written, not acknowledged (re-delivered)
            raise group_error(ack)
        return counts

    def _written_keys(self, counts: SinkCounts) -> tuple[str, ...]:
        keys = (self.output_stream,) if counts.outputs else ()
        return keys + (self.dead_letter_stream,) if counts.dead_letters else keys

    # -- queueing -------------------------------------------------------------------------------

    def _append(self, pipe: Any, batch: Batch, results: list[Any]) -> tuple[SinkCounts, Any]:
        if self.batched:
            return self._append_batch(pipe, batch, results)
        counts = SinkCounts()
        command, xadd = pipe.execute_command, self._xadd
        for i, (source, result) in enumerate(zip(batch.sources, results)):
            if type(result) is dict:
                try:
                    command(*xadd, b"data", dumps(result), b"id", source)
                    counts.outputs += 1
                    continue
                except TypeError as exc:
                    result = _encode_failure(batch, i, exc)
                    counts.encode_failures += 1
            self._dead(pipe, source, result)
            counts.dead_letters += 1
        return counts, None

    def _append_batch(self, pipe: Any, batch: Batch, results: list[Any]) -> tuple[SinkCounts, list[list[Any]]]:
        counts = SinkCounts()
        covers: list[list[Any]] = []
        outputs, ids = results, batch.sources
        where: list[int] | range = range(len(results))  # result index of each output
        if not only_dicts(results):
            outputs, ids, kept = [], [], []
            for i, (source, result) in enumerate(zip(batch.sources, results)):
                if type(result) is dict:
                    outputs.append(result)
                    ids.append(source)
                    kept.append(i)
                else:
                    self._dead(pipe, source, result)
                    covers.append([source])
                    counts.dead_letters += 1
            where = kept
        try:
            data = dumps(outputs)
        except TypeError:
            data, ids = self._encode_each(pipe, batch, outputs, ids, list(where), counts, covers)
        if ids:
            pipe.execute_command(*self._xadd, b"data", data, b"ids", _ids_json(ids), b"count", len(ids))
            covers.append(list(ids))
        counts.outputs += len(ids)
        return counts, covers

    def _encode_each(
        self, pipe: Any, batch: Batch, outputs: list, ids: list, where: list[int], counts: SinkCounts, covers: list
    ) -> tuple[bytes, list]:
        encoded, kept = [], []
        for source, output, i in zip(ids, outputs, where):
            try:
                encoded.append(dumps(output))
                kept.append(source)
            except TypeError as exc:
                self._dead(pipe, source, _encode_failure(batch, i, exc))
                covers.append([source])
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

    # -- failed writes --------------------------------------------------------------------------

    def _unwritten(self, batch: Batch, failed: list[int], covers: Any) -> set[Any]:
        """Ack ids of the entries at least one of whose results was not written."""
        sources = [batch.sources[i] for i in failed] if covers is None else [s for i in failed for s in covers[i]]
        return {_entry_id(s) for s in sources}

    def _ack_written(self, batch: Batch, failed: list[int], covers: Any, source: Source) -> list[Any]:
        unwritten = self._unwritten(batch, failed, covers)
        written = [a for a in batch.ack_ids if _entry_id(a) not in unwritten]
        if written:
            source.ack(Batch([], [], written))
        return written

    def _failure(self, batch: Batch, replies: list, failed: list[int], covers: Any, acknowledged: list) -> WriteFailedError:
        unacked = len(batch.ack_ids) - len(acknowledged)
        broken = [f"{key!r} now holds a Redis {kind}" for key, kind in self._key_kinds() if kind not in ("stream", "none")]
        where = f" ({'; '.join(broken)}, not a stream: delete or rename it)" if broken else ""
        return WriteFailedError(
            f"{len(failed)} of {len(replies)} writes to Redis failed ({replies[failed[0]]}){where}. "
            f"{unacked} input entries whose results were not all written were NOT acknowledged: they stay pending "
            f"and will be delivered again (their results that were written will be written again); "
            f"{len(acknowledged)} entries whose results were all written were acknowledged.",
            acknowledged=len(acknowledged),
            unacknowledged=unacked,
        )

    def _key_kinds(self) -> list[tuple[str, str]]:
        try:
            return [(key, text(self.client.type(key))) for key in (self.output_stream, self.dead_letter_stream)]
        except redis.RedisError:
            return []

    def close(self) -> None:
        self.client.close()


def _encode_failure(batch: Batch, index: int, exc: Exception) -> DeadLetter:
    message = f"the output is not JSON-serialisable ({exc}); return JSON-native values from transform_outputs"
    original = batch.original(index)
    return dead_letter(original if original is not None else batch.records[index], "encode", exc, message=message)


def _entry_id(source: Any) -> Any:
    """The entry a record's position belongs to (``<entry id>#<index>`` in packed input)."""
    if type(source) is bytes:
        return source.split(b"#", 1)[0]
    return str(source).split("#", 1)[0]


def _ids_json(ids: list) -> bytes:
    if type(ids[0]) is bytes:  # entry ids are ASCII digits, '-' and '#': no escaping needed
        return b'["' + b'","'.join(ids) + b'"]'
    return dumps([text(i) for i in ids])
