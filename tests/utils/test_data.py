"""packflow.utils.data: flattening, nested field access, records → ndarray."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from packflow.utils import (
    check_delimiter_collisions,
    flatten_dict,
    flatten_records,
    get_nested_field,
    get_nested_field_direct,
    records_to_ndarray,
    set_nested_field_direct,
)

RECORD = {"src": {"ip": "10.0.0.1", "port": 443}, "meta": {"tags": ["a", {"b": 1}], "empty": {}}, "n": None}


def test_flatten_dict_keeps_empty_containers_and_optionally_enumerates_lists() -> None:
    assert flatten_dict(RECORD) == {
        "src.ip": "10.0.0.1",
        "src.port": 443,
        "meta.tags": ["a", {"b": 1}],
        "meta.empty": {},
        "n": None,
    }
    flat = flatten_dict(RECORD, "/", flatten_lists=True)
    assert flat["meta/tags/0"] == "a" and flat["meta/tags/1/b"] == 1 and flat["meta/empty"] == {}


def test_flatten_errors() -> None:
    with pytest.raises(TypeError, match="expects a dict, got list"):
        flatten_dict([1])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'a.b' twice"):
        flatten_dict({"a.b": 1, "a": {"b": 2}})
    with pytest.raises(TypeError, match="list of dicts, got dict"):
        flatten_records({"a": 1})  # type: ignore[arg-type]
    assert flatten_records([{"a": {"b": 1}}, {}]) == [{"a.b": 1}, {}]


def test_get_nested_field_direct_literal_first_then_path() -> None:
    assert get_nested_field_direct({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert get_nested_field_direct({"a": {"b": {"c": 3}}}, "a.b") == {"c": 3}
    assert get_nested_field_direct({"a": {"b": 2}}, "a.x") is None
    assert get_nested_field_direct({"a": [1]}, "a.0") is None
    assert get_nested_field_direct({"a": {"b": 2}}, "a_b", "_") == 2


def test_get_nested_field_uses_the_flattened_view() -> None:
    assert get_nested_field({"a": {"b.c": 5}}, "a.b.c") == 5
    assert get_nested_field({"a": {"b": {"c": 1}}}, "a.b") is None  # not a leaf
    assert get_nested_field({"a": {"b": {}}}, "a.b") == {}
    assert get_nested_field({"x": {"y": 1}}, "x") == {"y": 1}  # literal key, as in 0.4


def test_set_nested_field_direct_creates_dicts_and_stops_at_non_dicts() -> None:
    obj: dict = {"a": 1}
    set_nested_field_direct(obj, "b.c.d", 2)
    set_nested_field_direct(obj, "a.x", 3)
    assert obj == {"a": 1, "b": {"c": {"d": 2}}}


def test_check_delimiter_collisions_lists_every_path() -> None:
    assert check_delimiter_collisions({"a.b": 1, "c": {"d.e": {"f.g": 1}}, "h": 2}, ".") == ["a.b", "c.d.e", "c.d.e.f.g"]
    assert check_delimiter_collisions({"a": {"b": 1}}, ".") == []


def test_records_to_ndarray() -> None:
    array = records_to_ndarray([{"a": {"b": 1}, "c": 2}, {"a": {"b": 3}, "c": 4}], ["a.b", "c"])
    assert array.tolist() == [[1, 2], [3, 4]]
    assert records_to_ndarray([{"a": 1}], ["a"], dtype="float32").dtype == np.float32
    assert records_to_ndarray([{"a_b": 1}, {"a": {"b": 2}}], ["a_b"], delimiter="_").tolist() == [[1], [2]]
    with pytest.raises(ValueError, match="must be a list of dictionaries; got dict"):
        records_to_ndarray({"a": 1}, ["a"])  # type: ignore[arg-type]


@given(st.dictionaries(st.text("ab", min_size=1, max_size=2), st.integers(), max_size=4))
def test_flatten_of_flat_dict_is_identity(record: dict) -> None:
    assert flatten_dict(record) == record
