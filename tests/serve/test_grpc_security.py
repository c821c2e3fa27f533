"""The gRPC port's TLS, mutual TLS and API keys: real ``packflow serve`` processes, real gRPC clients."""

from __future__ import annotations

import http.client
import ssl
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("cryptography.x509")
from pki import make_pki  # noqa: E402
from serve_helpers import free_port  # noqa: E402

from packflow.runtime.serve.grpc.messages import SERVICE, message  # noqa: E402

KEY = "grpc-key-0123"
RESPONSES = {"ModelInfer": "ModelInferResponse", "ServerLive": "ServerLiveResponse", "ServerReady": "ServerReadyResponse"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _mtls_args(pki: dict[str, Any], port: int) -> list[str]:
    return ["--grpc-port", str(port), "--ssl-certfile", pki["server"][0], "--ssl-keyfile", pki["server"][1],
            "--ssl-ca-certs", pki["ca"], "--ssl-client-cert", "required"]


def _credentials(pki: dict[str, Any], client_cert: bool) -> Any:
    root = Path(pki["ca"]).read_bytes()
    if not client_cert:
        return grpc.ssl_channel_credentials(root_certificates=root)
    cert, key = (Path(p).read_bytes() for p in pki["client"])
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=cert)


def _call(channel: Any, method: str, request: Any, metadata: tuple = ()) -> Any:
    stub = channel.unary_unary(f"/{SERVICE}/{method}", request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=message(RESPONSES[method]).FromString)
    return stub(request, timeout=10, metadata=metadata)


def _infer_request() -> Any:
    tensor = message("ModelInferRequest").InferInputTensor
    return message("ModelInferRequest")(model_name="Echo", inputs=[tensor(name="v", datatype="INT64", shape=[1])],
                                        raw_input_contents=[struct.pack("<q", 7)])


def _wait_https(server: Any, context: ssl.SSLContext | None, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert server.proc.poll() is None and time.monotonic() < deadline, server.output()
        try:
            conn = (http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5) if context
                    else http.client.HTTPConnection("127.0.0.1", server.port, timeout=5))
            conn.request("GET", "/health/ready", headers=headers or {})
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)


def _https_context(pki: dict[str, Any]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"])
    context.load_cert_chain(*pki["client"])
    return context


@pytest.fixture(scope="module")
def mtls_server(pki: dict[str, Any]) -> Any:
    from serve_helpers import ServerProcess

    port = free_port()
    server = ServerProcess("protocol_backends:Echo", *_mtls_args(pki, port))
    try:
        _wait_https(server, _https_context(pki))
        server.grpc_port = port  # type: ignore[attr-defined]
        yield server
    finally:
        server.stop()


def test_mutual_tls_client_is_served(mtls_server: Any, pki: dict[str, Any]) -> None:
    with grpc.secure_channel(f"127.0.0.1:{mtls_server.grpc_port}", _credentials(pki, True)) as channel:
        assert _call(channel, "ServerLive", message("ServerLiveRequest")()).live is True
        response = _call(channel, "ModelInfer", _infer_request())
    assert struct.unpack("<q", response.raw_output_contents[0]) == (7,)
    assert "gRPC (Open Inference Protocol, TLS)" in mtls_server.output()


@pytest.mark.parametrize("client", ["no client certificate", "plaintext"])
def test_client_without_certificate_is_refused(mtls_server: Any, pki: dict[str, Any], client: str) -> None:
    address = f"127.0.0.1:{mtls_server.grpc_port}"
    channel = grpc.secure_channel(address, _credentials(pki, False)) if client != "plaintext" else grpc.insecure_channel(address)
    with channel, pytest.raises(grpc.RpcError) as info:
        _call(channel, "ServerLive", message("ServerLiveRequest")())
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake fails: nothing is served


def test_api_keys_on_grpc_metadata(start_server: Any, tmp_path: Path) -> None:
    (tmp_path / "keys.txt").write_text(KEY + "\n")
    port = free_port()
    server = start_server("protocol_backends:Echo", "--grpc-port", str(port), "--api-keys-file", str(tmp_path / "keys.txt"))
    _wait_https(server, None)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert _call(channel, "ServerLive", message("ServerLiveRequest")()).live is True  # probes open by default
        for metadata, fragment in (((), "No API key"), ((("authorization", "Bearer wrong"),), "not valid")):
            with pytest.raises(grpc.RpcError) as info:
                _call(channel, "ModelInfer", _infer_request(), metadata)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED and fragment in info.value.details()
            assert KEY not in info.value.details()
        for metadata in ((("authorization", f"Bearer {KEY}"),), (("x-api-key", KEY),)):
            response = _call(channel, "ModelInfer", _infer_request(), metadata)
            assert struct.unpack("<q", response.raw_output_contents[0]) == (7,)
    metrics = server.request("GET", "/metrics")[1]
    assert 'packflow_serve_auth_failures_total{protocol="grpc",reason="missing"} 1.0' in metrics
    assert 'packflow_serve_auth_failures_total{protocol="grpc",reason="invalid"} 1.0' in metrics


def test_protected_probes_on_grpc(start_server: Any, tmp_path: Path) -> None:
    (tmp_path / "keys.txt").write_text(f"sha256:{__import__('hashlib').sha256(KEY.encode()).hexdigest()}\n")
    port = free_port()
    server = start_server("protocol_backends:Echo", "--grpc-port", str(port), "--api-keys-file",
                          str(tmp_path / "keys.txt"), "--auth-probes", "protected")
    _wait_https(server, None, {"Authorization": f"Bearer {KEY}"})
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.RpcError) as info:
            _call(channel, "ServerReady", message("ServerReadyRequest")())
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _call(channel, "ServerReady", message("ServerReadyRequest")(), (("authorization", f"Bearer {KEY}"),)).ready


TRITON_CLIENT = textwrap.dedent("""
    import sys
    import numpy as np
    import tritonclient.grpc as g
    from tritonclient.utils import InferenceServerException
    port, ca, cert, key, api_key = sys.argv[1:6]
    read = lambda p: open(p, "rb").read()
    client = g.InferenceServerClient(f"127.0.0.1:{port}", ssl=True, root_certificates=ca,
                                     private_key=key, certificate_chain=cert)
    headers = {"authorization": "Bearer " + api_key}
    assert client.is_server_ready(headers=headers)
    tensor = g.InferInput("v", [2], "INT64")
    tensor.set_data_from_numpy(np.array([3, 4], dtype=np.int64))
    print("infer", client.infer("Echo", [tensor], headers=headers).as_numpy("v").tolist())
    try:
        client.infer("Echo", [tensor])
    except InferenceServerException as exc:
        print("no key", exc.status())
    bare = g.InferenceServerClient(f"127.0.0.1:{port}", ssl=True, root_certificates=ca)
    try:
        bare.is_server_live()
    except InferenceServerException as exc:
        print("no certificate", exc.status())
""")


def test_triton_grpc_client_over_mutual_tls_with_a_key(start_server: Any, pki: dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("tritonclient.grpc")
    (tmp_path / "keys.txt").write_text(KEY + "\n")
    port = free_port()
    server = start_server("protocol_backends:Echo", *_mtls_args(pki, port), "--api-keys-file", str(tmp_path / "keys.txt"))
    _wait_https(server, _https_context(pki))
    command = [sys.executable, "-c", TRITON_CLIENT, str(port), pki["ca"], *pki["client"], KEY]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "infer [3, 4]"
    assert lines[1] == "no key StatusCode.UNAUTHENTICATED"
    assert lines[2] == "no certificate StatusCode.UNAVAILABLE"


def test_sighup_rotates_the_grpc_keys_too(start_server: Any, tmp_path: Path) -> None:
    import signal

    keys = tmp_path / "keys.txt"
    keys.write_text("old-key-1\n")
    port = free_port()
    server = start_server("protocol_backends:Echo", "--grpc-port", str(port), "--api-keys-file", str(keys))
    _wait_https(server, None)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert _call(channel, "ModelInfer", _infer_request(), (("authorization", "Bearer old-key-1"),)).outputs
        keys.write_text("new-key-2\n")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while server.output().count("API keys reloaded") < 2:  # the HTTP and the gRPC key sets
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        with pytest.raises(grpc.RpcError) as info:  # the same channel (connection) stays usable
            _call(channel, "ModelInfer", _infer_request(), (("authorization", "Bearer old-key-1"),))
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _call(channel, "ModelInfer", _infer_request(), (("authorization", "Bearer new-key-2"),)).outputs
