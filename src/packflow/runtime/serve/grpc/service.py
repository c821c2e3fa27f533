"""``GRPCInferenceService``: the Open Inference Protocol's gRPC methods over the served models.

An adapter like the REST one: tensors → records → :meth:`RequestPath.submit_records` → records → tensors.
Outputs are always answered in ``raw_output_contents`` (what the Triton client's ``as_numpy``
reads). Errors abort the call with the status matching the REST one: INVALID_ARGUMENT (400/422),
NOT_FOUND (404), RESOURCE_EXHAUSTED (413), UNAVAILABLE (503), DEADLINE_EXCEEDED (504), INTERNAL.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

import grpc

from packflow.runtime import tracing
from packflow.runtime.serve.bodies import HTTPProblem
from packflow.runtime.serve.grpc.messages import SERVICE, message, methods
from packflow.runtime.serve.observed import request_id_of
from packflow.runtime.serve.request_path import all_outputs
from packflow.runtime.serve.served import ServedModel
from packflow.runtime.serve.tensors import (
    Column,
    TensorError,
    check_json_data,
    check_shape,
    column_from_flat,
    columns_from_records,
    flat_from_raw,
    raw_from_column,
    records_from_columns,
)
from packflow.runtime.serve.v2 import find_model, model_metadata, problem_text, server_metadata

__all__ = ["InferenceService", "create_handler"]

_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT, 422: grpc.StatusCode.INVALID_ARGUMENT, 404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED, 503: grpc.StatusCode.UNAVAILABLE, 504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
_OUTCOME = {400: "bad_request", 404: "bad_request", 422: "bad_request", 413: "too_large", 503: "unavailable", 504: "timeout"}
_CONTENTS = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}
_clock = time.perf_counter


class InferenceService:
    """The six methods; each takes the request message and the call context."""

    def __init__(self, models: Mapping[str, ServedModel]) -> None:
        self.models = models

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802 - the protocol's names
        return message("ServerLiveResponse")(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        ready = bool(self.models) and all([await m.ready() for m in self.models.values()])
        return message("ServerReadyResponse")(ready=ready)

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        model = await self._find(request.name, request.version, context)
        return message("ModelReadyResponse")(ready=await model.ready())

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return message("ServerMetadataResponse")(**server_metadata())

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        model = await self._find(request.name, request.version, context)
        return message("ModelMetadataResponse")(**model_metadata(model))

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        observer = tracing.OBSERVER
        if observer is None:
            response, code, details = await self._answer(request)
        else:  # a SERVER span (child of a ``traceparent`` metadata entry) and the request id in the log context
            metadata = tuple(context.invocation_metadata() or ())
            with observer.rpc(SERVICE, "ModelInfer", metadata, request_id_of(metadata, "x-request-id")) as answered:
                response, code, details = await self._answer(request)
                answered(code)
        if code is not grpc.StatusCode.OK:
            await context.abort(code, details)  # outside the span: an abort is an answer, not an exception in it
        return response

    async def _answer(self, request: Any) -> tuple[Any, Any, str]:
        """(response, status code, details) of one ModelInfer call; request metrics observed."""
        start = _clock()
        try:
            model = find_model(self.models, request.model_name, request.model_version or None)
        except HTTPProblem as problem:
            return None, grpc.StatusCode.NOT_FOUND, problem.message
        try:
            response = await self._infer(model, request)
        except HTTPProblem as problem:
            model.metrics.observe_request(_OUTCOME.get(problem.status, "error"), _clock() - start)
            return None, _STATUS.get(problem.status, grpc.StatusCode.INTERNAL), problem_text(problem)
        model.metrics.observe_request("ok", _clock() - start)
        return response, grpc.StatusCode.OK, ""

    async def _find(self, name: str, version: str, context: Any) -> ServedModel:
        try:
            return find_model(self.models, name, version or None)
        except HTTPProblem as problem:
            await context.abort(grpc.StatusCode.NOT_FOUND, problem.message)
            raise  # abort raises; this line is for type checkers

    async def _infer(self, model: ServedModel, request: Any) -> Any:
        try:
            records = records_from_columns(input_columns(request))
        except TensorError as exc:
            raise HTTPProblem(400, "InvalidTensor", str(exc)) from None
        results = all_outputs(await model.path.submit_records(records))
        names = [o.name for o in request.outputs] or None
        if names and results:
            unknown = [n for n in names if n not in results[0]]
            if unknown:
                raise HTTPProblem(400, "UnknownOutput", f"The model has no output {unknown[0]!r}; its outputs are {sorted(results[0])}.")
        schema = model.schema()
        try:
            columns = columns_from_records(results, names, schema.output_types if schema else {})
        except KeyError as exc:
            raise HTTPProblem(500, "OutputError", f"The model's outputs cannot form tensors: {exc.args[0]}.") from None
        return _response(model, request.id, columns)


def input_columns(request: Any) -> list[Column]:
    """The request's input tensors as columns, from ``raw_input_contents`` or typed ``contents``."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise TensorError(f"The request has {len(request.inputs)} inputs but {len(raw)} raw_input_contents; send one per input.")
    columns = []
    for index, tensor in enumerate(request.inputs):
        shape = check_shape(tensor.name, list(tensor.shape))
        if raw:
            flat = flat_from_raw(tensor.name, tensor.datatype, shape, raw[index])
        else:
            flat = check_json_data(tensor.name, tensor.datatype, _typed_contents(tensor))
        columns.append(column_from_flat(tensor.name, tensor.datatype, shape, flat))
    return columns


def _typed_contents(tensor: Any) -> list[Any]:
    field = _CONTENTS.get(tensor.datatype)
    if field is None:
        raise TensorError(f"Input {tensor.name!r} of datatype {tensor.datatype!r} must come in raw_input_contents.")
    values = list(getattr(tensor.contents, field))
    if tensor.datatype != "BYTES":
        return values
    try:
        return [v.decode("utf-8") for v in values]
    except UnicodeDecodeError:
        raise TensorError(f"Input {tensor.name!r}: a BYTES element is not UTF-8 text; BYTES fields carry text.") from None


def _response(model: ServedModel, request_id: str, columns: list[Column]) -> Any:
    tensor = message("ModelInferResponse").InferOutputTensor
    return message("ModelInferResponse")(
        model_name=model.name, model_version=model.version, id=request_id,
        outputs=[tensor(name=c.name, datatype=c.datatype, shape=c.shape) for c in columns],
        raw_output_contents=[raw_from_column(c) for c in columns],
    )


def create_handler(service: InferenceService) -> grpc.GenericRpcHandler:
    """The generic handler routing ``/inference.GRPCInferenceService/<Method>`` to ``service``."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(service, name), request_deserializer=request.FromString, response_serializer=response.SerializeToString
        )
        for name, (request, response) in methods().items()
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)
