"""Kafka: a consumer-group :class:`KafkaSource` and a :class:`KafkaSink` that commits after delivery.

Needs ``pip install 'packflow[kafka]'`` (confluent-kafka). See ``docs/kafka.md``.

* A batch's offsets are committed only once every output and dead letter of the batch has been
  acknowledged by the brokers (at-least-once); with ``exactly_once`` the outputs, dead letters and
  offsets go in one Kafka transaction.
* Rebalances: partitions are only revoked while the driver reads (never while a batch is being
  written), and records of revoked partitions that were read but not processed are dropped from
  the batch being filled — never written, never committed; their new owner reads them again.
* Crash isolation: see :mod:`packflow.runtime.stream._kafka_deliveries`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from packflow.runtime.stream._kafka import KafkaStartError, KafkaTransientError, ck, is_rebalance_error, raise_for
from packflow.runtime.stream._kafka_deliveries import Tracked, format_mark
from packflow.runtime.stream._kafka_records import MessageDecoder, message_trace_parents
from packflow.runtime.stream._kafka_sink import KafkaSink
from packflow.runtime.stream.base import Batch, Rejected, Source

__all__ = ["KafkaSink", "KafkaSource"]

log = logging.getLogger("packflow.stream")

# Unbound C methods, for scans of a batch's messages that run no bytecode per message.
_ERROR: Any = ck.Message.error
_PARTITION: Any = ck.Message.partition
_OFFSET: Any = ck.Message.offset


class KafkaSource(Source):
    """Read ``topic`` through consumer group ``group`` with manual commits and delivery marks."""

    transient_errors = (KafkaTransientError,)

    def __init__(
        self,
        settings: dict[str, Any],
        topic: str,
        *,
        input_mode: str = "record",
        max_deliveries: int = 5,
        meta_field: str | None = None,
    ) -> None:
        if input_mode not in ("record", "batch"):
            raise ValueError(f"input_mode must be 'record' or 'batch', got {input_mode!r}")
        self.topic = topic
        self.group = settings["group.id"]
        self.max_deliveries = max_deliveries
        self.decoder = MessageDecoder(packed=input_mode == "batch", meta_field=meta_field)
        self.consumer = ck.Consumer(settings)
        self.tracked: dict[int, Tracked] = {}
        self.paused: dict[int, int] = {}  # partition -> its position (next offset to read) when paused
        self._open: Batch | None = None  # the batch handed out and not yet acknowledged
        self._solo = False  # the open batch holds one suspect record: read nothing more
        self._opened = False
        self._assigned_once = False
        self._held: list = []  # messages consumed but not handed out yet (oldest first)
        self._taking: list = []  # messages of the read in progress (given back if it fails)
        self._per_message = 0.0  # running mean of records per batch-packed message
        self._unsaved: dict[int, Any] = {}  # written offsets a rebalance refused to commit
        self._rebalancing = False
        self._revoked = False  # partitions were revoked and the next assignment has not come yet
        self.join_timeout_s = 60.0

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        """Check the topic exists, then join the group (assignment happens on the first reads)."""
        if self._opened:
            return
        try:
            meta = self.consumer.list_topics(self.topic, timeout=10)
        except ck.KafkaException as exc:
            raise KafkaStartError(f"Cannot reach the Kafka cluster ({exc.args[0].str()}); check --kafka-bootstrap.") from exc
        found = meta.topics.get(self.topic)
        if found is None or found.error is not None:
            raise KafkaStartError(f"--input-stream topic {self.topic!r} does not exist; create it first.")
        self.consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke)
        self._opened = True
        self._await_assignment()

    def _await_assignment(self) -> None:
        """Poll until the group hands this consumer its partitions (so idle time counts from then)."""
        deadline = time.monotonic() + self.join_timeout_s
        while not self._assigned_once and time.monotonic() < deadline:
            try:
                self._held.extend(self._usable(self.consumer.consume(1, 0.1)))
            except ck.KafkaException as exc:
                raise_for(exc, "joining the consumer group")
        if not self._assigned_once:
            log.warning("no partitions assigned after %.0fs in group %r; still waiting", self.join_timeout_s, self.group)

    def close(self) -> None:
        """Leave the group (its partitions move to the other members at once)."""
        try:
            self.consumer.close()
        except (RuntimeError, ck.KafkaException) as exc:  # already closed, or the cluster is gone
            log.info("closing the Kafka consumer: %s", exc)

    # -- rebalances -----------------------------------------------------------------------------

    def _on_assign(self, consumer: Any, partitions: list) -> None:
        mine = {p.partition for p in partitions}
        self._save([tp for p, tp in self._unsaved.items() if p in mine], "after the rebalance")
        self._unsaved.clear()
        self._rebalancing = self._revoked = False
        try:
            committed = consumer.committed(partitions, timeout=10)
        except ck.KafkaException as exc:  # retried by the driver on the next read
            log.warning("reading committed offsets after an assignment failed: %s", exc)
            committed = [ck.TopicPartition(p.topic, p.partition, -1001) for p in partitions]
        for tp in committed:
            state = Tracked.from_commit(tp.offset, tp.metadata)
            self.tracked[tp.partition] = state
            if state.suspect:
                log.warning(
                    "partition %d: offsets %d..%d were in flight when a consumer stopped; processing them one at a time",
                    tp.partition, state.committed, state.end,
                )  # fmt: skip
        self._assigned_once = True
        log.info("assigned partitions %s of %r", sorted(mine), self.topic)

    def _on_revoke(self, consumer: Any, partitions: list) -> None:
        gone = {p.partition for p in partitions}
        self._revoked = True
        if self._unsaved and self._save([tp for p, tp in self._unsaved.items() if p in gone], "before the revocation"):
            for p in gone:
                self._unsaved.pop(p, None)
        for partition in gone:
            self.tracked.pop(partition, None)
            self.paused.pop(partition, None)
        self._held = [m for m in self._held if m.partition() not in gone]  # the next owner reads them
        if self._open is not None:
            dropped = _prune(self._open, gone)
            if dropped:
                log.info("partitions %s revoked mid-batch: %d records read but not written are left to their new owner", sorted(gone), dropped)
        log.info("revoked partitions %s of %r", sorted(gone), self.topic)

    def _save(self, offsets: list, when: str) -> bool:
        """Commit offsets a rebalance refused earlier (records already written); False if refused again."""
        if not offsets:
            return True
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
            log.info("committed %d partitions' written offsets %s", len(offsets), when)
            return True
        except ck.KafkaException as exc:
            log.warning("written offsets of partitions %s not committed %s (%s): their new owner writes those records again",
                        sorted(tp.partition for tp in offsets), when, exc.args[0].str())
            return False

    # -- reading --------------------------------------------------------------------------------

    def read(self, max_records: int, block_ms: int) -> Batch | None:
        try:
            return self._read(max_records, block_ms)
        except BaseException:
            self._give_back()
            raise

    def _give_back(self) -> None:
        """A read failed: the driver drops the batch it was filling, so hold its messages for the next read.

        Without this, records consumed from librdkafka but never handed over would be skipped (the
        consumer's position is past them) and a later commit would cover them: lost.
        """
        taken, self._taking = self._taking, []
        earlier = list(self._open.ack_ids) if self._open is not None else []
        back = [m for m in earlier + taken if m.partition() in self.tracked]
        self._held[:0] = back  # oldest first: the open batch, this read, then what was held already
        self._open, self._solo = None, False

    def _read(self, max_records: int, block_ms: int) -> Batch | None:
        self._taking = []
        if self._solo:
            return None
        if self._rebalancing:  # a commit was refused: hand out nothing until the group has settled
            self._held.extend(self._consume(max_records, min(block_ms, 100)))
            return None
        suspect = any(t.suspect for t in self.tracked.values())
        if suspect and self._open is not None:
            return None  # a suspect record is never added to a batch: it starts the next one, alone
        count = self._message_count(max_records)
        messages = self._taking = self._take(count, block_ms, suspect)
        if not messages:
            return None
        if suspect:
            return self._read_solo(messages)
        batch = self.decoder.batch(messages)
        if self.decoder.packed:
            seen = max(1.0, len(batch) / len(messages))
            self._per_message = 0.8 * self._per_message + 0.2 * seen if self._per_message else seen
        self._mark_first(messages, count)
        if self._open is None:
            self._open = batch
        self._taking = []
        return batch

    def _message_count(self, max_records: int) -> int:
        """Messages to ask for: one per record, or as many batch-packed ones as fit ``max_records``."""
        if not self.decoder.packed:
            return max_records
        if not self._per_message:  # records per packed message unknown until the first read
            return 1
        return max(1, int(max_records / self._per_message))

    def _take(self, max_records: int, block_ms: int, suspect: bool) -> list:
        """Held messages first (in order), then newly consumed ones, up to ``max_records``."""
        if not self._held:
            return self._consume(max_records, block_ms)
        if suspect and not any(self.tracked[m.partition()].suspect for m in self._held):
            more = self._consume(max_records, block_ms)
        elif len(self._held) < max_records and not suspect:
            more = self._consume(max_records - len(self._held), 0)
        else:
            more = []
        held = self._held + more  # after consuming: a revocation inside it may have replaced self._held
        taken, self._held = held[:max_records], held[max_records:]
        return taken

    def _consume(self, count: int, block_ms: int) -> list:
        try:
            return self._usable(self.consumer.consume(count, block_ms / 1000.0))
        except ck.KafkaException as exc:
            raise_for(exc, "reading from Kafka")
            raise  # unreachable: raise_for always raises

    def _usable(self, messages: list) -> list:
        """Messages without errors from partitions still assigned (errors are logged or raised).

        The common case (no error, every partition assigned) is two C-level scans, no loop per message.
        """
        if not any(map(_ERROR, messages)) and self.tracked.keys() >= set(map(_PARTITION, messages)):
            return messages
        out = []
        tracked = self.tracked
        for m in messages:
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise_for(ck.KafkaException(err), "consuming")
                log.warning("consumer error: %s", err.str())
                continue
            if m.partition() in tracked:
                out.append(m)
        return out

    def _mark_first(self, messages: list, max_records: int) -> None:
        """Commit a delivery mark for partitions read for the first time since they were assigned.

        The mark covers ``max_records`` offsets from the first one read: the whole batch, however
        the driver fills it (a later read of the same batch adds at most that many records).
        """
        tracked = self.tracked
        unmarked = {p for p in set(map(_PARTITION, messages)) if not tracked[p].marked}
        if not unmarked:  # the common case: every partition of the read was marked already
            return
        first: dict[int, int] = {}
        for m in messages:
            p = m.partition()
            if p in unmarked and p not in first:
                first[p] = m.offset()
        self._commit([ck.TopicPartition(self.topic, p, o, format_mark(1, o + max_records - 1)) for p, o in first.items()])
        for p in first:
            self.tracked[p].marked = True

    def _read_solo(self, messages: list) -> Batch | None:
        """One record of a suspect partition (others are paused, their messages held), counted as a delivery."""
        pick = None
        for m in messages:
            state = self.tracked[m.partition()]
            if state.suspect and m.offset() >= (state.committed or 0):
                pick = m
                break
        self._held[:0] = [m for m in messages if m is not pick]  # handed out later, in order
        self._taking = [pick] if pick is not None else []
        self._pause_others()
        if pick is None:
            return None
        state = self.tracked[pick.partition()]
        tries = state.tries + 1
        self._commit([ck.TopicPartition(self.topic, pick.partition(), pick.offset(), format_mark(tries, state.end))])
        state.committed, state.tries = pick.offset(), tries
        batch = self.decoder.batch([pick])
        if state.tries > self.max_deliveries:
            reason = (
                f"started {state.tries - 1} times without being committed (max_deliveries={self.max_deliveries}); "
                "a consumer probably crashed on it"
            )
            batch.records[:] = [Rejected(pick.value(), reason, "deliver") for _ in batch.records]
            batch.has_rejected = True
        self._open, self._solo, self._taking = batch, True, []
        return batch

    def _pause_others(self) -> None:
        others = [ck.TopicPartition(self.topic, p) for p, t in self.tracked.items() if not t.suspect and p not in self.paused]
        if others:
            self.consumer.pause(others)
            # librdkafka may drop what it had fetched for a paused partition: remember where we were
            for tp in self.consumer.position(others):
                committed = self.tracked[tp.partition].committed
                self.paused[tp.partition] = tp.offset if tp.offset >= 0 else (committed if committed is not None else -1)

    def _resume_if_clear(self) -> None:
        if not self.paused or any(t.suspect for t in self.tracked.values()):
            return
        partitions = [ck.TopicPartition(self.topic, p, offset) for p, offset in self.paused.items()]
        self.consumer.resume(partitions)
        for tp in partitions:
            if tp.offset >= 0:  # continue right after the last message consumed (held or handed out)
                try:
                    self.consumer.seek(tp)
                except ck.KafkaException as exc:
                    log.info("resuming partition %d at %d: %s", tp.partition, tp.offset, exc.args[0].str())
        self.paused.clear()

    # -- acknowledging --------------------------------------------------------------------------

    def offsets(self, batch: Batch) -> list:
        """The offsets (with delivery metadata) that acknowledge ``batch``; state advances in :meth:`acked`."""
        acks = batch.ack_ids
        last = dict(zip(map(_PARTITION, acks), map(_OFFSET, acks)))  # in read order: the last offset wins
        out = []
        for p, offset in last.items():
            state = self.tracked.get(p)
            if state is None:  # revoked since: its new owner re-reads it
                continue
            probe = Tracked(state.committed, state.tries, state.end)
            out.append(ck.TopicPartition(self.topic, p, offset + 1, probe.after(offset)))
        return out

    def acked(self, batch: Batch, offsets: list) -> None:
        """Advance the tracked state once ``offsets`` are committed."""
        for tp in offsets:
            state = self.tracked.get(tp.partition)
            if state is not None:
                state.after(tp.offset - 1)
        self._open, self._solo = None, False
        self._resume_if_clear()

    def abandon(self, batch: Batch) -> None:
        """Give ``batch`` up unwritten (its transaction was aborted by a rebalance): read it again."""
        first: dict[int, int] = {}
        for m in batch.ack_ids:
            first.setdefault(m.partition(), m.offset())
        for p, offset in first.items():
            if p in self.tracked:
                try:
                    self.consumer.seek(ck.TopicPartition(self.topic, p, offset))
                except ck.KafkaException as exc:  # revoked meanwhile: its next owner starts from the commit
                    log.info("rewinding partition %d: %s", p, exc.args[0].str())
        self._held = [m for m in self._held if m.partition() not in first]
        self._open, self._solo = None, False

    def ack(self, batch: Batch) -> None:
        offsets = self.offsets(batch)
        if offsets:
            self._commit(offsets)
        self.acked(batch, offsets)

    def _commit(self, offsets: list) -> None:
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except ck.KafkaException as exc:
            if not is_rebalance_error(exc):
                raise_for(exc, "committing offsets")
            log.info("commit refused while the group rebalances (%s); retried once it settles", exc.args[0].str())
            self._unsaved.update((tp.partition, tp) for tp in offsets)
            self._rebalancing = True

    def settled(self) -> bool:
        """False until the group first hands this consumer its partitions (even after the join
        warning), from a revocation until the next assignment, and while a commit waits for the group.

        Without this, ``--exit-when-idle`` shorter than a rebalance let every member of a group stop
        in the middle of one, leaving records nobody had read (the two-consumer test lost records so).
        """
        return self._assigned_once and not (self._revoked or self._rebalancing)

    def group_metadata(self) -> Any:
        return self.consumer.consumer_group_metadata()

    def stats(self) -> dict[str, Any]:
        """``lag`` (records after the consumer's position, from cached watermarks) and ``pending``."""
        assignment = self.consumer.assignment()
        lag = 0
        for tp in self.consumer.position(assignment):
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if tp.offset >= 0 and high >= 0:
                lag += max(high - tp.offset, 0)
        pending = len(self._open) if self._open is not None else 0
        return {"lag": lag, "pending": pending, "partitions": len(assignment), "paused": len(self.paused)}

    def trace_parents(self, batch: Batch) -> list[str]:
        """The ``traceparent`` header of each message of ``batch`` that has one (tracing on)."""
        return message_trace_parents(batch.ack_ids)


def _prune(batch: Batch, partitions: set[int]) -> int:
    """Drop from ``batch``, in place, every record read from ``partitions``; returns how many."""
    keep = [i for i, s in enumerate(batch.sources) if _message(s).partition() not in partitions]
    dropped = len(batch.records) - len(keep)
    if dropped:
        shared = batch.sources is batch.ack_ids
        batch.records[:] = [batch.records[i] for i in keep]
        batch.sources[:] = [batch.sources[i] for i in keep]
        if batch.received is not None:
            batch.received[:] = [batch.received[i] for i in keep]
        if not shared:
            batch.ack_ids[:] = [m for m in batch.ack_ids if m.partition() not in partitions]
    return dropped


def _message(source: Any) -> Any:
    return source[0] if type(source) is tuple else source
