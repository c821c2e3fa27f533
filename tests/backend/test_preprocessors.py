"""The built-in preprocessors, checked against straightforward reference implementations."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from packflow.backend.configuration import BackendConfig
from packflow.backend.preprocessors import (
    NumpyPreprocessor,
    PassthroughPreprocessor,
    RecordsPreprocessor,
    get_preprocessor,
)
from packflow.exceptions import PreprocessorInitError, PreprocessorRuntimeError, UnknownPreprocessorError

# -- reference implementations: obviously correct, no speed tricks -------------------------------


class Collision(Exception):
    pass


def ref_flatten(obj: dict, delim: str, lists: bool, prefix: Any = None, out: dict | None = None) -> dict:
    """Flatten everything; empty dicts/lists stay as values; a duplicated key is a Collision."""
    out = {} if out is None else out
    for key, value in obj.items():
        name = key if prefix is None else f"{prefix}{delim}{key}"
        if isinstance(value, dict) and value:
            ref_flatten(value, delim, lists, name, out)
        elif lists and isinstance(value, list) and value:
            ref_flatten(dict(enumerate(value)), delim, lists, name, out)
        else:
            if name in out:
                raise Collision(name)
            out[name] = value
    return out


def ref_get_direct(obj: dict, field: str, delim: str) -> Any:
    """Literal key first, else walk dicts along the path; None when absent."""
    if field in obj:
        return obj[field]
    current: Any = obj
    for part in field.split(delim):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def ref_set_direct(obj: dict, field: str, value: Any, delim: str) -> None:
    parts = field.split(delim)
    for part in parts[:-1]:
        if part not in obj:
            obj[part] = {}
        elif not isinstance(obj[part], dict):
            return
        obj = obj[part]
    obj[parts[-1]] = value


def ref_records(record: dict, cfg: BackendConfig) -> dict:
    delim = cfg.nested_field_delimiter
    if not (cfg.rename_fields or cfg.feature_names or cfg.flatten_nested_inputs):
        return record
    out: dict = {}
    if cfg.flatten_nested_inputs:
        flat = ref_flatten(record, delim, cfg.flatten_lists)
        for src, dst in cfg.rename_fields.items():
            if flat.get(src) is not None:
                out[dst] = flat[src]
        for name in cfg.feature_names:
            if name not in out and flat.get(name) is not None:
                out[name] = flat[name]
        if not cfg.feature_names:
            out.update(flat)
        return out
    for src, dst in cfg.rename_fields.items():
        value = ref_get_direct(record, src, delim)
        if value is not None:
            ref_set_direct(out, dst, value, delim) if delim in dst else out.__setitem__(dst, value)
    for name in cfg.feature_names:
        if ref_get_direct(out, name, delim) is None:
            value = ref_get_direct(record, name, delim)
            if value is not None:
                ref_set_direct(out, name, value, delim) if delim in name else out.__setitem__(name, value)
    if not cfg.feature_names:
        out.update(record)
    return out


def ref_numpy_cell(record: dict, field: str, delim: str) -> Any:
    """Literal key as is, else the value in the flattened record (lists not enumerated); None if absent."""
    if field in record:
        return record[field]
    return ref_flatten(record, delim, False).get(field)


def _renames_clash(renames: dict) -> bool:
    """Two sources onto one target, or a target that is itself renamed."""
    targets = list(renames.values())
    return len(set(targets)) < len(targets) or any(t in renames and renames[t] != t for t in targets)


def ref_collisions(obj: dict, delim: str) -> bool:
    return any(delim in k or (isinstance(v, dict) and ref_collisions(v, delim)) for k, v in obj.items())


# -- strategies ------------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "0", "1", "a.b", "b.c", "x_y", "a_b"])
SCALARS = st.one_of(st.none(), st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False), st.text("pq", max_size=2))
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(KEYS, children, max_size=3)),
    max_leaves=8,
)
RECORDS = st.lists(st.dictionaries(KEYS, VALUES, max_size=5), min_size=1, max_size=6)
PATHS = st.lists(
    st.lists(st.sampled_from(["a", "b", "c", "0", "1", "b.c"]), min_size=1, max_size=3).map(".".join),
    min_size=1,
    max_size=4,
)
DELIMITED = st.sampled_from([".", "_"])


def _same(a: Any, b: Any) -> bool:
    return repr(a) == repr(b)


# -- properties ------------------------------------------------------------------------------------


@given(RECORDS, PATHS, st.booleans(), DELIMITED, st.dictionaries(st.sampled_from(["a", "b.c", "c.0"]), st.sampled_from(["r1", "r.2", "b"]), max_size=2))
def test_records_flatten_mode_matches_reference(records: list, features: list, lists: bool, delim: str, renames: dict) -> None:
    features = [f.replace(".", delim) for f in features]
    renames = {k.replace(".", delim): v for k, v in renames.items()}
    assume(not _renames_clash(renames))  # clashing renames are a ConfigurationError: tests/backend/test_fields.py
    cfg = BackendConfig(flatten_nested_inputs=True, flatten_lists=lists, feature_names=features, nested_field_delimiter=delim, rename_fields=renames)
    try:
        expected = [ref_records(r, cfg) for r in records]
    except Collision:
        return  # flattening is ambiguous for such a record: behaviour is documented as undefined
    assert _same(RecordsPreprocessor(cfg)(records), expected)


@given(st.data(), RECORDS, st.booleans(), DELIMITED)
def test_every_flattened_key_is_found_by_both_preprocessors(data: st.DataObject, records: list, lists: bool, delim: str) -> None:
    try:
        flats = [ref_flatten(r, delim, lists) for r in records]
    except Collision:
        return
    keys = sorted({str(k) for flat in flats for k in flat})
    if not keys:
        return
    features = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=5, unique=True))
    cfg = BackendConfig(flatten_nested_inputs=True, flatten_lists=lists, feature_names=features, nested_field_delimiter=delim)
    expected = [{f: flat[f] for f in features if flat.get(f) is not None} for flat in flats]
    assert _same(RecordsPreprocessor(cfg)(records), expected)
    if not lists:
        numpy_cfg = BackendConfig(input_format="numpy", feature_names=features, nested_field_delimiter=delim, numpy_dtype="object")
        array = NumpyPreprocessor(numpy_cfg)(records)
        for row, record in zip(array.tolist(), records):
            for got, name in zip(row, features):
                want = ref_numpy_cell(record, name, delim)
                if want is not None and array.dtype == object:
                    assert _same(got, want)


@given(RECORDS, st.booleans(), DELIMITED)
def test_records_flatten_everything_matches_reference(records: list, lists: bool, delim: str) -> None:
    cfg = BackendConfig(flatten_nested_inputs=True, flatten_lists=lists, nested_field_delimiter=delim)
    try:
        expected = [ref_records(r, cfg) for r in records]
    except Collision:
        with pytest.raises(PreprocessorRuntimeError, match="twice"):
            RecordsPreprocessor(cfg)(records)
        return
    assert _same(RecordsPreprocessor(cfg)(records), expected)


@given(RECORDS, PATHS, st.dictionaries(st.sampled_from(["a", "b.c", "c.0", "a.b"]), st.sampled_from(["r1", "r.2", "b", "a.b"]), max_size=2))
def test_records_direct_mode_matches_reference(records: list, features: list, renames: dict) -> None:
    assume(not _renames_clash(renames))
    cfg = BackendConfig(feature_names=features, rename_fields=renames, ignore_delimiter_collisions=True)
    assert _same(RecordsPreprocessor(cfg)(records), [ref_records(r, cfg) for r in records])


@given(RECORDS, PATHS)
def test_records_direct_mode_rejects_delimiter_collisions_unless_ignored(records: list, features: list) -> None:
    cfg = BackendConfig(feature_names=features)
    colliding = [i for i, r in enumerate(records) if ref_collisions(r, ".")]
    if colliding and any("." in f for f in features):
        with pytest.raises(PreprocessorRuntimeError) as info:
            RecordsPreprocessor(cfg)(records)
        assert info.value.record_index == colliding[0]
        assert "ignore_delimiter_collisions" in str(info.value)
    else:
        assert _same(RecordsPreprocessor(cfg)(records), [ref_records(r, cfg) for r in records])


@given(RECORDS, PATHS, DELIMITED)
def test_numpy_matches_reference(records: list, features: list, delim: str) -> None:
    features = [f.replace(".", delim) for f in features]
    try:
        expected = [[ref_numpy_cell(r, f, delim) for f in features] for r in records]
    except Collision:
        return
    cfg = BackendConfig(input_format="numpy", feature_names=features, nested_field_delimiter=delim, numpy_dtype="object")
    array = NumpyPreprocessor(cfg)(records)
    assert array.shape == (len(records), len(features)) and array.dtype == object
    for got_row, want_row in zip(array.tolist(), expected):
        for got, want in zip(got_row, want_row):
            assert got is None if want is None else _same(got, want)


def _numeric(value: Any) -> bool:
    return type(value) in (int, float, bool)


@given(RECORDS, PATHS, DELIMITED)
def test_numpy_default_is_float64_whatever_the_batch_holds(records: list, features: list, delim: str) -> None:
    features = [f.replace(".", delim) for f in features]
    try:
        expected = [[ref_numpy_cell(r, f, delim) for f in features] for r in records]
    except Collision:
        return
    to_array = NumpyPreprocessor(BackendConfig(input_format="numpy", feature_names=features, nested_field_delimiter=delim))
    bad = [(i, features[j]) for i, row in enumerate(expected) for j, v in enumerate(row) if v is not None and not _numeric(v)]
    if bad:
        with pytest.raises(PreprocessorRuntimeError) as info:
            to_array(records)
        assert (info.value.record_index, info.value.field) == bad[0]
        return
    array = to_array(records)
    assert array.dtype == np.float64 and array.shape == (len(records), len(features))
    for got_row, want_row in zip(array.tolist(), expected):
        for got, want in zip(got_row, want_row):
            assert math.isnan(got) if want is None else got == float(want) or (math.isnan(got) and math.isnan(want))


@given(RECORDS)
def test_passthrough_and_unconfigured_records_return_input_unchanged(records: list) -> None:
    assert PassthroughPreprocessor(BackendConfig(input_format="passthrough"))(records) is records
    assert RecordsPreprocessor(BackendConfig())(records) is records


# -- examples --------------------------------------------------------------------------------------


def test_records_rename_filter_order_and_omit_missing_or_none() -> None:
    cfg = BackendConfig(rename_fields={"src.ip": "ip"}, feature_names=["ip", "bytes", "missing", "proto"])
    out = get_preprocessor(cfg)([{"proto": "tcp", "src": {"ip": "10.0.0.1"}, "bytes": None, "junk": 1}])
    assert out == [{"ip": "10.0.0.1", "proto": "tcp"}]
    assert list(out[0]) == ["ip", "proto"]


def test_records_nested_output_paths_and_no_input_mutation() -> None:
    record = {"a": {"b": 1, "c": 2}, "d": 3}
    cfg = BackendConfig(feature_names=["a.b", "d"], ignore_delimiter_collisions=False)
    assert RecordsPreprocessor(cfg)([record]) == [{"a": {"b": 1}, "d": 3}]
    assert record == {"a": {"b": 1, "c": 2}, "d": 3}


def test_flattened_key_containing_the_delimiter_is_found() -> None:
    record = {"a": {"b.c": 1, "d": {"e.f": {"g": 2}}}}
    cfg = BackendConfig(flatten_nested_inputs=True, feature_names=["a.b.c", "a.d.e.f.g"])
    assert RecordsPreprocessor(cfg)([record]) == [{"a.b.c": 1, "a.d.e.f.g": 2}]
    numpy_cfg = BackendConfig(input_format="numpy", feature_names=["a.b.c", "a.d.e.f.g", "a.d"])
    array = NumpyPreprocessor(numpy_cfg)([record])  # "a.d" is not a leaf: missing, so NaN
    assert array[0, :2].tolist() == [1.0, 2.0] and np.isnan(array[0, 2])


def test_records_flatten_lists() -> None:
    cfg = BackendConfig(flatten_nested_inputs=True, flatten_lists=True)
    assert RecordsPreprocessor(cfg)([{"m": {"tags": ["x", {"y": 1}], "e": []}}]) == [
        {"m.tags.0": "x", "m.tags.1.y": 1, "m.e": []}
    ]


def test_records_collision_error_names_record_field_and_fix() -> None:
    cfg = BackendConfig(feature_names=["a.b"])
    with pytest.raises(PreprocessorRuntimeError) as info:
        RecordsPreprocessor(cfg)([{"a": {"b": 1}}, {"a": {"x.y": 1}}])
    assert info.value.record_index == 1 and info.value.field == "a.x.y"
    assert "'.'" in str(info.value) and "ignore_delimiter_collisions=True" in str(info.value)


def test_non_dict_record_error_names_index() -> None:
    for cfg in (BackendConfig(feature_names=["a"]), BackendConfig(input_format="numpy", feature_names=["a"])):
        with pytest.raises(PreprocessorRuntimeError) as info:
            get_preprocessor(cfg)([{"a": 1}, {"a": 2}, ["a"]])
        assert info.value.record_index == 2 and "record 2" in str(info.value)


def test_numpy_requires_feature_names() -> None:
    with pytest.raises(PreprocessorInitError, match="feature_names"):
        NumpyPreprocessor(BackendConfig(input_format="numpy"))


def test_numpy_honours_renames_and_nested_paths() -> None:
    cfg = BackendConfig(input_format="numpy", rename_fields={"src.port": "port"}, feature_names=["port", "meta.n"])
    array = get_preprocessor(cfg)([{"src": {"port": 80}, "meta": {"n": 1.5}}, {"src": {"port": 443}, "meta": {"n": 2}}])
    assert array.dtype == np.float64 and array.tolist() == [[80, 1.5], [443, 2]]


def test_numpy_missing_values_nan_for_floats_none_for_objects() -> None:
    cfg = BackendConfig(input_format="numpy", feature_names=["a", "b"])
    numeric = get_preprocessor(cfg)([{"a": 1, "b": 2}, {"a": 3}, {"a": None, "b": 4}])
    assert numeric.dtype == np.float64 and np.isnan(numeric[1, 1]) and np.isnan(numeric[2, 0])
    mixed = get_preprocessor(BackendConfig(input_format="numpy", feature_names=["a", "b"], numpy_dtype="object"))(
        [{"a": "x", "b": 2}, {"a": "y"}])
    assert mixed.dtype == object and mixed.tolist() == [["x", 2], ["y", None]]
    assert get_preprocessor(cfg)([]).shape == (0, 2)  # one column per feature even when empty (docs/migration.md)


def test_numpy_keeps_two_dimensions_for_list_values() -> None:
    cfg = BackendConfig(input_format="numpy", feature_names=["a", "b"], numpy_dtype="object")
    array = get_preprocessor(cfg)([{"a": [1, 2], "b": [3, 4]}, {"a": [1], "b": 2}])
    assert array.shape == (2, 2) and array[0, 0] == [1, 2]


def test_unknown_input_format_lists_known_ones() -> None:
    cfg = BackendConfig.model_construct(input_format="parquet")
    with pytest.raises(UnknownPreprocessorError) as info:
        get_preprocessor(cfg)
    assert "'parquet'" in str(info.value) and "records" in str(info.value) and "numpy" in str(info.value)


def test_plan_is_compiled_once_at_construction() -> None:
    preprocessor = RecordsPreprocessor(BackendConfig(feature_names=["a.b", "c"]))
    getter = preprocessor._getter
    preprocessor([{"a": {"b": 1}, "c": 2}])
    preprocessor([{"c": 3}])
    assert preprocessor._getter is getter
