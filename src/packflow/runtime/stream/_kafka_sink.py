"""``KafkaSink``: outputs and dead letters produced, delivery confirmed by the brokers, then the commit.

Output messages (``record`` mode): value = the output as JSON, key = the input's key, headers = the
input's headers (``traceparent`` included, so a trace continues downstream) plus
``packflow.input`` = ``topic:partition:offset`` of the input. ``batch`` mode: one message per batch
and input partition, value = JSON array of the outputs, header ``packflow.inputs`` = JSON array of
their input ids (aligned). Outputs go to partition ``input partition % output partitions`` by default
(``partitioner="input"``: the input's per-partition order is kept), or by key (``"key"``).

Dead letters: key, value and headers exactly as the input had them, plus headers
``packflow.topic``, ``packflow.partition``, ``packflow.offset`` (and ``packflow.index`` inside a
batch-packed message), ``packflow.step``, ``packflow.error_type``, ``packflow.reason``,
``packflow.timestamp``.
"""

from __future__ import annotations

import logging
from itertools import groupby
from operator import itemgetter
from typing import Any

from packflow.runtime.codec import dead_letter
from packflow.runtime.deadletter import DeadLetter
from packflow.runtime.stream._kafka import KafkaStartError, KafkaTransientError, ck, raise_for
from packflow.runtime.stream._kafka_records import _loads, input_id
from packflow.runtime.stream.base import Batch, Sink, SinkCounts, Source
from packflow.runtime.stream.codec import dumps, only_dicts

__all__ = ["KafkaSink"]

log = logging.getLogger("packflow.stream")

_WRITTEN = "written"  # batch.token once its messages are delivered (a retried ack does not re-send them)
_FLUSH_SLICE_S = 1.0
_MESSAGE, _INDEX = itemgetter(0), itemgetter(1)  # of a batch-packed record's source (message, index)


class KafkaSink(Sink):
    """Produce results to ``output_topic`` / ``dead_letter_topic``; commit inputs once delivered."""

    transient_errors = (KafkaTransientError,)

    def __init__(
        self,
        settings: dict[str, Any],
        output_topic: str,
        dead_letter_topic: str,
        *,
        output_mode: str = "record",
        partitioner: str = "input",
        delivery_timeout_s: float = 300.0,
        metadata: Any = None,
    ) -> None:
        if output_mode not in ("record", "batch"):
            raise ValueError(f"output_mode must be 'record' or 'batch', got {output_mode!r}")
        if partitioner not in ("input", "key"):
            raise ValueError(f"partitioner must be 'input' or 'key', got {partitioner!r}")
        self.output_topic, self.dead_letter_topic = output_topic, dead_letter_topic
        self.batched = output_mode == "batch"
        self.by_input = partitioner == "input"
        self.delivery_timeout_s = delivery_timeout_s
        self.failures: list[Any] = []
        self.producer = ck.Producer({**settings, "delivery.report.only.error": True, "on_delivery": self._on_delivery})
        self._partitions = {output_topic: 1, dead_letter_topic: 1}
        self._counted = SinkCounts()
        self._prefixes: dict[int, str] = {}
        # A consumer asks for metadata without creating topics (a producer's request may create them).
        self._metadata = metadata if metadata is not None else self.producer

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failures.append(err)

    def open(self) -> None:
        """Check both topics exist and learn their partition counts (``metadata``: a client that never auto-creates)."""
        for option, topic in (("--output-stream", self.output_topic), ("--dead-letter-stream", self.dead_letter_topic)):
            try:
                meta = self._metadata.list_topics(topic, timeout=10).topics.get(topic)
            except ck.KafkaException as exc:
                raise KafkaStartError(f"Cannot reach the Kafka cluster ({exc.args[0].str()}); check --kafka-bootstrap.") from exc
            if meta is None or meta.error is not None or not meta.partitions:
                raise KafkaStartError(f"{option} topic {topic!r} does not exist; create it first.")
            self._partitions[topic] = len(meta.partitions)

    # -- writing --------------------------------------------------------------------------------

    def write(self, batch: Batch, results: list[Any]) -> SinkCounts:
        """Produce every result of ``batch`` and wait until the brokers acknowledged all of them."""
        counts = self._produce_all(batch, results)
        self._await_delivery()
        return counts

    def write_and_ack(self, batch: Batch, results: list[Any], source: Source) -> SinkCounts:
        if batch.token is _WRITTEN:  # delivered before the commit failed: only commit again
            source.ack(batch)
            return self._counted
        counts = self.write(batch, results)
        batch.token, self._counted = _WRITTEN, counts
        source.ack(batch)
        return counts

    def _produce_all(self, batch: Batch, results: list[Any]) -> SinkCounts:
        if self.batched:
            return self._produce_packed(batch, results)
        counts = SinkCounts()
        topic, produce = self.output_topic, self.producer.produce
        parts, by_input, prefixes = self._partitions[topic], self.by_input, self._prefixes
        source: Any
        for source, result in zip(batch.sources, results):
            if type(result) is not dict:
                self._dead(source, result)
                counts.dead_letters += 1
                continue
            try:
                value = dumps(result)
            except TypeError as exc:
                self._dead(source, _encode_failure(result, exc))
                counts.dead_letters += 1
                counts.encode_failures += 1
                continue
            m = source[0] if type(source) is tuple else source
            p = m.partition()
            prefix = prefixes.get(p) or self._prefix(m)
            headers = m.headers()  # librdkafka's cached list: never changed in place (a retried write reuses it)
            position = ("packflow.input", f"{prefix}{m.offset()}" if m is source else input_id(source))
            headers = [*headers, position] if headers else [position]
            key = m.key()
            try:  # the hot path; a full queue or an oversized message take the slow one
                produce(topic, value, key, p % parts if by_input or key is None else -1, headers=headers)
            except (BufferError, ck.KafkaException):
                if not self._produce(topic, value, key, headers, p, source):
                    counts.dead_letters += 1
                    continue
            counts.outputs += 1
        return counts

    def _prefix(self, m: Any) -> str:
        prefix = self._prefixes[m.partition()] = f"{m.topic()}:{m.partition()}:"
        return prefix

    def _produce_packed(self, batch: Batch, results: list[Any]) -> SinkCounts:
        counts = SinkCounts()
        groups = self._grouped(batch, results) if only_dicts(results) else self._grouped_with_dead(batch, results, counts)
        for partition, (outputs, ids, positions) in groups.items():
            value, ids = self._encode_packed(outputs, ids, positions, batch, counts)
            if ids:
                self._produce(self.output_topic, value, None, [("packflow.inputs", dumps(ids))], partition, None)
                counts.outputs += len(ids)
        return counts

    @staticmethod
    def _grouped(batch: Batch, results: list[Any]) -> dict[int, tuple[list, list, list]]:
        """Outputs, input ids and positions per input partition when every result is an output.

        One step per input message; the per-record work (slices, ids) runs in C-level loops.
        """
        groups: dict[int, tuple[list, list, list]] = {}
        sources = batch.sources
        packed = bool(sources) and type(sources[0]) is tuple
        numbers = _numbers(len(results))
        pos = 0
        m: Any
        for m, run in groupby(sources, _MESSAGE if packed else None):  # a message's records are contiguous
            items = tuple(run)
            outputs, ids, positions = groups.setdefault(m.partition(), ([], [], []))
            end = pos + len(items)
            outputs += results[pos:end]
            prefix = f"{m.topic()}:{m.partition()}:{m.offset()}"
            if packed:
                ids += map(f"{prefix}#".__add__, map(numbers.__getitem__, map(_INDEX, items)))
            else:
                ids.append(prefix)
            positions += range(pos, end)
            pos = end
        return groups

    def _grouped_with_dead(self, batch: Batch, results: list[Any], counts: SinkCounts) -> dict[int, tuple[list, list, list]]:
        """:meth:`_grouped` record by record, dead-lettering the results that are not outputs."""
        groups: dict[int, tuple[list, list, list]] = {}  # input partition -> outputs, ids, positions
        numbers = _numbers(len(results))
        last: Any = None
        source: Any
        prefix = ""
        outputs: list = []
        ids: list = []
        positions: list = []
        for j, (source, result) in enumerate(zip(batch.sources, results)):
            if type(result) is not dict:
                self._dead(source, result)
                counts.dead_letters += 1
                continue
            m, index = source if type(source) is tuple else (source, None)
            if m is not last:  # records of one message are contiguous: look its group up once
                last = m
                outputs, ids, positions = groups.setdefault(m.partition(), ([], [], []))
                prefix = f"{m.topic()}:{m.partition()}:{m.offset()}" + ("#" if index is not None else "")
            outputs.append(result)
            ids.append(prefix if index is None else prefix + numbers[index])
            positions.append(j)
        return groups

    def _encode_packed(self, outputs: list, ids: list, positions: list, batch: Batch, counts: SinkCounts) -> tuple[bytes, list]:
        try:
            return dumps(outputs), ids
        except TypeError:
            pass
        encoded, kept = [], []
        for output, i, j in zip(outputs, ids, positions):
            try:
                encoded.append(dumps(output))
                kept.append(i)
            except TypeError as exc:
                self._dead(batch.sources[j], _encode_failure(output, exc))
                counts.dead_letters += 1
                counts.encode_failures += 1
        return b"[" + b",".join(encoded) + b"]", kept

    def _produce(self, topic: str, value: bytes, key: Any, headers: Any, partition: int, source: Any) -> bool:
        """Queue one message (waiting while the local queue is full); False if it was dead-lettered instead."""
        target = partition % self._partitions[topic] if self.by_input or key is None else -1
        while True:
            try:
                self.producer.produce(topic, value, key, partition=target, headers=headers)
                return True
            except BufferError:  # local queue full: let deliveries drain (backpressure)
                self.producer.poll(0.05)
            except ck.KafkaException as exc:
                if source is None or exc.args[0].code() != ck.KafkaError.MSG_SIZE_TOO_LARGE:
                    raise_for(exc, f"producing to {topic!r}")
                reason = f"the output ({len(value)} bytes) is larger than the producer's message.max.bytes"
                self._dead(source, dead_letter(None, "deliver", "MessageSizeTooLarge", message=reason))
                return False

    def _dead(self, source: Any, letter: DeadLetter) -> None:
        m, index = (source if type(source) is tuple else (source, None))
        headers = [*(m.headers() or ())]  # a copy: the message's own list stays as received
        headers += [
            ("packflow.topic", m.topic()), ("packflow.partition", str(m.partition())), ("packflow.offset", str(m.offset())),
            ("packflow.step", letter.step), ("packflow.error_type", letter.error_type),
            ("packflow.reason", letter.message), ("packflow.timestamp", letter.timestamp),
        ]  # fmt: skip
        value = m.value()
        if index is not None:
            headers.append(("packflow.index", str(index)))
            value = _packed_item(value, index)
        self._produce(self.dead_letter_topic, value, m.key(), headers, m.partition(), None)

    def _await_delivery(self) -> None:
        """Block until every queued message is acknowledged; raise if any delivery failed."""
        waited = 0.0
        while self.producer.flush(_FLUSH_SLICE_S) > 0:
            waited += _FLUSH_SLICE_S
            if waited >= self.delivery_timeout_s:
                raise KafkaTransientError(f"outputs not acknowledged after {waited:.0f}s; is the cluster up?")
        if self.failures:
            err, self.failures = self.failures[0], []
            raise_for(ck.KafkaException(err), f"delivering to {self.output_topic!r}")

    def close(self) -> None:
        self.producer.flush(5)


_NUMBERS: list[str] = []


def _numbers(n: int) -> list[str]:
    """``["0", "1", ...]`` with at least ``n`` items (cached: record indexes inside packed messages)."""
    if len(_NUMBERS) < n:
        _NUMBERS.extend(str(i) for i in range(len(_NUMBERS), max(n, 2 * len(_NUMBERS))))
    return _NUMBERS


def _packed_item(value: bytes | None, index: int) -> Any:
    """Item ``index`` of a batch-packed message, re-encoded as it was received (the whole value if unreadable)."""
    try:
        items = _loads(value) if value is not None else None
        return dumps(items[index]) if type(items) is list and index < len(items) else value
    except (ValueError, TypeError):
        return value


def _encode_failure(output: Any, exc: Exception) -> DeadLetter:
    """The dead letter of an output that cannot be encoded (the message carries the input as received)."""
    return dead_letter(None, "encode", exc)

