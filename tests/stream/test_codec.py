"""The entry decoder: properties over arbitrary entries (hypothesis) and the documented formats."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packflow.runtime.stream.base import Batch, Rejected
from packflow.runtime.stream.codec import decode_entry, decode_packed_entry, original_payload, payload_bytes

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)
records = st.dictionaries(st.text(), json_values, max_size=6)
raw_fields = st.lists(st.binary(max_size=20), max_size=8)


@given(records)
def test_a_json_record_in_the_data_field_round_trips(record):
    assert decode_entry([b"data", orjson.dumps(record)]) == record


@given(records, st.dictionaries(st.binary(min_size=1, max_size=5), st.binary(max_size=5), max_size=3))
def test_the_data_field_wins_over_other_fields_in_any_position(record, extra):
    extra.pop(b"data", None)
    fields = [x for kv in extra.items() for x in kv] + [b"data", orjson.dumps(record)]
    assert decode_entry(fields) == record


@given(st.dictionaries(st.text(min_size=1).filter(lambda k: k != "data"), st.text(), min_size=1, max_size=6))
def test_entries_whose_fields_are_the_record_decode_to_strings(record):
    fields = [x.encode() for kv in record.items() for x in kv]
    assert decode_entry(fields) == record
    assert decode_entry({k.encode(): v.encode() for k, v in record.items()}) == record


@settings(max_examples=300)
@given(raw_fields)
def test_decoding_never_raises_and_rejections_say_why(fields):
    if len(fields) % 2:
        fields = fields + [b""]  # stream entries always have field/value pairs
    result = decode_entry(fields)
    assert type(result) in (dict, Rejected)
    if type(result) is Rejected:
        assert result.step == "decode" and result.reason
        payload_bytes(result.payload)  # every rejected payload can be written to the dead-letter stream


@pytest.mark.parametrize(
    ("raw", "words"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "JSON list, not an object"), (b"42", "JSON int"), (b'"s"', "JSON str")],
)
def test_rejections_keep_the_original_bytes(raw, words):
    result = decode_entry([b"data", raw])
    assert type(result) is Rejected
    assert result.payload == raw and words in result.reason


def test_an_empty_entry_was_deleted_and_is_rejected():
    for fields in (None, [], {}):
        result = decode_entry(fields)
        assert type(result) is Rejected and "deleted" in result.reason and result.payload is None


def test_non_utf8_fields_are_rejected_with_their_payload():
    result = decode_entry([b"x", b"\xff\xfe"])
    assert type(result) is Rejected and "UTF-8" in result.reason
    assert result.payload == {"x": "\\xff\\xfe"}


@given(st.lists(records, max_size=10))
def test_a_packed_entry_yields_its_records_in_order(batch):
    assert decode_packed_entry([b"data", orjson.dumps(batch)]) == batch


@given(st.lists(json_values, max_size=10))
def test_packed_items_that_are_not_objects_are_rejected_one_by_one(items):
    out = decode_packed_entry([b"data", orjson.dumps(items)])
    assert isinstance(out, list) and len(out) == len(items)
    for item, got in zip(items, out):
        if isinstance(item, dict):
            assert got == item
        else:
            assert type(got) is Rejected and got.payload == item


@pytest.mark.parametrize("fields", [[b"data", b"{}"], [b"data", b"nope"], [b"x", b"1"], None])
def test_a_packed_entry_without_an_array_is_rejected_whole(fields):
    out = decode_packed_entry(fields)
    assert type(out) is Rejected and out.reason


def test_original_payload_prefers_the_data_field():
    assert original_payload([b"k", b"v", b"data", b"raw"]) == b"raw"
    assert original_payload([b"k", b"v"]) == {"k": "v"}
    assert original_payload(None) is None


def test_batch_extend_keeps_shared_id_lists_in_step():
    ids = [b"1-0"]
    batch = Batch([{"a": 1}], ids, ids)
    more_ids = [b"2-0"]
    batch.extend(Batch([Rejected(b"x", "bad")], more_ids, more_ids, has_rejected=True))
    assert batch.sources == batch.ack_ids == [b"1-0", b"2-0"] and batch.has_rejected and len(batch) == 2
    packed = Batch([{"a": 1}, {"a": 2}], [b"1-0#0", b"1-0#1"], [b"1-0"])
    packed.extend(Batch([{"a": 3}], [b"2-0#0"], [b"2-0"]))
    assert packed.sources == [b"1-0#0", b"1-0#1", b"2-0#0"] and packed.ack_ids == [b"1-0", b"2-0"]


def test_the_stream_interface_and_cli_import_no_broker_client():
    # orjson is not checked: the shared codec (packflow.runtime.codec, used by the Runner) uses it when installed
    import subprocess
    import sys

    code = (
        "import sys, packflow.runtime.stream, packflow.cli.stream; "
        "print(sorted(m for m in ('redis', 'prometheus_client', 'hiredis') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
