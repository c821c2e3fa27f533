"""The V2 JSON fast path gives exactly what the general tensor path gives, on every input it accepts."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from packflow.runtime.serve import v2_binary
from packflow.runtime.serve.tensors import TensorError, columns_from_records, records_from_columns
from packflow.runtime.serve.v2_json import outputs_from_record, records_from_inputs

INT64 = st.integers(-(2**63), 2**63 - 1)
ELEMENTS = {
    "BOOL": st.booleans(),
    "INT64": INT64 | st.integers(2**63, 2**64 - 1),  # past int64: not plain
    "FP64": st.floats(allow_nan=False, allow_infinity=False) | INT64,  # ints in FP64 become floats
    "BYTES": st.text(max_size=5),
    "INT32": st.integers(-5, 5),  # not a plain datatype
}
ANY_ELEMENT = st.one_of(*ELEMENTS.values(), st.none())


@st.composite
def input_spec(draw, name: str, count: int):
    datatype = draw(st.sampled_from(sorted(ELEMENTS)))
    shape = draw(st.sampled_from([[count], [count, 1], [count, 3], [count, 0], [count, 2, 1], [True], [count + 1]]))
    size = 1
    for axis in shape:
        size *= axis
    element = ELEMENTS[datatype] if draw(st.booleans()) else ANY_ELEMENT  # sometimes a mistyped element
    spec = {"name": name, "datatype": datatype, "shape": shape, "data": draw(st.lists(element, min_size=size, max_size=size))}
    extra = draw(st.sampled_from([None, "parameters-empty", "parameters-binary", "unknown-key", "no-data"]))
    if extra == "parameters-empty":
        spec["parameters"] = {}
    elif extra == "parameters-binary":
        spec["parameters"] = {"binary_data_size": 0}
    elif extra == "unknown-key":
        spec["comment"] = "x"
    elif extra == "no-data":
        del spec["data"]
    return spec


@st.composite
def inputs(draw):
    count = draw(st.integers(0, 3))
    names = draw(st.lists(st.sampled_from("abcd"), min_size=0, max_size=4))  # repeats are not plain
    return [draw(input_spec(name, count)) for name in names]


def body_of(specs: list, raw: bytes | None) -> tuple[bytes, int | None]:
    """(body, JSON header length) of a request: JSON only, or the header followed by ``raw``."""
    header = orjson.dumps({"inputs": specs})
    return (header, None) if raw is None else (header + raw, len(header))


def general_records(specs, raw: bytes | None = None) -> list | None:
    """The general path's records for ``specs`` (None when it refuses them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(v2_binary, "records_from_inputs", lambda *_args: None)
        try:
            request = v2_binary.parse_infer_request(*body_of(specs, raw))
            return records_from_columns(request.columns)
        except TensorError:
            return None


def typed(value):
    """``value`` with every element's type spelled out (so 1 and 1.0 and True differ)."""
    if type(value) is list:
        return [typed(v) for v in value]
    if type(value) is dict:
        return {k: typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_plain_inputs_read_like_the_general_path_and_anything_else_is_left_to_it(specs):
    fast = records_from_inputs(specs)
    if fast is not None:
        assert typed(fast) == typed(general_records(specs))


@st.composite
def binary_inputs(draw):
    """Inputs carried as binary tensor data (sizes honest or not), and the bytes after the JSON header."""
    from packflow.runtime.serve.tensors import raw_from_flat

    count, specs, raw = draw(st.integers(0, 3)), [], b""
    for name in draw(st.lists(st.sampled_from("abcd"), max_size=4)):
        datatype = draw(st.sampled_from(["BOOL", "INT64", "FP64", "BYTES", "INT32"]))
        shape = draw(st.sampled_from([[count], [count, 2], [count, 0], [count + 1], [count, 1, 1]]))
        size = 1
        for axis in shape:
            size *= axis
        element = INT64 if datatype in ("INT64", "INT32") else ELEMENTS[datatype]
        values = draw(st.lists(element, min_size=size, max_size=size))
        data = raw_from_flat("INT64" if datatype == "INT32" else datatype, [float(v) for v in values] if datatype == "FP64" else values)
        data = data[: draw(st.sampled_from([len(data), max(0, len(data) - 1)]))]  # sometimes one byte short
        specs.append({"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": len(data)}})
        raw += data
    return specs, raw + draw(st.sampled_from([b"", b"\x00"]))  # sometimes a byte too many


@settings(max_examples=400, deadline=None)
@given(binary_inputs())
def test_plain_binary_inputs_read_like_the_general_path(case):
    specs, raw = case
    fast = records_from_inputs(specs, memoryview(raw))
    if fast is not None:
        assert typed(fast) == typed(general_records(specs, raw))


def test_the_common_request_takes_the_fast_path():
    specs = [
        {"name": "id", "datatype": "INT64", "shape": [2], "data": [1, 2]},
        {"name": "score", "datatype": "FP64", "shape": [2], "data": [0.5, 1]},
        {"name": "tags", "datatype": "BYTES", "shape": [2, 2], "data": ["a", "b", "c", "d"], "parameters": {}},
    ]
    assert typed(records_from_inputs(specs)) == typed(
        [{"id": 1, "score": 0.5, "tags": ["a", "b"]}, {"id": 2, "score": 1.0, "tags": ["c", "d"]}]
    )


OUTPUT_VALUES = st.one_of(
    *(ELEMENTS[k] for k in ("BOOL", "INT64", "FP64", "BYTES")),
    st.lists(st.one_of(st.booleans(), INT64, st.floats(allow_nan=False), st.text(max_size=3)), max_size=3),
    st.lists(INT64, min_size=1, max_size=3), st.lists(st.text(max_size=3), min_size=1, max_size=3),
    st.none(), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def general_outputs(record: dict, declared: dict) -> bytes | None:
    try:
        columns = columns_from_records([record], None, declared)
    except (KeyError, TensorError):
        return None
    return orjson.dumps([{"name": c.name, "datatype": c.datatype, "shape": c.shape, "data": c.flat()} for c in columns])


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.sampled_from("wxyz"), OUTPUT_VALUES, max_size=4),
    st.dictionaries(st.sampled_from("wxyz"), st.sampled_from(["BOOL", "INT64", "INT32", "FP64", "FP32", "BYTES"]), max_size=2),
)
def test_plain_output_records_encode_like_the_general_path(record, declared):
    fast = outputs_from_record(record, declared)
    if fast is not None:
        assert orjson.dumps(fast) == general_outputs(record, declared)


@pytest.mark.parametrize("record", [{"s": 1.5, "n": 3, "ok": True, "t": "x", "v": [1, 2]}, {"v": [0.5, 2.5], "t": ["a"]}])
def test_the_common_output_records_take_the_fast_path(record):
    assert outputs_from_record(record, {}) is not None
    assert orjson.dumps(outputs_from_record(record, {})) == general_outputs(record, {})


class Model:
    """What ``v2._respond`` reads of a served model."""

    name, version = "m", "1"

    def __init__(self, declared: dict) -> None:
        self.declared = declared

    def schema(self):
        return type("Schema", (), {"output_types": self.declared})()


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(st.sampled_from("wxyz"), OUTPUT_VALUES, min_size=1, max_size=4),
    st.dictionaries(st.sampled_from("wxyz"), st.sampled_from(["BOOL", "INT64", "FP64", "BYTES"]), max_size=2),
    st.none() | st.lists(st.sampled_from("wxyz"), max_size=3),
    st.sets(st.sampled_from("wxyz")),
    st.booleans(),
)
@example({"w": 1}, {}, ["w", "w"], {"w"}, False)  # an output named twice, binary
def test_responses_of_the_fast_path_are_byte_for_byte_those_of_the_general_path(record, declared, outputs, binary, binary_all):
    """Named outputs (or all), each binary or JSON: the same body and the same JSON header length."""
    from packflow.runtime.serve import v2
    from packflow.runtime.serve.bodies import HTTPProblem
    from packflow.runtime.serve.v2_binary import InferRequest

    def respond():
        request = InferRequest([], "r1", [record], outputs=outputs, binary=set(binary), binary_all=binary_all)
        try:
            return v2._respond(Model(declared), request, [record])
        except HTTPProblem as problem:
            return problem.status, problem.message

    fast = respond()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(v2, "outputs_from_record", lambda _record, _declared: None)
        assert fast == respond()


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["BOOL", "INT64", "FP64"]).flatmap(
    lambda datatype: st.tuples(st.just(datatype), st.binary(min_size=0, max_size=80))))
def test_few_element_raw_tensors_read_as_numpy_reads_them(case):
    import numpy as np

    from packflow.runtime.serve.tensors import NUMPY_TYPES, flat_from_raw, raw_from_flat

    datatype, raw = case
    itemsize = NUMPY_TYPES[datatype].itemsize
    raw = raw[: len(raw) // itemsize * itemsize]
    values = flat_from_raw("x", datatype, [len(raw) // itemsize], raw)
    expected = np.frombuffer(raw, dtype=NUMPY_TYPES[datatype]).tolist()
    assert orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY) == orjson.dumps(expected)
    assert [type(v) for v in values] == [type(v) for v in expected]
    canonical = np.asarray(values, dtype=NUMPY_TYPES[datatype]).tobytes()
    assert raw_from_flat(datatype, values) == canonical  # and written back as numpy writes them


def test_the_common_binary_request_takes_the_fast_path():
    import struct

    raw = struct.pack("<2q", 7, 8) + b"".join(len(t).to_bytes(4, "little") + t for t in (b"ab", b"c")) + struct.pack("<2d", 0.5, 1.5)
    specs = [
        {"name": "id", "datatype": "INT64", "shape": [2], "parameters": {"binary_data_size": 16}},
        {"name": "text", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": 11}},
        {"name": "score", "datatype": "FP64", "shape": [2, 1], "parameters": {"binary_data_size": 16}},
    ]
    expected = [{"id": 7, "text": "ab", "score": [0.5]}, {"id": 8, "text": "c", "score": [1.5]}]
    assert typed(records_from_inputs(specs, memoryview(raw))) == typed(expected) == typed(general_records(specs, raw))
