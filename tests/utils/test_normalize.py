"""packflow.utils.normalize: JSON-native conversion without importing optional libraries."""

from __future__ import annotations

import json

import numpy as np
import pytest

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
