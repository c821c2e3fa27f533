"""``--exit-when-idle`` and rebalances: a consumer between a revocation and its next assignment is not idle."""

from __future__ import annotations

import threading
import time

import pytest

from packflow.runtime import Runner
from packflow.runtime.stream import DriverOptions, StreamDriver
from packflow.runtime.stream.base import Batch, Sink, SinkCounts, Source

ck = pytest.importorskip("confluent_kafka", reason="needs the packflow[kafka] extra")

pytestmark = [pytest.mark.kafka]


def test_a_kafka_source_is_unsettled_until_its_first_assignment(kafka):
    """Joining can outlast the join wait (a dead member holds the group until its session ends):
    the idle clock must not run before the group has handed this consumer its partitions."""
    from packflow.runtime.stream.kafka import KafkaSource

    topic = kafka.topic("in", 2)
    settings = {"bootstrap.servers": kafka.bootstrap, "group.id": f"{kafka.prefix}-first", "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "session.timeout.ms": 3000, "heartbeat.interval.ms": 500}
    source = KafkaSource(settings, topic)
    source.join_timeout_s = 0.0  # give up waiting at once, as if the join outlasted the wait
    source.open()
    try:
        deadline = time.monotonic() + 30
        states = [source.settled()]
        while not source.settled() and time.monotonic() < deadline:
            source.read(10, 100)  # polls: the assignment arrives through the consumer
            states.append(source.settled())
        assert states[0] is False and states[-1] is True  # unsettled until assigned, then settled
    finally:
        source.close()


def test_a_kafka_source_is_unsettled_from_revocation_to_assignment(kafka):
    from packflow.runtime.stream.kafka import KafkaSource

    topic = kafka.topic("in", 2)
    kafka.fill(topic, 20)
    group = f"{kafka.prefix}-g"
    settings = {"bootstrap.servers": kafka.bootstrap, "group.id": group, "enable.auto.commit": False,
                "auto.offset.reset": "earliest", "session.timeout.ms": 3000, "heartbeat.interval.ms": 500}
    source = KafkaSource(settings, topic)
    source.open()
    try:
        batch = source.read(100, 2000)
        assert batch is not None and source.settled()
        source.ack(batch)
        other = ck.Consumer(settings)  # a second member joins: the group takes partitions back from the first
        other.subscribe([topic])
        stop = threading.Event()
        joiner = threading.Thread(target=lambda: [other.poll(0.1) for _ in iter(stop.is_set, True)], daemon=True)
        joiner.start()
        states = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (False in states and states[-1]):
            source.read(100, 100)
            states.append(source.settled())
        stop.set()
        joiner.join(5)
        other.close()
        assert False in states, "the rebalance was never seen as unsettled"
        assert states[-1], "the source stayed unsettled after its new assignment"
    finally:
        source.close()


class _Rebalancing(Source):
    """No records ever; unsettled for the first ``busy_s`` seconds (a group handing partitions over)."""

    def __init__(self, busy_s: float) -> None:
        self.until = time.monotonic() + busy_s

    def read(self, max_records: int, block_ms: int) -> Batch | None:
        time.sleep(0.01)
        return None

    def ack(self, batch: Batch) -> None:
        raise AssertionError("nothing was read")

    def settled(self) -> bool:
        return time.monotonic() >= self.until


class _NoSink(Sink):
    def write(self, batch: Batch, results: list) -> SinkCounts:
        raise AssertionError("nothing was read")


def test_the_idle_clock_starts_once_the_source_has_settled():
    from packflow import InferenceBackend

    class Identity(InferenceBackend):
        def execute(self, inputs):
            return inputs

    driver = StreamDriver(Runner(Identity()), _Rebalancing(1.0), _NoSink(), DriverOptions(exit_when_idle=0.3))
    started = time.monotonic()
    driver.run()
    assert time.monotonic() - started >= 1.25  # 1 s unsettled, then 0.3 s idle
    assert driver.stats.stopped_by == "idle for 0.3s"
