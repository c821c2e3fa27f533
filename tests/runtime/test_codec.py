"""The shared codec: decode/encode rules, their properties, and the one dead-letter builder."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packflow.exceptions import DecodeError, EncodeError, InferenceBackendRuntimeError, PackflowError
from packflow.runtime import codec
from packflow.runtime.deadletter import DeadLetter

WIDE = 18446744073709551616  # 2**64: one past uint64, what orjson turns into 1.8446744073709552e+19

#: JSON-native values: any-width integers, finite floats, text (no lone surrogates: not UTF-8).
scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63, max_value=2**200)
    | st.integers(max_value=-(2**63), min_value=-(2**200)) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]))
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_decode_inverts_encode_for_json_native_values(value):
    assert codec.decode(codec.encode(value)) == value
    assert codec.decode(codec.encode(value).decode("utf-8")) == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_arbitrary_bytes_decode_or_raise_decode_error_only(data):
    try:
        codec.decode(data)
    except DecodeError as exc:
        assert isinstance(exc, ValueError) and isinstance(exc, PackflowError)
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-(2**80), max_value=2**80), min_size=1, max_size=5))
def test_wide_integers_round_trip_exactly_in_any_position(ints):
    text = json.dumps({"ids": ints, "first": ints[0]})
    assert codec.decode(text) == {"ids": ints, "first": ints[0]}
    assert codec.encode(codec.decode(text.encode())) == text.replace(" ", "").encode()


@given(st.binary(max_size=80) | st.text(alphabet="0123456789 ,.-e[]", max_size=80).map(str.encode))
def test_the_long_digit_check_on_bytes_finds_exactly_the_19_digit_runs(data):
    import re

    assert codec._has_long_digits(data) is (re.search(rb"[0-9]{19}", data) is not None)


def test_a_wide_integer_stays_an_int_on_decode_and_encode():
    value = codec.decode(b'{"id": 18446744073709551616, "neg": -9223372036854775809}')
    assert value == {"id": WIDE, "neg": -(2**63) - 1}
    assert type(value["id"]) is int
    assert codec.encode(value) == b'{"id":18446744073709551616,"neg":-9223372036854775809}'


def test_wide_integers_survive_decode_many_and_decode_record():
    lines = [b'{"a": 1}', b'{"id": 18446744073709551616}']
    assert codec.decode_many(lines) == [{"a": 1}, {"id": WIDE}]
    assert codec.decode_many([line.decode() for line in lines]) == [{"a": 1}, {"id": WIDE}]
    assert codec.decode_many(["[1]", b"2"]) == [[1], 2]
    assert codec.decode_record(lines[1]) == {"id": WIDE}


@pytest.mark.parametrize("text", ["NaN", '{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e400}',
                                  '{"id": 123456789012345678901, "x": NaN}', '{"id": 123456789012345678901, "x": 1e999}'])
def test_non_finite_numbers_in_input_are_a_decode_error(text):
    with pytest.raises(DecodeError, match="NaN|too large|not valid JSON"):
        codec.decode(text)


@pytest.mark.parametrize("data", [b"", b"[1,", b"\xff\xfe", b'{"a": 1} x', b"[" * 5000, b"1" * 5000,
                                  b'{"id": 12345678901234567890, "s": "\xff"}'])
def test_malformed_input_is_a_decode_error_saying_what_to_send(data):
    with pytest.raises(DecodeError, match="JSON|string"):
        codec.decode(data)


def test_decode_record_refuses_non_objects_naming_the_kind():
    with pytest.raises(DecodeError, match="JSON array, not an object"):
        codec.decode_record(b"[1, 2]")


def test_decode_many_names_nothing_wrong_when_one_item_is_bad():
    with pytest.raises(DecodeError):
        codec.decode_many([b'{"a": 1}', b"{oops"])


def test_decode_refuses_a_non_text_argument_with_type_error():
    with pytest.raises(TypeError, match="bytes or str"):
        codec.decode(12)  # type: ignore[arg-type]


@pytest.mark.parametrize("value, expected", [
    ({"x": float("nan")}, b'{"x":null}'),
    ({"x": [float("inf"), -math.inf]}, b'{"x":[null,null]}'),
    ({"x": np.float32("nan"), "y": np.array([np.inf, 1.5])}, b'{"x":null,"y":[null,1.5]}'),
    ({"id": 2**64, "x": float("nan")}, b'{"id":18446744073709551616,"x":null}'),
    ({"id": np.int64(5), 7: "k", "wide": 2**70}, b'{"id":5,"7":"k","wide":1180591620717411303424}'),
])
def test_non_finite_floats_encode_as_null_the_one_rule(value, expected):
    assert codec.encode(value) == expected


def test_an_unencodable_value_is_an_encode_error_and_a_type_error():
    with pytest.raises(EncodeError, match="not JSON serializable: object") as info:
        codec.encode({"out": object()})
    assert isinstance(info.value, TypeError) and isinstance(info.value, PackflowError)


def test_old_json_module_is_the_codec():
    from packflow.runtime import _json

    assert _json.loads is codec.decode and _json.dumps is codec.encode


# -- dead letters ---------------------------------------------------------------------------------


def test_dead_letter_from_an_exception_names_its_type():
    dead = codec.dead_letter({"a": 1}, "execute", ValueError("boom"), source=3)
    assert (dead.record, dead.step, dead.error_type, dead.message, dead.source) == ({"a": 1}, "execute", "ValueError", "boom", 3)


def test_dead_letter_from_a_step_error_names_the_cause():
    try:
        try:
            raise KeyError("x")
        except KeyError as cause:
            raise InferenceBackendRuntimeError("preprocess failed", step="preprocess") from cause
    except InferenceBackendRuntimeError as exc:
        dead = codec.dead_letter({}, exc.step, exc)
    assert (dead.step, dead.error_type, dead.message) == ("preprocess", "KeyError", "preprocess failed")


def test_dead_letter_rebased_on_the_received_record_keeps_type_message_and_time():
    runner_dead = DeadLetter({"mutated": True}, "execute", "ValueError", "boom")
    dead = codec.dead_letter(b'{"x":1}', "execute", runner_dead, source="1-0")
    assert (dead.record, dead.error_type, dead.message, dead.timestamp, dead.source) == (
        b'{"x":1}', "ValueError", "boom", runner_dead.timestamp, "1-0")


def test_dead_letter_from_a_type_name_and_message():
    dead = codec.dead_letter("line", "decode", "DecodeError", message="not JSON")
    assert (dead.error_type, dead.message) == ("DecodeError", "not JSON")


def test_dead_letter_refuses_an_unknown_step():
    with pytest.raises(ValueError, match="step must be one of"):
        codec.dead_letter({}, "somewhere", "X")


# -- without orjson (the core install): the standard-library path gives the same results -------------


@pytest.fixture(scope="module")
def stdlib_codec():
    import importlib.util
    import sys

    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # type: ignore[assignment]
    try:
        spec = importlib.util.spec_from_file_location("_codec_without_orjson", codec.__file__)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    finally:
        sys.modules["orjson"] = saved  # type: ignore[assignment]
    assert not module.HAVE_ORJSON
    return module


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_without_orjson_encoding_round_trips_the_same_values(stdlib_codec, value):
    assert stdlib_codec.decode(stdlib_codec.encode(value)) == value
    assert stdlib_codec.decode(codec.encode(value)) == codec.decode(stdlib_codec.encode(value))


@pytest.mark.parametrize("value, expected", [
    ({"x": float("nan"), "id": 2**64}, b'{"x":null,"id":18446744073709551616}'),
    ({"y": np.array([np.inf, 1.5]), 7: "k"}, b'{"y":[null,1.5],"7":"k"}'),
])
def test_without_orjson_non_finite_floats_are_null_too(stdlib_codec, value, expected):
    assert stdlib_codec.encode(value) == expected == codec.encode(value)


@pytest.mark.parametrize("text", ['{"x": NaN}', '{"x": 1e400}', "[1,", '{"a": 1} x'])
def test_without_orjson_the_same_inputs_are_refused(stdlib_codec, text):
    with pytest.raises(DecodeError):
        stdlib_codec.decode(text)
    with pytest.raises(EncodeError):
        stdlib_codec.encode({"o": object()})


def test_snapshot_gives_fresh_copies_of_the_records_as_they_were():
    records = [{"id": 1, "n": {"k": [1]}}, {"id": 2, "big": 2**70}]
    fresh = codec.snapshot(records)
    records[0]["n"]["k"].append(2)
    records[1].clear()
    assert fresh(0, 2) == [{"id": 1, "n": {"k": [1]}}, {"id": 2, "big": 2**70}]
    assert fresh(1, 2) is not fresh(1, 2)
    from fractions import Fraction

    odd = [{"o": Fraction(1, 3)}]  # cannot be encoded: deep-copied instead
    copies = codec.snapshot(odd)(0, 1)
    assert copies == odd and copies[0] is not odd[0]


def test_a_contract_violation_the_backend_found_is_named_like_the_runners_own():
    exc = InferenceBackendRuntimeError("returned 0 records for 1", step="output-contract")
    assert codec.dead_letter({}, "output-contract", exc).error_type == "OutputContractError"


@given(st.lists(st.lists(st.integers(min_value=-(2**70), max_value=2**70), max_size=4), max_size=6))
def test_decode_many_scans_all_items_at_once_and_stays_exact(rows):
    """The joined scan finds a wide integer in any item (and no run spans two items)."""
    items = [codec.encode(row) for row in rows]
    decoded = codec.decode_many(items)
    assert decoded == rows and decoded == [codec.decode(item) for item in items]
    assert all(type(v) is int for row in decoded for v in row)


def test_digit_runs_across_item_boundaries_are_not_one_run():
    items = [b"1234567890", b"123456789012"]  # 22 digits only if the items ran together
    assert codec.decode_many(items) == [1234567890, 123456789012]
    with pytest.raises(TypeError):
        codec.decode_many([b"1", None])  # a tombstone is not bytes: the caller's per-item path handles it
