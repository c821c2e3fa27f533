"""The codec every driver shares: one output encodes the same way in run, serve and stream."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from packflow.runtime import _json
from packflow.runtime.jsonl import dumps as run_dumps
from packflow.runtime.stream.codec import dumps as stream_dumps


def test_native_values_take_the_plain_path():
    assert _json.dumps({"a": [1, 2.5, "x", None, True]}) == b'{"a":[1,2.5,"x",null,true]}'


def test_numpy_values_and_non_string_keys_are_converted():
    value = {"scores": np.array([0.5, 1.5]), "top": np.int64(3), 7: "seven", "flag": np.bool_(True)}
    assert orjson.loads(_json.dumps(value)) == {"scores": [0.5, 1.5], "top": 3, "7": "seven", "flag": True}


def test_an_unencodable_value_raises_type_error_naming_the_type():
    with pytest.raises(TypeError, match="object"):
        _json.dumps({"out": object()})


@pytest.mark.parametrize("value", [{"x": np.float32(1.25)}, {"k": {1: np.arange(3)}}, [{"a": (1, 2)}]])
def test_run_serve_and_stream_encode_identically(value):
    from packflow.runtime.serve.bodies import encode_results

    _, served, _, _ = encode_results([value], single=True)
    assert run_dumps(value) == stream_dumps(value) == served == _json.dumps(value)
