"""The gRPC adapter with our own message classes: typed contents, raw contents, errors, the descriptor."""

from __future__ import annotations

import struct

import pytest

grpc = pytest.importorskip("grpc")

from packflow.runtime.serve.grpc.messages import SERVICE, message  # noqa: E402


def test_the_shipped_descriptor_is_the_compiled_proto():
    pytest.importorskip("grpc_tools")
    from packflow.runtime.serve.grpc import build

    assert build.OUTPUT.read_text(encoding="utf-8") == build.render(build.compile_descriptor()), (
        "grpc_predict_v2.proto changed: run python -m packflow.runtime.serve.grpc.build"
    )


def test_messages_live_in_a_private_pool_beside_other_copies_of_the_protocol():
    pytest.importorskip("tritonclient.grpc")
    import tritonclient.grpc.service_pb2 as triton  # registers inference.* in the default pool

    ours = message("ModelInferRequest")(model_name="m", raw_input_contents=[b"x"])
    theirs = triton.ModelInferRequest.FromString(ours.SerializeToString())  # same wire format
    assert theirs.model_name == "m" and list(theirs.raw_input_contents) == [b"x"]


@pytest.fixture(scope="module")
def channel():
    from serve_helpers import ServerProcess, free_port

    port = free_port()
    server = ServerProcess("protocol_backends:Echo", "--grpc-port", str(port))
    try:
        server.wait_status("/v2/health/ready", 200)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
            yield chan
    finally:
        server.stop()


def call(channel, method: str, request):
    response_class = {"ModelInfer": "ModelInferResponse", "ModelReady": "ModelReadyResponse"}[method]
    stub = channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=message(response_class).FromString,
    )
    return stub(request, timeout=20)


def infer_request(*tensors, raw=()):
    tensor = message("ModelInferRequest").InferInputTensor
    return message("ModelInferRequest")(model_name="Echo", inputs=[tensor(**t) for t in tensors], raw_input_contents=list(raw))


def test_typed_contents_become_records_with_str_for_bytes(channel):
    request = infer_request(
        {"name": "x", "datatype": "FP64", "shape": [2], "contents": {"fp64_contents": [1.5, 2.5]}},
        {"name": "s", "datatype": "BYTES", "shape": [2], "contents": {"bytes_contents": [b"a", "é".encode()]}},
    )
    response = call(channel, "ModelInfer", request)
    names = [o.name for o in response.outputs]
    assert names == ["x", "s", "types"] and len(response.raw_output_contents) == 3
    assert struct.unpack("<2d", response.raw_output_contents[0]) == (1.5, 2.5)
    types = response.raw_output_contents[2]
    assert types == b"".join(len(t).to_bytes(4, "little") + t for t in (b"float,str", b"float,str"))


def test_raw_contents_and_shapes(channel):
    request = infer_request({"name": "v", "datatype": "INT32", "shape": [2, 2]}, raw=[struct.pack("<4i", 1, 2, 3, 4)])
    response = call(channel, "ModelInfer", request)
    assert list(response.outputs[0].shape) == [2, 2] and response.outputs[0].datatype == "INT64"
    assert struct.unpack("<4q", response.raw_output_contents[0]) == (1, 2, 3, 4)


@pytest.mark.parametrize(
    ("request_args", "fragment"),
    [
        (({"name": "v", "datatype": "INT32", "shape": [2]},), "0 data elements"),
        (({"name": "v", "datatype": "FP16", "shape": [1], "contents": {}},), "must come in raw_input_contents"),
        (({"name": "v", "datatype": "INT8", "shape": [1], "contents": {"int_contents": [999]}},), "integers from -128"),
    ],
)
def test_bad_tensors_are_invalid_argument(channel, request_args, fragment):
    with pytest.raises(grpc.RpcError) as info:
        call(channel, "ModelInfer", infer_request(*request_args))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and fragment in info.value.details()


def test_raw_count_must_match_inputs(channel):
    request = infer_request({"name": "a", "datatype": "INT32", "shape": [1]}, {"name": "b", "datatype": "INT32", "shape": [1]},
                            raw=[b"\x00" * 4])
    with pytest.raises(grpc.RpcError) as info:
        call(channel, "ModelInfer", request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "2 inputs but 1 raw_input_contents" in info.value.details()


def test_unknown_model_and_version(channel):
    with pytest.raises(grpc.RpcError) as info:
        call(channel, "ModelReady", message("ModelReadyRequest")(name="Echo", version="7"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert call(channel, "ModelReady", message("ModelReadyRequest")(name="Echo")).ready is True


def _one_string_request(size: int):
    tensor = {"name": "s", "datatype": "BYTES", "shape": [1], "contents": {"bytes_contents": [b"a" * size]}}
    return infer_request(tensor)


def test_request_messages_follow_max_body_bytes_not_grpcs_4_mib(channel):
    """The default --max-body-bytes (16 MiB) admits a 5 MiB message that gRPC's 4 MiB default refuses."""
    options = [("grpc.max_receive_message_length", 32 * 1024 * 1024)]  # the client must take the 5 MiB echo too
    target = channel._channel.target().decode()
    with grpc.insecure_channel(target, options=options) as big:
        response = call(big, "ModelInfer", _one_string_request(5 * 1024 * 1024))
    assert response.outputs[0].name == "s" and len(response.raw_output_contents[0]) == 4 + 5 * 1024 * 1024


def test_a_request_over_max_body_bytes_is_resource_exhausted():
    from serve_helpers import ServerProcess, free_port

    port = free_port()
    server = ServerProcess("protocol_backends:Echo", "--grpc-port", str(port), "--max-body-bytes", str(1024 * 1024))
    try:
        server.wait_status("/v2/health/ready", 200)
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
            with pytest.raises(grpc.RpcError) as info:
                call(chan, "ModelInfer", _one_string_request(2 * 1024 * 1024))
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert call(chan, "ModelInfer", _one_string_request(1000)).outputs[0].name == "s"  # and it still serves
    finally:
        server.stop()
