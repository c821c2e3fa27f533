"""``TransactionalKafkaSink``: outputs, dead letters and the consumed offsets in one Kafka transaction.

Consume-transform-produce as Kafka defines exactly-once: per batch ``begin_transaction``, produce
every output and dead letter, ``send_offsets_to_transaction`` (the offsets that acknowledge the
batch, with the consumer's group metadata so a zombie consumer is fenced), ``commit_transaction``.
Readers that use ``isolation.level=read_committed`` see each batch's outputs once, or not at all.
A failed batch is aborted (nothing of it becomes visible) and retried whole.

What librdkafka's *mock* cluster cannot show is in ``docs/kafka.md``: it accepts the offsets sent
in a transaction but never stores them, and it does not hide aborted or open transactions from
``read_committed`` readers.
"""

from __future__ import annotations

import logging
from typing import Any

from packflow.runtime.stream._kafka import KafkaStartError, KafkaStreamError, KafkaTransientError, ck, raise_for
from packflow.runtime.stream._kafka_sink import KafkaSink
from packflow.runtime.stream.base import Batch, SinkCounts, Source

__all__ = ["TransactionalKafkaSink"]

log = logging.getLogger("packflow.stream")

_TXN_TIMEOUT_S = 30.0


class TransactionalKafkaSink(KafkaSink):
    """A :class:`KafkaSink` whose ``write_and_ack`` is one transaction (needs ``transactional.id``)."""

    def __init__(self, settings: dict[str, Any], output_topic: str, dead_letter_topic: str, **kw: Any) -> None:
        if not settings.get("transactional.id"):
            raise ValueError("exactly-once needs a transactional.id in the producer settings")
        super().__init__(settings, output_topic, dead_letter_topic, **kw)
        self._in_txn = False
        self._ready = False

    def open(self) -> None:
        """Check the topics, then register the transactional id (aborting a predecessor's open transaction)."""
        if self._ready:
            return
        super().open()
        try:
            self.producer.init_transactions(_TXN_TIMEOUT_S)
        except ck.KafkaException as exc:
            raise KafkaStartError(f"Cannot start Kafka transactions ({exc.args[0].str()}); the cluster must support them.") from exc
        self._ready = True

    def write_and_ack(self, batch: Batch, results: list[Any], source: Source) -> SinkCounts:
        offsets_of = getattr(source, "offsets", None)
        if offsets_of is None:
            raise TypeError("exactly-once needs a KafkaSource (its offsets go into the transaction)")
        self._abort_leftover()
        offsets = offsets_of(batch)
        try:
            self.producer.begin_transaction()
            self._in_txn = True
            counts = self._produce_all(batch, results)
            if offsets:
                self.producer.send_offsets_to_transaction(offsets, source.group_metadata(), _TXN_TIMEOUT_S)  # type: ignore[attr-defined]
            self.producer.commit_transaction(_TXN_TIMEOUT_S)
            self._in_txn = False
        except ck.KafkaException as exc:
            self._fail(exc)
        source.acked(batch, offsets)  # type: ignore[attr-defined]
        return counts

    def _fail(self, exc: ck.KafkaException) -> None:
        err = exc.args[0]
        if err.fatal():
            raise KafkaStreamError(f"the transactional producer failed fatally: {err.str()} (another process may use the same transactional id)") from exc
        self._abort_leftover()
        if err.txn_requires_abort() or err.retriable():
            raise KafkaTransientError(f"batch transaction aborted ({err.str()}); it is written again") from exc
        raise_for(exc, "committing the batch transaction")

    def _abort_leftover(self) -> None:
        if not self._in_txn:
            return
        try:
            self.producer.abort_transaction(_TXN_TIMEOUT_S)
            self._in_txn = False
            log.warning("aborted an unfinished transaction; its batch is written again")
        except ck.KafkaException as exc:
            raise_for(exc, "aborting the batch transaction")

    def close(self) -> None:
        if self._in_txn:
            try:
                self.producer.abort_transaction(5)
            except ck.KafkaException:
                pass
