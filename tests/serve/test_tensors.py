"""Records ⇄ tensors: the shape/datatype rules, the binary element encoding, and round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packflow.exceptions import InputError
from packflow.runtime.serve.tensors import (
    Column,
    TensorError,
    check_json_data,
    column_from_flat,
    column_from_values,
    columns_from_records,
    flat_from_raw,
    raw_from_column,
    records_from_columns,
)


def test_one_field_per_tensor_first_axis_is_the_record():
    x = column_from_flat("x", "FP64", [2, 3], check_json_data("x", "FP64", [1, 2, 3, 4, 5, 6]))
    s = column_from_flat("s", "BYTES", [2], check_json_data("s", "BYTES", ["a", "b"]))
    assert records_from_columns([x, s]) == [{"x": [1.0, 2.0, 3.0], "s": "a"}, {"x": [4.0, 5.0, 6.0], "s": "b"}]


def test_nested_json_data_is_flattened_row_major():
    flat = check_json_data("x", "INT32", [[1, 2], [3, 4]])
    assert records_from_columns([column_from_flat("x", "INT32", [2, 2], flat)]) == [{"x": [1, 2]}, {"x": [3, 4]}]


@pytest.mark.parametrize(
    ("datatype", "data", "fragment"),
    [
        ("INT64", [1.5], "numbers"),
        ("INT8", [300], "integers from -128 to 127"),
        ("BOOL", [1], "true/false"),
        ("FP32", [True], "numbers"),
        ("BYTES", [1], "strings"),
        ("FLOAT", [1.0], "use one of"),
    ],
)
def test_data_that_does_not_match_the_datatype_is_a_tensor_error(datatype, data, fragment):
    with pytest.raises(TensorError, match=fragment) as info:
        check_json_data("x", datatype, data)
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)


def test_shape_and_count_disagreements_are_refused():
    with pytest.raises(TensorError, match=r"shape \[3\] \(3 elements\) but 2"):
        column_from_flat("x", "FP64", [3], [1.0, 2.0])
    a = Column("a", "INT64", [2], [1, 2])
    b = Column("b", "INT64", [3], [1, 2, 3])
    with pytest.raises(TensorError, match="first axis is the record count"):
        records_from_columns([a, b])
    with pytest.raises(TensorError, match="repeat a name"):
        records_from_columns([a, a])
    with pytest.raises(TensorError, match="no inputs"):
        records_from_columns([])


@pytest.mark.parametrize(
    ("values", "datatype", "shape"),
    [
        ([True, False], "BOOL", [2]),
        ([1, 2], "INT64", [2]),
        ([1, 2.5], "FP64", [2]),
        (["a", "é"], "BYTES", [2]),
        ([[1.0, 2.0], [3.0, 4.0]], "FP64", [2, 2]),
        ([[1, 2], [3, 4]], "INT64", [2, 2]),
    ],
)
def test_output_datatype_is_read_off_the_values(values, datatype, shape):
    column = column_from_values("y", values)
    assert (column.datatype, column.shape) == (datatype, shape)


@pytest.mark.parametrize("values", [[{"a": 1}, {"a": 2}], [None, 1], [[1, 2], [3]], [True, 1], [2**70, 1]])
def test_other_output_columns_become_json_text(values):
    column = column_from_values("y", values)
    assert column.datatype == "BYTES" and column.shape == [len(values)]
    assert all(isinstance(v, str) for v in column.values)


def test_declared_datatype_wins_when_compatible():
    assert column_from_values("y", [1, 2], "FP32").datatype == "FP32"
    assert column_from_values("y", [1.5], "INT64").datatype == "FP64"  # not castable: read off the values
    assert column_from_values("y", [[1.0], [2.0]], "FP32").datatype == "FP32"


def test_missing_output_field_names_the_record():
    with pytest.raises(KeyError, match="record 1 .* no field 'y'"):
        columns_from_records([{"y": 1}, {"z": 2}], ["y"], {})


def test_binary_numbers_and_texts_round_trip():
    column = Column("x", "FP32", [3], [1.5, -2.0, 3.25])
    assert flat_from_raw("x", "FP32", [3], raw_from_column(column)) == [1.5, -2.0, 3.25]
    texts = Column("s", "BYTES", [3], ["", "héllo", "a\x00b"])
    decoded = flat_from_raw("s", "BYTES", [3], raw_from_column(texts))
    assert decoded == ["", "héllo", "a\x00b"] and all(type(t) is str for t in decoded)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [(b"\x01\x00", "length prefix"), (b"\x09\x00\x00\x00abc", "past the end"), (b"\x02\x00\x00\x00\xff\xfe", "not UTF-8")],
)
def test_malformed_binary_texts_are_tensor_errors(raw, fragment):
    with pytest.raises(TensorError, match=fragment):
        flat_from_raw("s", "BYTES", [1], raw)


def test_binary_size_must_match_the_shape():
    with pytest.raises(TensorError, match="needs 16"):
        flat_from_raw("x", "INT64", [2], b"\x00" * 15)


scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from("abc"), scalars, min_size=3, max_size=3), min_size=1, max_size=6))
def test_records_survive_a_trip_through_tensors(records):
    """records → output tensors → (JSON data and binary) → input tensors → the same records."""
    columns = columns_from_records(records, None, {})
    for column in columns:
        via_json = column_from_flat(column.name, column.datatype, column.shape, check_json_data(
            column.name, column.datatype, column.flat()))
        via_raw = column_from_flat(column.name, column.datatype, column.shape, flat_from_raw(
            column.name, column.datatype, column.shape, raw_from_column(column)))
        assert via_json.values == via_raw.values == column.values
    back = records_from_columns(columns)
    for got, sent in zip(back, records):
        for key, value in sent.items():
            column = next(c for c in columns if c.name == key)
            if column.datatype == "BYTES" and type(value) is not str:  # a mixed column: each row as JSON text
                assert json.loads(got[key]) == value
            else:
                expected = float(value) if column.datatype == "FP64" else value  # a mixed int/float column is FP64
                assert got[key] == expected and type(got[key]) is type(expected)
