"""The hot path of V2 JSON tensors: plain inputs straight to records, plain records straight to outputs.

Most online requests are a few records whose fields are numbers, booleans, strings or flat lists
of them. For those, building :class:`~packflow.runtime.serve.tensors.Column` objects (with their
general checks, numpy reshapes and datatype inference) costs more than the rest of the request.
These two functions handle exactly that plain case, without numpy and with one pass over each
tensor, and answer ``None`` for anything else, which then takes the general path of
:mod:`.tensors` (where every error message lives). On the inputs they accept, both give what
the general path gives (``tests/serve/test_v2_json.py`` checks it property by property).

Plain input: an object with ``name``, ``datatype`` (``BOOL``, ``INT64``, ``FP64`` or ``BYTES``),
``shape`` ``[N]`` or ``[N, K]`` and ``data`` with N·K well-typed elements (and no parameters).
Plain output: one record whose values are JSON scalars (``bool``, ``int`` in int64, ``float``,
``str``) or non-empty lists of one such type, matching the declared datatypes where declared.
"""

from __future__ import annotations

from typing import Any

from packflow.runtime.serve.tensors import TensorError, flat_from_raw

__all__ = ["outputs_from_record", "records_from_inputs"]

_ALLOWED: dict[Any, frozenset[type]] = {
    "BOOL": frozenset({bool}), "INT64": frozenset({int}), "FP64": frozenset({float, int}), "BYTES": frozenset({str}),
}
_KINDS = {bool: "BOOL", int: "INT64", float: "FP64", str: "BYTES"}
_NO_PARAMETERS: tuple[Any, ...] = (None, {})
_INT64 = (-(2**63), 2**63 - 1)


def records_from_inputs(inputs: list[Any], binary: memoryview | None = None) -> list[dict[str, Any]] | None:
    """The records of plain input tensors, or None when any input is not plain.

    ``binary`` is the binary tensor data after the JSON header (binary extension), if any.
    """
    names: list[str] = []
    columns: list[list[Any]] = []
    count, used = -1, 0
    for spec in inputs:
        if binary is not None and type(spec) is dict and len(spec) == 4 and type(spec.get("parameters")) is dict:
            found = _raw_input(spec, binary, used)
            plain, size = found if found is not None else (None, 0)
            used += size
        else:
            plain = _plain_input(spec)
        if plain is None or (count >= 0 and len(plain) != count):
            return None
        count = len(plain)
        names.append(spec["name"])
        columns.append(plain)
    if count < 0 or len(set(names)) != len(names) or used != (len(binary) if binary is not None else 0):
        return None
    if count == 1:
        return [{name: column[0] for name, column in zip(names, columns)}]
    return [dict(zip(names, row)) for row in zip(*columns)]


def _plain_input(spec: Any) -> list[Any] | None:
    """One value per record (a scalar, or a list for shape [N, K]), or None when ``spec`` is not plain."""
    try:
        name, datatype, shape, data = spec["name"], spec["datatype"], spec["shape"], spec["data"]
    except (KeyError, TypeError, IndexError):
        return None
    if type(spec) is not dict or (len(spec) != 4 and (len(spec) != 5 or spec.get("parameters") not in _NO_PARAMETERS)):
        return None
    allowed = _ALLOWED.get(datatype) if type(datatype) is str else None
    if allowed is None or type(name) is not str or type(shape) is not list or type(data) is not list:
        return None
    data = _typed(data, allowed, datatype)
    return None if data is None else _rows(shape, data)


def _raw_input(spec: dict[str, Any], binary: memoryview, used: int) -> tuple[list[Any], int] | None:
    """(one value per record, bytes taken) of a binary input whose only parameter is its size, else None."""
    params, name, datatype, shape = spec["parameters"], spec.get("name"), spec.get("datatype"), spec.get("shape")
    size = params.get("binary_data_size")
    if len(params) != 1 or type(size) is not int or size < 0 or used + size > len(binary) or type(name) is not str:
        return None
    if type(datatype) is not str or datatype not in _ALLOWED or type(shape) is not list or not 1 <= len(shape) <= 2:
        return None
    if not all(type(axis) is int and axis >= 0 for axis in shape):
        return None
    try:
        flat = flat_from_raw(name, datatype, shape, binary[used : used + size])
    except TensorError:  # the general path says what is wrong
        return None
    rows = _rows(shape, flat)
    return None if rows is None else (rows, size)


def _rows(shape: Any, data: list[Any]) -> list[Any] | None:
    """``data`` as one entry per record for shape [N] or [N, K], else None."""
    if len(shape) == 1:
        return data if shape[0] == len(data) and type(shape[0]) is int else None
    if len(shape) == 2 and type(shape[0]) is int and type(shape[1]) is int and shape[1] > 0 and shape[0] * shape[1] == len(data):
        width = shape[1]
        return [data[i : i + width] for i in range(0, len(data), width)]
    return None


def _typed(data: list[Any], allowed: frozenset[type], datatype: str) -> list[Any] | None:
    """``data`` with FP64 integers as floats, or None when an element does not fit ``datatype``."""
    if len(data) == 1:  # one record, one element: the common tensor, decided without a set
        kinds: Any = (type(data[0]),)
        if kinds[0] not in allowed:
            return None
    else:
        kinds = set(map(type, data))
        if not kinds <= allowed:
            return None
    if int not in kinds:
        return data
    if datatype == "FP64":
        try:
            return [float(v) for v in data]
        except OverflowError:  # too large for a float: the general path says so
            return None
    return data if _INT64[0] <= min(data) and max(data) <= _INT64[1] else None


def outputs_from_record(record: dict[str, Any], declared: dict[str, str]) -> list[dict[str, Any]] | None:
    """The V2 output tensors of one plain output record (one per field, in order), or None when it is not plain."""
    outputs = []
    for name, value in record.items():
        kind = _KINDS.get(type(value))
        if kind is not None:
            shape, data = [1], [value]
        elif type(value) is list and value and (kind := _KINDS.get(type(value[0]))) is not None:
            first = type(value[0])
            if not all(type(v) is first for v in value):
                return None
            shape, data = [1, len(value)], value
        else:
            return None
        if kind == "INT64" and not (_INT64[0] <= min(data) and max(data) <= _INT64[1]):
            return None
        if declared.get(name, kind) != kind:
            return None
        outputs.append({"name": name, "datatype": kind, "shape": shape, "data": data})
    return outputs
