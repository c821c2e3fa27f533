"""The Kubernetes Deployment in docs/operations.md, run: its command, ports, probes and termination on a real server.

The manifest's container command is started as written, except what only exists in a cluster: the
Secrets' files (test certificates and keys instead), the image's model (a slow test backend),
``--host 0.0.0.0`` (loopback here) and the port numbers (free ones, mapped back to the manifest's).
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("cryptography.x509")
from pki import make_pki  # noqa: E402
from serve_helpers import HERE, free_port  # noqa: E402

from packflow.runtime.serve.uvserver import BACKSTOP_S  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
KEY = "k8s-doc-key"
SLOW_MS = "300"


def manifest() -> dict[str, Any]:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Kubernetes"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "docs/operations.md has no Kubernetes YAML block"
    return yaml.safe_load(block.group(1))


def container(doc: dict[str, Any]) -> dict[str, Any]:
    assert doc["kind"] == "Deployment"
    containers = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def option(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_the_manifest_is_consistent_with_the_server_options() -> None:
    doc = manifest()
    pod, serve = doc["spec"]["template"]["spec"], container(manifest())
    command = serve["command"]
    assert command[:2] == ["packflow", "serve"]
    ports = {p["name"]: p["containerPort"] for p in serve["ports"]}
    assert ports["https"] == int(option(command, "--port") or 0)
    assert ports["grpc"] == int(option(command, "--grpc-port") or 0)
    for probe in (serve["readinessProbe"], serve["livenessProbe"]):
        assert probe["httpGet"]["port"] in ports
        assert probe["httpGet"]["scheme"] == ("HTTPS" if option(command, "--ssl-certfile") else "HTTP")
    assert option(command, "--ssl-client-cert") in (None, "none", "optional")  # the kubelet has no client certificate
    assert option(command, "--auth-probes") in (None, "open")  # the kubelet sends no key
    assert serve.get("lifecycle", {}).get("stopSignal", "SIGTERM") == "SIGTERM"
    pause = serve["lifecycle"]["preStop"]["sleep"]["seconds"]
    graceful = float(option(command, "--graceful-timeout-s") or 30)
    assert pod["terminationGracePeriodSeconds"] > pause + graceful + BACKSTOP_S


class ManifestServer:
    """The manifest's container command on loopback, with local stand-ins for the Secrets and the model."""

    def __init__(self, serve: dict[str, Any], pki: dict[str, Any], keys: Path) -> None:
        files = {"/etc/packflow/tls/tls.crt": pki["server"][0], "/etc/packflow/tls/tls.key": pki["server"][1],
                 "/etc/packflow/keys/keys.txt": str(keys)}
        self.ports = {p["name"]: p["containerPort"] for p in serve["ports"]}
        self.local = {number: free_port() for number in self.ports.values()}
        command = list(serve["command"])
        command[2] = "serve_backends:Slow"  # the image's model
        command = [files.get(a, a) for a in command]
        command[command.index("--host") + 1] = "127.0.0.1"
        for flag in ("--port", "--grpc-port"):
            at = command.index(flag) + 1
            command[at] = str(self.local[int(command[at])])
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, "-c", "from packflow.cli import cli; cli()", *command[1:]], cwd=HERE,
                                     env={**os.environ, "PACKFLOW_TEST_SLOW_MS": SLOW_MS}, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.pki = pki
        self.context = ssl.create_default_context(cafile=pki["ca"])  # verifies the server, presents no certificate

    def port_of(self, name: str) -> int:
        return self.local[self.ports[name]]

    def get(self, probe: dict[str, Any]) -> int:
        """The status the kubelet would see for an httpGet probe (no key, no client certificate)."""
        spec = probe["httpGet"]
        conn_class = http.client.HTTPSConnection if spec["scheme"] == "HTTPS" else http.client.HTTPConnection
        kwargs = {"context": self.context} if spec["scheme"] == "HTTPS" else {}
        conn = conn_class("127.0.0.1", self.port_of(spec["port"]), timeout=5, **kwargs)
        try:
            conn.request("GET", spec["path"])
            return conn.getresponse().status
        finally:
            conn.close()

    def invoke(self, record: dict[str, Any]) -> tuple[int, Any]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port_of("https"), context=self.context, timeout=30)
        try:
            conn.request("POST", "/invoke", body=json.dumps(record),
                         headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def server(tmp_path: Path) -> Any:
    (tmp_path / "keys.txt").write_text(KEY + "\n")
    started = ManifestServer(container(manifest()), make_pki(tmp_path), tmp_path / "keys.txt")
    yield started
    started.stop()


def _wait_probe(server: ManifestServer, probe: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert server.proc.poll() is None and time.monotonic() < deadline, server.output()
        try:
            if server.get(probe) == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.1)


def _grpc_live(server: ManifestServer, pki: dict[str, Any]) -> bool:
    grpc = pytest.importorskip("grpc")
    from packflow.runtime.serve.grpc.messages import SERVICE, message

    credentials = grpc.ssl_channel_credentials(root_certificates=Path(pki["ca"]).read_bytes())
    with grpc.secure_channel(f"127.0.0.1:{server.port_of('grpc')}", credentials) as channel:
        stub = channel.unary_unary(f"/{SERVICE}/ModelInfer", request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=message("ModelInferResponse").FromString)
        tensor = message("ModelInferRequest").InferInputTensor
        request = message("ModelInferRequest")(model_name="Slow", inputs=[tensor(name="i", datatype="INT64", shape=[1],
                                                                                  contents={"int64_contents": [5]})])
        with pytest.raises(grpc.RpcError) as info:
            stub(request, timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        live = channel.unary_unary(f"/{SERVICE}/ServerLive", request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=message("ServerLiveResponse").FromString)
        answer = stub(request, timeout=10, metadata=(("authorization", f"Bearer {KEY}"),))
        assert list(answer.outputs[0].shape) == [1]
        return bool(live(message("ServerLiveRequest")(), timeout=10).live)


def _probe_status(server: ManifestServer, probe: dict[str, Any]) -> int | str:
    try:
        return server.get(probe)
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__


def test_probes_answer_and_sigterm_drains_as_the_manifest_expects(server: ManifestServer) -> None:
    serve = container(manifest())
    readiness, liveness = serve["readinessProbe"], serve["livenessProbe"]
    _wait_probe(server, readiness)
    assert server.get(liveness) == 200
    assert server.invoke({"i": 0}) == (200, {"i": 0})
    assert _grpc_live(server, server.pki) is True  # the manifest's grpc port: TLS and the same keys
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        in_flight = [pool.submit(server.invoke, {"i": i}) for i in range(1, 5)]
        time.sleep(0.1)
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)  # what the kubelet sends after the preStop pause
        time.sleep(0.2)
        during = _probe_status(server, readiness)
        answers = [f.result(timeout=60) for f in in_flight]
    assert during != 200, "readiness still 200 while draining: the endpoints would keep routing here"
    assert answers == [(200, {"i": i}) for i in range(1, 5)]
    assert server.proc.wait(timeout=60) == 0, server.output()
    graceful = float(option(serve["command"], "--graceful-timeout-s") or 30)
    assert time.monotonic() - start < graceful
    lines = [json.loads(line) for line in server.output().splitlines()]  # --log-format json, as in the manifest
    assert any("draining" in line["message"] for line in lines)
