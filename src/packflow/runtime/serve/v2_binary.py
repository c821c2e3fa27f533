"""Open Inference Protocol REST bodies: JSON, and the binary tensor data extension.

A request may carry a JSON header followed by raw tensor bytes; the header's length is in the
``Inference-Header-Content-Length`` HTTP header, and each binary input says how many bytes it
takes with ``parameters.binary_data_size`` (the bytes follow in input order). Responses do the
same for the outputs a client asks to receive as binary (``outputs[i].parameters.binary_data``,
or ``parameters.binary_data_output`` for all), which is what the Triton HTTP client asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from packflow.runtime.codec import DecodeError, decode
from packflow.runtime.serve.tensors import (
    Column,
    TensorError,
    check_json_data,
    check_shape,
    column_from_flat,
    flat_from_raw,
    raw_from_column,
    raw_from_flat,
)
from packflow.runtime.serve.v2_json import records_from_inputs

__all__ = ["InferRequest", "encode_infer_response", "encode_plain_response", "parse_infer_request"]

HEADER_LENGTH = b"inference-header-content-length"


@dataclass
class InferRequest:
    """A decoded infer request: its input columns and what outputs it asks for, and how."""

    columns: list[Column]
    request_id: str | None = None
    #: The records, when the plain-JSON fast path read them (:mod:`.v2_json`); else from ``columns``.
    records: list[dict[str, Any]] | None = None
    outputs: list[str] | None = None
    binary: set[str] = field(default_factory=set)
    binary_all: bool = False


def header_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The ``Inference-Header-Content-Length`` header as an int, or None when absent."""
    for name, value in headers:
        if name == HEADER_LENGTH:
            try:
                return int(value)
            except ValueError:
                raise TensorError(f"Inference-Header-Content-Length is {value.decode(errors='replace')!r}; give the "
                                  "JSON header's size in bytes.") from None
    return None


def parse_infer_request(body: bytes, json_length: int | None, check_rows: Callable[[int], None] | None = None) -> InferRequest:
    """The request from its body; ``json_length`` splits a binary body into JSON header and tensor bytes.

    ``check_rows`` is called with the record count the first input's shape declares, before any
    tensor is decoded (so a request over the queue limit costs no decoding).
    """
    if json_length is not None and not 0 < json_length <= len(body):
        raise TensorError(
            f"Inference-Header-Content-Length is {json_length} but the body has {len(body)} bytes; it must give the "
            "size of the JSON header at the start of the body."
        )
    header = _load_object(body if json_length is None else body[:json_length])
    inputs = header.get("inputs")
    if not isinstance(inputs, list):
        raise TensorError('The request has no "inputs" array; send {"inputs": [{"name", "datatype", "shape", "data"}]}.')
    if check_rows is not None and inputs and type(inputs[0]) is dict:
        shape = inputs[0].get("shape")
        if type(shape) is list and shape and type(shape[0]) is int:
            check_rows(shape[0])
    binary = memoryview(body)[json_length:] if json_length is not None else memoryview(b"")
    if (records := records_from_inputs(inputs, binary if json_length is not None else None)) is not None:
        request = InferRequest([], _request_id(header), records)
        _read_outputs(header, request)
        return request
    columns, used = [], 0
    for index, spec in enumerate(inputs):
        column, size = _input_column(index, spec, binary, used)
        columns.append(column)
        used += size
    if used != len(binary):
        raise TensorError(f"The body has {len(binary)} bytes of binary tensor data but the inputs' binary_data_size add up to {used}.")
    request = InferRequest(columns, _request_id(header))
    _read_outputs(header, request)
    return request


def _load_object(data: bytes | memoryview) -> dict[str, Any]:
    if not data:
        raise TensorError('The request body is empty; send a JSON object such as {"inputs": [...]}.')
    try:
        value = decode(bytes(data))
    except DecodeError as exc:
        raise TensorError(f"The request's JSON is invalid ({exc}); send an inference request object.") from None
    if type(value) is not dict:
        raise TensorError(f'The request body is a JSON {type(value).__name__}; send an object such as {{"inputs": [...]}}.')
    return value


def _input_column(index: int, spec: Any, binary: memoryview, offset: int) -> tuple[Column, int]:
    if type(spec) is not dict or type(spec.get("name")) is not str:
        raise TensorError(f"Input {index} is {spec!r:.60}; each input is an object with a string \"name\".")
    name = spec["name"]
    shape = check_shape(name, spec.get("shape"))
    datatype = spec.get("datatype")
    if type(datatype) is not str:
        raise TensorError(f"Input {name!r} has no \"datatype\"; give one such as \"FP64\", \"INT64\" or \"BYTES\".")
    params = spec.get("parameters") or {}
    size = params.get("binary_data_size") if type(params) is dict else None
    if size is None:
        if "data" not in spec:
            raise TensorError(f"Input {name!r} has no \"data\" and no parameters.binary_data_size; send one of them.")
        return column_from_flat(name, datatype, shape, check_json_data(name, datatype, spec["data"])), 0
    if type(size) is not int or size < 0 or offset + size > len(binary):
        raise TensorError(f"Input {name!r} has binary_data_size {size!r}, beyond the {len(binary) - offset} binary bytes left.")
    return column_from_flat(name, datatype, shape, flat_from_raw(name, datatype, shape, binary[offset : offset + size])), size


def _request_id(header: dict[str, Any]) -> str | None:
    value = header.get("id")
    return value if type(value) is str else None


def _read_outputs(header: dict[str, Any], request: InferRequest) -> None:
    params = header.get("parameters")
    if type(params) is dict and params.get("binary_data_output") is True:
        request.binary_all = True
    outputs = header.get("outputs")
    if outputs is None:
        return
    if not isinstance(outputs, list) or not all(type(o) is dict and type(o.get("name")) is str for o in outputs):
        raise TensorError('"outputs" must be an array of objects with a string "name", e.g. [{"name": "score"}].')
    request.outputs = [o["name"] for o in outputs]
    for spec in outputs:
        out_params = spec.get("parameters")
        if type(out_params) is dict and out_params.get("binary_data") is True:
            request.binary.add(spec["name"])


def encode_infer_response(head: dict[str, Any], columns: list[Column], request: InferRequest) -> tuple[bytes, int | None]:
    """(body, JSON header length or None): binary where the request asked for it, JSON otherwise."""
    outputs, chunks = [], []
    for column in columns:
        entry: dict[str, Any] = {"name": column.name, "datatype": column.datatype, "shape": column.shape}
        if request.binary_all or column.name in request.binary:
            raw = raw_from_column(column)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = column.flat()
        outputs.append(entry)
    header = orjson.dumps({**head, "outputs": outputs})
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)


def encode_plain_response(head: dict[str, Any], outputs: list[dict[str, Any]], request: InferRequest) -> tuple[bytes, int | None]:
    """Like :func:`encode_infer_response`, for the output entries of :func:`.v2_json.outputs_from_record`."""
    chunks = []
    for entry in outputs:
        if request.binary_all or entry["name"] in request.binary:
            raw = raw_from_flat(entry["datatype"], entry.pop("data"))
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
    header = orjson.dumps({**head, "outputs": outputs})
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)
