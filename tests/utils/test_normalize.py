"""packflow.utils.normalize: JSON-native conversion without importing optional libraries."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from packflow.utils.normalize import ensure_native_types, ensure_valid_output
from packflow.utils.normalize.handlers import HANDLERS, NumpyTypeHandler, PandasSeriesHandler


def test_numpy_values_become_native() -> None:
    value = {"a": np.float32(1.5), "b": np.arange(3), "c": (np.int64(2), {np.bool_(True)}), "d": [None, "x"]}
    native = ensure_native_types(value)
    assert native == {"a": 1.5, "b": [0, 1, 2], "c": [2, [True]], "d": [None, "x"]}
    assert type(native["a"]) is float and type(native["c"][0]) is int
    json.dumps(native)


def test_unknown_type_names_it() -> None:
    class Thing:
        pass

    with pytest.raises(TypeError, match="Thing"):
        ensure_native_types({"x": Thing()})


def test_ensure_valid_output_wraps_non_dicts() -> None:
    assert ensure_valid_output([np.array([0.3]), {"a": np.int8(1)}, [1, 2]]) == [
        {"output": 0.3},
        {"a": 1},
        {"output": [1, 2]},
    ]
    assert ensure_valid_output([5], parent_key="score") == [{"score": 5}]


def test_handlers_know_their_libraries_without_importing_them() -> None:
    assert NumpyTypeHandler().available() and NumpyTypeHandler().handles(np.int8(1))
    assert [type(h).__name__ for h in HANDLERS][0] == "NumpyTypeHandler"
    series = PandasSeriesHandler()
    assert series.package_name == "pandas"
    assert series.handles([1, 2]) is False


# -- pandas missing values, nullable arrays, Decimal, bytes, dict keys, torch ---------------------


def test_pandas_missing_values_and_nullable_arrays_become_none() -> None:
    pd = pytest.importorskip("pandas")
    value = {
        "na": pd.NA,
        "nat": pd.NaT,
        "ints": pd.array([1, None, 3], dtype="Int64"),
        "bools": pd.Series([True, None], dtype="boolean"),
        "text": pd.array(["a", None], dtype="string"),
        "index": pd.Index([1, 2]),
        "when": pd.Timestamp("2024-05-01T12:00:00"),
    }
    native = ensure_native_types(value)
    assert native == {"na": None, "nat": None, "ints": [1, None, 3], "bools": [True, None], "text": ["a", None],
                      "index": [1, 2], "when": "2024-05-01T12:00:00"}
    assert type(native["ints"][0]) is int
    json.dumps(native, allow_nan=False)


def test_decimal_bytes_and_dates() -> None:
    import datetime
    from decimal import Decimal

    native = ensure_native_types({
        "whole": Decimal("12345678901234567890123"), "frac": Decimal("0.25"), "nan": Decimal("NaN"),
        "inf": Decimal("-Infinity"), "raw": b"\x00\xffpackflow", "buf": bytearray(b"ab"), "view": memoryview(b"c"),
        "day": datetime.date(2024, 5, 1), "at": datetime.datetime(2024, 5, 1, 8, 30), "np_day": np.datetime64("2024-05-01"),
    })
    assert native == {"whole": 12345678901234567890123, "frac": 0.25, "nan": None, "inf": None,
                      "raw": "AP9wYWNrZmxvdw==", "buf": "YWI=", "view": "Yw==", "day": "2024-05-01",
                      "at": "2024-05-01T08:30:00", "np_day": "2024-05-01"}
    import base64

    assert base64.b64decode(native["raw"]) == b"\x00\xffpackflow"


def test_numpy_typed_dict_keys_become_native() -> None:
    native = ensure_native_types({np.int64(3): "a", np.float32(0.5): "b", np.str_("k"): {np.bool_(True): 1}})
    assert native == {3: "a", 0.5: "b", "k": {True: 1}}
    assert all(type(k) in (int, float, str) for k in native)
    with pytest.raises(TypeError, match="dict key"):
        ensure_native_types({np.arange(2).tobytes(): 1, (1, 2): 2})


@given(st.dictionaries(st.one_of(st.integers(-(2**63), 2**63 - 1).map(np.int64), st.text().map(np.str_)),
                       st.one_of(st.binary(max_size=20), st.decimals(allow_nan=True, places=3), st.none()), max_size=8))
def test_property_normalized_values_are_json_native(value: dict) -> None:
    native = ensure_native_types(value)
    json.dumps(native, allow_nan=False)
    assert all(type(k) in (int, str) for k in native)
    assert all(type(v) in (str, int, float, type(None)) for v in native.values())
    assert len(native) == len(set(value))


def test_torch_tensors_become_lists_and_scalars() -> None:
    torch = pytest.importorskip("torch")
    native = ensure_native_types({
        "t": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
        "one": torch.tensor([7]),
        "grad": torch.ones(2, requires_grad=True) * 2,
        "half": torch.tensor([1.5, 2.5], dtype=torch.bfloat16),
        "int": torch.arange(3, dtype=torch.int32),
        "scalar": torch.tensor(0.5),
        "empty": torch.zeros(0),
    })
    assert native == {"t": [[1.0, 2.0], [3.0, 4.0]], "one": 7, "grad": [2.0, 2.0], "half": [1.5, 2.5],
                      "int": [0, 1, 2], "scalar": 0.5, "empty": []}
    assert type(native["int"][0]) is int
    json.dumps(native)
