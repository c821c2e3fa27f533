"""Kafka driver parts that need no cluster: settings parsing and masking, delivery marks, batch pruning."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

ck = pytest.importorskip("confluent_kafka", reason="needs the packflow[kafka] extra")

from packflow.exceptions import ConfigurationError  # noqa: E402
from packflow.runtime.stream._kafka_deliveries import Tracked, format_mark, parse_mark  # noqa: E402
from packflow.runtime.stream.base import Batch  # noqa: E402
from packflow.runtime.stream.kafka import _prune  # noqa: E402
from packflow.runtime.stream.kafka_config import KafkaSettingsError, Redactor, is_secret, load_settings, parse_pairs  # noqa: E402

keys = st.from_regex(r"[a-z][a-z.]{0,20}", fullmatch=True)
values = st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=30).map(str.strip)


@given(st.dictionaries(keys, values, max_size=8))
def test_pairs_round_trip(settings):
    assert parse_pairs(f"{k}={v}" for k, v in settings.items()) == settings


@given(keys, values)
def test_a_value_may_hold_equals_signs(key, value):
    assert parse_pairs([f"{key}=a={value}"]) == {key: f"a={value}".strip()}


@given(st.text(st.characters(blacklist_characters="="), min_size=1))
def test_a_pair_without_equals_is_refused_with_a_typed_error(text):
    with pytest.raises(KafkaSettingsError) as info:
        parse_pairs([text])
    assert isinstance(info.value, ConfigurationError) and isinstance(info.value, ValueError)
    if is_secret(text):
        assert text.strip() not in str(info.value)


def test_settings_file_properties_and_json_then_pairs_override(tmp_path):
    props = tmp_path / "c.properties"
    props.write_text("# comment\n! also a comment\n\nsecurity.protocol = SASL_SSL\nsasl.password=p=w\n")
    assert load_settings(str(props), ["security.protocol=SSL"]) == {"security.protocol": "SSL", "sasl.password": "p=w"}
    js = tmp_path / "c.json"
    js.write_text('{"enable.idempotence": true, "linger.ms": 5}')
    assert load_settings(str(js), []) == {"enable.idempotence": "true", "linger.ms": "5"}
    js.write_text('{"sasl.password": "s3cret"')
    with pytest.raises(KafkaSettingsError) as info:
        load_settings(str(js), [])
    assert "s3cret" not in str(info.value)
    (tmp_path / "bad.properties").write_text("just-a-line-with-s3cret\n")
    with pytest.raises(KafkaSettingsError, match="line 1 is not key=value") as info:
        load_settings(str(tmp_path / "bad.properties"), [])
    assert "s3cret" not in str(info.value)
    with pytest.raises(KafkaSettingsError, match="does not exist"):
        load_settings(str(tmp_path / "missing.properties"), [])


@pytest.mark.parametrize(
    "key", ["sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret", "ssl.key.pem", "sasl.oauthbearer.config"]
)
def test_secret_keys_are_masked(key):
    redactor = Redactor({key: "hunter2-xyz", "security.protocol": "SASL_SSL"})
    assert redactor.shown({key: "hunter2-xyz", "security.protocol": "SASL_SSL"}) == {key: "***", "security.protocol": "SASL_SSL"}
    assert redactor("auth failed for hunter2-xyz") == "auth failed for ***"


def test_log_filter_masks_and_drops_repeats():
    redactor = Redactor({"sasl.password": "hunter2-xyz"})
    record = logging.LogRecord("x", logging.ERROR, "f", 1, "FAIL %s", ("pw hunter2-xyz",), None)
    assert redactor.filter(record) and record.getMessage() == "FAIL pw ***"
    again = logging.LogRecord("x", logging.ERROR, "f", 1, "FAIL %s", ("pw hunter2-xyz",), None)
    assert not redactor.filter(again)  # the same message within quiet_s is dropped


@given(st.integers(0, 10**6), st.integers(-1, 10**12))
def test_marks_round_trip(tries, end):
    assert parse_mark(format_mark(tries, end)) == (tries, end)


@given(st.one_of(st.none(), st.text(max_size=30)))
def test_foreign_metadata_is_clean(metadata):
    if metadata is None or not metadata.startswith("packflow:1:"):
        assert parse_mark(metadata) is None


def test_tracked_suspect_span_advances_then_clears():
    state = Tracked.from_commit(10, format_mark(1, 12))
    assert state.suspect and (state.committed, state.tries, state.end) == (10, 1, 12)
    assert state.after(10) == format_mark(1, 12) and state.suspect  # 11 was started once, in the crashed batch
    assert state.after(11) == format_mark(1, 12)
    assert state.after(12) == "" and not state.suspect  # span done: clean metadata again
    assert not Tracked.from_commit(13, format_mark(4, 12)).suspect  # a mark behind the commit is stale
    assert not Tracked.from_commit(-1001, None).suspect


class _Msg:
    def __init__(self, partition, offset):
        self._p, self._o = partition, offset

    def partition(self):
        return self._p

    def offset(self):
        return self._o


def test_prune_drops_only_the_revoked_partitions_records_in_place():
    messages = [_Msg(p, o) for o in range(3) for p in (0, 1, 2)]
    shared = list(messages)
    batch = Batch([{"p": m.partition()} for m in shared], shared, shared)
    records, sources = batch.records, batch.sources
    assert _prune(batch, {1}) == 3
    assert batch.records is records and batch.sources is sources  # the driver's references stay valid
    assert [r["p"] for r in batch.records] == [0, 2] * 3 and batch.ack_ids is batch.sources
    packed = Batch([{}, {}, {}], [(messages[0], 0), (messages[1], 0), (messages[1], 1)], [messages[0], messages[1]])
    assert _prune(packed, {1}) == 2 and len(packed.records) == 1 and packed.ack_ids == [messages[0]]


def test_writing_a_batch_twice_leaves_the_input_headers_as_received():
    """librdkafka caches a message's header list: the sink must copy it, not append to it (a retried
    write or a dead letter would otherwise carry the packflow headers twice)."""
    from packflow.runtime.codec import dead_letter
    from packflow.runtime.stream._kafka_sink import KafkaSink

    m = ck.Message(topic="in", partition=1, offset=7, key=b"k", value=b'{"x": 1}', headers=[("traceparent", b"00-ab")])
    poisoned = ck.Message(topic="in", partition=1, offset=8, key=b"k", value=b'{"x": 2}', headers=[("h", b"v")])
    sink = KafkaSink({"bootstrap.servers": "127.0.0.1:1", "log_level": 0}, "out", "dead")
    batch = Batch([{"x": 1}, {"x": 2}], [m, poisoned], [m, poisoned])
    results = [{"y": 2}, dead_letter({"x": 2}, "execute", "ValueError", message="bad")]
    for _attempt in range(2):
        counts = sink._produce_all(batch, results)
        assert (counts.outputs, counts.dead_letters) == (1, 1)
    assert m.headers() == [("traceparent", b"00-ab")] and poisoned.headers() == [("h", b"v")]
    sink.producer.purge()
