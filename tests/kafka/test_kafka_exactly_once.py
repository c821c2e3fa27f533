"""``--exactly-once``: outputs, dead letters and offsets in one transaction — and what the mock cluster can prove.

librdkafka's mock cluster runs the transactional protocol (InitProducerId, AddPartitionsToTxn,
AddOffsetsToTxn, TxnOffsetCommit, EndTxn all succeed), but it never stores offsets sent with
``send_offsets_to_transaction`` and it shows aborted and open transactions to ``read_committed``
readers. ``test_mock_cluster_transaction_limits`` pins that down; the tests that depend on those
two features run only where the cluster has them (a real one, ``PACKFLOW_KAFKA_BOOTSTRAP``).
"""

from __future__ import annotations

import json
import signal
import uuid

import pytest

ck = pytest.importorskip("confluent_kafka")

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _probe(kafka):
    """(offsets sent in a transaction are stored, aborted transactions are hidden from read_committed)."""
    source, out = kafka.topic("probe-in", 1), kafka.topic("probe-out", 1)
    kafka.produce(source, [b"{}"] * 3)
    group = f"probe-{uuid.uuid4().hex}"
    consumer = ck.Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    consumer.subscribe([source])
    while not consumer.assignment():
        consumer.poll(0.2)
    producer = ck.Producer({"bootstrap.servers": kafka.bootstrap, "transactional.id": f"probe-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(out, b"committed")
    producer.send_offsets_to_transaction([ck.TopicPartition(source, 0, 2)], consumer.consumer_group_metadata(), 30)
    producer.commit_transaction(30)
    producer.begin_transaction()
    producer.produce(out, b"aborted")
    producer.flush(10)
    producer.abort_transaction(30)
    stored = consumer.committed([ck.TopicPartition(source, 0)], timeout=10)[0].offset == 2
    consumer.close()
    visible = [m.value() for m in kafka.read(out, "read_committed", timeout=5)]
    return stored, b"aborted" not in visible


def _topics(kafka):
    return kafka.topic("in", 4), kafka.topic("out", 4), kafka.topic("dead", 1)


def _args(topics, *extra):
    return ("--input-stream", topics[0], "--output-stream", topics[1], "--dead-letter-stream", topics[2], "--group", "g", *extra)


def test_mock_cluster_transaction_limits(kafka):
    """What docs/kafka.md says the mock cannot do: if this fails, the mock learnt it — update the docs."""
    if kafka.kind != "mock":
        pytest.skip("documents the librdkafka mock cluster only")
    assert _probe(kafka) == (False, False)


def test_exactly_once_writes_every_input_once_in_transactions(kafka, k, processes):
    topics = _topics(kafka)
    kafka.fill(topics[0], 3_000, poison_every=100)
    proc = k.stream_cli(kafka, "stream_backends:Poison", *_args(topics, "--exactly-once", "--batch-size", "250", "--exit-when-idle", "1.5"))
    processes.append(proc)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    outputs, dead = kafka.read(topics[1]), kafka.read(topics[2])
    ends = kafka.end_offsets(topics[0])
    assert k.input_ids(outputs, dead) == k.all_ids(topics[0], ends)
    assert len(dead) == 30
    stored, _hidden = _probe(kafka)
    if stored:  # a real cluster: the offsets committed with the last transaction are the ends
        assert {p: off for p, (off, _) in kafka.committed("g", topics[0]).items()} == ends


def test_exactly_once_kill_9_mid_batch_leaves_no_duplicate(kafka, k, processes):
    stored, hidden = _probe(kafka)
    if not (stored and hidden):
        pytest.skip(
            "the cluster does not store offsets sent in a transaction or does not hide aborted transactions "
            "(librdkafka's mock does neither); run with PACKFLOW_KAFKA_BOOTSTRAP against a real cluster"
        )
    topics = _topics(kafka)
    kafka.fill(topics[0], 6_000)
    env = {"PACKFLOW_TEST_DELAY_S": "0.05"}
    args = ("stream_backends:Poison", *_args(topics, "--exactly-once", "--batch-size", "200", "--consumer", "c1"))
    first = k.stream_cli(kafka, *args, env=env)
    processes.append(first)
    assert k.wait_for(lambda: len(kafka.read(topics[1], timeout=2)) >= 1_000, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = k.stream_cli(kafka, *args, "--exit-when-idle", "2", env=env)  # same transactional id: aborts the open one
    processes.append(second)
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    seen = k.input_ids(kafka.read(topics[1]), kafka.read(topics[2]))
    assert seen == k.all_ids(topics[0], kafka.end_offsets(topics[0]))  # every input exactly once: no duplicate


def test_exactly_once_outputs_carry_the_same_format(kafka, k, processes):
    topics = _topics(kafka)
    kafka.produce(topics[0], [json.dumps({"i": 1}).encode()], keys=[b"key-1"], headers=[("traceparent", b"00-x-y-01")])
    proc = k.stream_cli(kafka, "stream_backends:Poison", *_args(topics, "--exactly-once", "--exit-when-idle", "1"))
    processes.append(proc)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (m,) = kafka.read(topics[1])
    assert m.key() == b"key-1" and k.header(m, "traceparent") == b"00-x-y-01"
    assert json.loads(m.value())["i"] == 1
