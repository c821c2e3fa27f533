"""Records ⇄ Open Inference Protocol tensors: one tensor per field, the first axis is the record.

A request's input tensor ``x`` of shape ``[N, ...]`` gives each of the N records its row as field
``x`` (a scalar for shape ``[N]``, a nested list otherwise); all inputs must agree on N. Outputs
go back the same way: one tensor per output field. An output column's datatype comes from the
schema when it declares one, else from its values: all booleans → ``BOOL``, integers → ``INT64``,
numbers → ``FP64``, strings → ``BYTES``; rows of equal-shaped lists add axes. Any other column
(objects, nulls, ragged lists, mixed kinds) becomes ``BYTES`` holding each row's JSON text.

``BYTES`` elements reach the backend as ``str`` whichever way they were carried (JSON or binary),
so a record is the same whatever protocol brought it. Pure module: used by REST and gRPC alike.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from packflow.exceptions import InputError
from packflow.runtime.codec import EncodeError, encode

__all__ = ["Column", "NUMPY_TYPES", "TensorError", "columns_from_records", "records_from_columns"]

#: The numeric and boolean datatypes and their little-endian numpy element types.
NUMPY_TYPES: dict[str, np.dtype] = {
    name: np.dtype(code)
    for name, code in {
        "BOOL": "?", "UINT8": "<u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "INT8": "<i1",
        "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
    }.items()
}
DATATYPES = (*NUMPY_TYPES, "BYTES")
#: (min, max) of each integer datatype, as Python ints.
_BOUNDS = {name: (int(np.iinfo(t).min), int(np.iinfo(t).max)) for name, t in NUMPY_TYPES.items() if t.kind in "iu"}
#: The JSON element types each datatype accepts.
_ALLOWED: dict[str, set[type]] = {name: {bool} if name == "BOOL" else {int} if name in _BOUNDS else {int, float} for name in NUMPY_TYPES}
_ALLOWED["BYTES"] = {str}
_INT64 = (-(2**63), 2**63 - 1)
_ONE = {bool: "BOOL", int: "INT64", float: "FP64", str: "BYTES"}
#: ``struct`` codes of the datatypes whose few-element tensors skip numpy (same bytes, same values).
_STRUCT_CODES = {"BOOL": "?", "INT64": "q", "FP64": "d"}
_STRUCT_MAX = 64


class TensorError(InputError):
    """A request tensor is malformed (shape, datatype, data); the client must fix the request."""


@dataclass(slots=True)
class Column:
    """One tensor: ``values`` holds one entry per record (a scalar, or nested lists for more axes)."""

    name: str
    datatype: str
    shape: list[int]
    values: list[Any]

    def flat(self) -> list[Any]:
        """The elements in row-major order (the JSON ``data`` of the tensor)."""
        if len(self.shape) == 1:
            return self.values
        if len(self.shape) == 2:  # rows already hold elements of the column's type: no numpy round trip
            return [value for row in self.values for value in row]
        if self.datatype == "BYTES":
            return np.asarray(self.values, dtype=object).reshape(-1).tolist()
        return np.asarray(self.values).reshape(-1).tolist()


# -- inputs: tensors -> records ------------------------------------------------------------------


def check_shape(name: str, shape: Any) -> list[int]:
    """The shape as a list of non-negative ints with at least the record axis."""
    if type(shape) is list and len(shape) == 1 and type(shape[0]) is int and shape[0] >= 0:  # the common case
        return shape
    if not isinstance(shape, list) or not shape or not all(type(d) is int and d >= 0 for d in shape):
        raise TensorError(
            f"Input {name!r} has shape {shape!r}; give a list of non-negative integers whose first entry is the "
            "number of records, e.g. [3] for three records."
        )
    return shape


def column_from_flat(name: str, datatype: str, shape: list[int], flat: list[Any]) -> Column:
    """A column from row-major elements; checks the element count against the shape."""
    if len(shape) == 1 and len(flat) == shape[0]:  # the common case
        return Column(name, datatype, shape, flat)
    size = math.prod(shape)
    if len(flat) != size:
        raise TensorError(f"Input {name!r} has shape {shape} ({size} elements) but {len(flat)} data elements; make them agree.")
    if len(shape) == 1:
        return Column(name, datatype, shape, flat)
    if size == 0:
        try:
            return Column(name, datatype, shape, np.empty(shape).tolist())
        except (ValueError, OverflowError, MemoryError):
            raise TensorError(f"Input {name!r} has shape {shape}, too large to hold even empty rows.") from None
    rows: list[Any] = flat
    for width in reversed(shape[1:]):  # group the innermost axis first: [a, b, c, d] → [[a, b], [c, d]]
        rows = [rows[i : i + width] for i in range(0, len(rows), width)]
    return Column(name, datatype, shape, rows)


def check_json_data(name: str, datatype: str, data: Any) -> list[Any]:
    """The JSON ``data`` of an input, flattened, each element checked against (and cast to) ``datatype``."""
    allowed = _ALLOWED.get(datatype)
    if allowed is None:
        raise TensorError(f"Input {name!r} has datatype {datatype!r}; use one of {', '.join(DATATYPES)}.")
    if type(data) is not list:
        raise TensorError(f"Input {name!r} has data {_short(data)}; give a JSON array of elements.")
    if len(data) == 1 and type(data[0]) in allowed and datatype not in _BOUNDS:  # one record, one element
        return _floats(name, datatype, data) if datatype[0] == "F" else data
    kinds = set(map(type, data))
    flat = data
    if list in kinds:
        flat = _flatten(data)
        kinds = set(map(type, flat))
    ok = kinds <= allowed
    if ok and datatype in _BOUNDS and flat:
        low, high = _BOUNDS[datatype]
        ok = low <= min(flat) and max(flat) <= high
    if not ok:
        raise TensorError(f"Input {name!r} of datatype {datatype} holds {_describe(kinds, flat)}; send {_expected(datatype)}.")
    if int in kinds and datatype[0] == "F":
        flat = _floats(name, datatype, flat)
    return flat


def _floats(name: str, datatype: str, values: list[Any]) -> list[float]:
    try:
        return [float(v) for v in values]
    except OverflowError:  # an integer of hundreds of digits (the codec reads wide integers exactly)
        raise TensorError(f"Input {name!r} of datatype {datatype} holds an integer too large for a float; "
                          "send numbers of magnitude below 1.8e308.") from None


def records_from_columns(columns: list[Column]) -> list[dict[str, Any]]:
    """One record per row; every column must have the same number of rows."""
    if not columns:
        raise TensorError("The request has no inputs; send one input tensor per record field.")
    count = columns[0].shape[0]
    for column in columns[1:]:
        if column.shape[0] != count:
            raise TensorError(
                f"Input {column.name!r} has {column.shape[0]} rows but {columns[0].name!r} has {count}; every input "
                "tensor's first axis is the record count, so all must agree."
            )
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise TensorError(f"The inputs repeat a name ({names}); send each field once.")
    if count == 1:
        return [{c.name: c.values[0] for c in columns}]
    return [dict(zip(names, row)) for row in zip(*(c.values for c in columns))]


def _flatten(data: list) -> list[Any]:
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _fits(value: int, datatype: str) -> bool:
    low, high = _BOUNDS[datatype]
    return low <= value <= high


def _expected(datatype: str) -> str:
    if datatype == "BYTES":
        return "strings"
    if datatype == "BOOL":
        return "true/false"
    if datatype.startswith("FP"):
        return "numbers"
    low, high = _BOUNDS[datatype]
    return f"integers from {low} to {high}"


def _describe(kinds: set, flat: list) -> str:
    names = {bool: "booleans", int: "integers", float: "numbers", str: "strings", dict: "objects", type(None): "nulls"}
    return ", ".join(sorted(names.get(k, k.__name__) for k in kinds)) or f"{_short(flat)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- outputs: records -> tensors -----------------------------------------------------------------


def columns_from_records(records: list[dict], names: Iterable[str] | None, datatypes: dict[str, str]) -> list[Column]:
    """One column per output field (``names``, else every key in first-seen order).

    An empty batch has no keys to read: its columns are the declared outputs, each of shape ``[0]``.
    """
    keys = list(names) if names is not None else (_keys(records) if records else list(datatypes))
    columns = []
    for key in keys:
        try:
            values = [record[key] for record in records]
        except KeyError:
            missing = next(i for i, r in enumerate(records) if key not in r)
            raise KeyError(f"record {missing} of the backend's output has no field {key!r}") from None
        columns.append(column_from_values(key, values, datatypes.get(key)))
    return columns


def _keys(records: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    return list(seen)


def column_from_values(name: str, values: list[Any], declared: str | None = None) -> Column:
    """A column for one output field: the declared datatype if the values fit it, else one read off them."""
    count = len(values)
    if count == 0:
        return Column(name, declared or "BYTES", [0], [])
    if count == 1:  # one record of a JSON-native scalar: the common case, decided without sets
        found = _ONE.get(type(values[0]))
        if found is not None and (declared is None or declared == found):
            if found != "INT64" or _INT64[0] <= values[0] <= _INT64[1]:
                return Column(name, found, [1], values)
    kinds = set(map(type, values))
    scalar = _scalar_type(kinds, values)
    if scalar is not None:
        datatype = declared if declared is not None and _castable(scalar, declared, values) else scalar
        if datatype == "BYTES":
            values = _texts(values)
        elif datatype.startswith("FP") and int in kinds:
            values = [float(v) for v in values]
        return Column(name, datatype, [count], values)
    if kinds == {list}:
        column = _list_column(name, values, declared)
        if column is not None:
            return column
    if kinds <= {list, tuple, np.ndarray} or any(isinstance(v, np.generic) for v in values):
        column = _array_column(name, values, declared)
        if column is not None:
            return column
    return Column(name, "BYTES", [count], _texts(values))


def _list_column(name: str, rows: list[list], declared: str | None) -> Column | None:
    """Rows that are equal-length flat lists of scalars of one kind, without numpy (the common case)."""
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        return None
    flat = [v for row in rows for v in row]
    inner = _scalar_type(set(map(type, flat)), flat) if flat else None
    if inner is None or (inner == "BYTES" and flat and type(flat[0]) is not str):
        return None
    datatype = declared if declared is not None and declared != "BYTES" and _castable(inner, declared, flat) else inner
    if datatype[0] == "F" and any(type(v) is int for v in flat):
        rows = [[float(v) for v in row] for row in rows]
    return Column(name, datatype, [len(rows), width], rows)


def _scalar_type(kinds: set, values: list) -> str | None:
    if not kinds:
        return "BYTES"
    if kinds <= {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64" if _INT64[0] <= min(values) and max(values) <= _INT64[1] else None
    if kinds <= {int, float}:
        return "FP64"
    if kinds <= {str}:
        return "BYTES"
    return None


def _castable(found: str, declared: str, values: list) -> bool:
    if declared in (found, "BYTES"):
        return True
    if found == "INT64" and declared.startswith("FP"):
        return True
    if found == "INT64" and declared in NUMPY_TYPES and declared != "BOOL":
        return all(_fits(v, declared) for v in values)
    return found == "FP64" and declared.startswith("FP")


def _array_column(name: str, values: list, declared: str | None) -> Column | None:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):  # ragged
        return None
    kind = array.dtype.kind
    if kind == "U":
        return Column(name, "BYTES", list(array.shape), array.tolist())
    if kind not in "biuf":
        return None
    inferred = "BOOL" if kind == "b" else "FP64" if kind == "f" else "INT64" if kind == "i" else f"UINT{array.dtype.itemsize * 8}"
    datatype = declared if declared in NUMPY_TYPES and (declared == "BOOL") == (kind == "b") else inferred
    return Column(name, datatype, list(array.shape), array.astype(NUMPY_TYPES[datatype]).tolist())


def _texts(values: list) -> list[str]:
    return [v if type(v) is str else _text(v) for v in values]


def _text(value: Any) -> str:
    try:
        return encode(value).decode()
    except EncodeError:  # not JSON at all: its repr is the most faithful text left
        return repr(value)


# -- raw (binary) element encoding: the binary tensor extension and gRPC raw contents ------------


def flat_from_raw(name: str, datatype: str, shape: list[int], raw: bytes | memoryview) -> list[Any]:
    """Row-major elements from raw little-endian bytes (``BYTES``: 4-byte length, then the UTF-8 text)."""
    size = math.prod(shape)
    if datatype == "BYTES":
        return _texts_from_raw(name, raw, size)
    dtype = NUMPY_TYPES.get(datatype)
    if dtype is None:
        raise TensorError(f"Input {name!r} has datatype {datatype!r}; use one of {', '.join(DATATYPES)}.")
    if len(raw) != size * dtype.itemsize:
        raise TensorError(
            f"Input {name!r} has {len(raw)} bytes of binary data; shape {shape} of {datatype} needs "
            f"{size * dtype.itemsize}."
        )
    if datatype in _STRUCT_CODES and size <= _STRUCT_MAX:  # a few elements: struct beats a numpy round trip
        return list(struct.unpack(f"<{size}{_STRUCT_CODES[datatype]}", raw))
    return np.frombuffer(raw, dtype=dtype).tolist()


def _texts_from_raw(name: str, raw: bytes | memoryview, size: int) -> list[str]:
    view = memoryview(raw)
    out: list[str] = []
    offset = 0
    while offset < len(view):
        if offset + 4 > len(view):
            raise TensorError(f"Input {name!r}: binary BYTES data ends inside an element's 4-byte length prefix.")
        length = int.from_bytes(view[offset : offset + 4], "little")
        start, offset = offset + 4, offset + 4 + length
        if offset > len(view):
            raise TensorError(f"Input {name!r}: a binary BYTES element claims {length} bytes, past the end of the data.")
        try:
            out.append(str(view[start:offset], "utf-8"))
        except UnicodeDecodeError:
            raise TensorError(f"Input {name!r}: element {len(out)} is not UTF-8 text; BYTES fields carry text.") from None
    if len(out) != size:
        raise TensorError(f"Input {name!r} has {len(out)} BYTES elements; its shape needs {size}.")
    return out


def raw_from_column(column: Column) -> bytes:
    """The column's elements as raw little-endian bytes (the form ``raw_from_flat`` reads)."""
    if column.datatype == "BYTES" or (column.datatype in _STRUCT_CODES and len(column.shape) <= 2):
        return raw_from_flat(column.datatype, column.flat())
    return np.asarray(column.values, dtype=NUMPY_TYPES[column.datatype]).tobytes()


def raw_from_flat(datatype: str, flat: list[Any]) -> bytes:
    """Row-major elements of a ``BYTES``, ``BOOL``, ``INT64`` or ``FP64`` tensor as raw little-endian bytes."""
    if datatype != "BYTES":
        return struct.pack(f"<{len(flat)}{_STRUCT_CODES[datatype]}", *flat)
    parts = []
    for text in flat:
        data = text.encode("utf-8")
        parts.append(len(data).to_bytes(4, "little"))
        parts.append(data)
    return b"".join(parts)
