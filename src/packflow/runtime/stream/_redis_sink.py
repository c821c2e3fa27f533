"""``RedisSink``: outputs (per record or per batch) and dead letters, committed with the inputs' XACK."""

from __future__ import annotations

from typing import Any

from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.stream._redis import TRANSIENT, StreamConnectionError, group_error, redis, text
from packflow.runtime.stream._transaction import transaction
from packflow.runtime.stream.base import Batch, Sink, SinkCounts, Source
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
        """Refuse keys that exist but are not streams: in MULTI/EXEC a failed XADD would not stop the XACK."""
        for option, key in (("--output-stream", self.output_stream), ("--dead-letter-stream", self.dead_letter_stream)):
            kind = text(self.client.type(key))
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
        ack_into = getattr(source, "ack_into", None)
        if ack_into is None or getattr(source, "client", None) is not self.client:
            return super().write_and_ack(batch, results, source)
        pipe = transaction(self.client)
        counts = self._append(pipe, batch, results)
        ack_into(pipe, batch)
        try:
            pipe.execute()
        except redis.ResponseError as exc:
            raise group_error(exc) from exc
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
    return dumps([text(i) for i in ids])
