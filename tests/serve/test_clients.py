"""Clients nobody here wrote, against real ``packflow serve`` processes (each client in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CLIENTS = Path(__file__).resolve().parent / "clients"


def run_client(script: str, *args: str, python: str = sys.executable, timeout: float = 120) -> dict:
    """Run ``clients/<script>`` and return the JSON it printed (its own interpreter: no shared protobuf pool)."""
    proc = subprocess.run(
        [python, str(CLIENTS / script), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def typed_server():
    from serve_helpers import ServerProcess, free_port

    grpc_port = free_port()
    server = ServerProcess("protocol_backends:Typed", "--grpc-port", str(grpc_port))
    server.grpc_port = grpc_port  # type: ignore[attr-defined]
    try:
        server.wait_status("/v2/health/ready", 200)
        yield server
    finally:
        server.stop()


def test_triton_http_client_json_and_binary(typed_server):
    pytest.importorskip("tritonclient.http")
    seen = run_client("triton_http.py", f"127.0.0.1:{typed_server.port}", "Typed")
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen["server"]["name"] == "packflow"
    assert {t["name"]: t["datatype"] for t in seen["metadata"]["inputs"]} == {
        "age": "INT64", "income": "FP64", "name": "BYTES", "member": "BOOL",
    }
    for mode in ("binary=False", "binary=True"):
        assert seen[mode] == {"score": [16.5, 22.0], "label": ["ANN", "BOB"], "flags": [[30, 0], [40, 0]], "model_name": "Typed"}
    assert seen["default_outputs"] == ["flags", "label", "score"]
    assert "No model named 'missing-model'" in seen["missing"]["message"]


def kserve_python() -> str:
    """The interpreter of ``.bench/kserve-venv`` (created once: kserve is ~450 MB, kept out of the dev venv)."""
    root = Path(__file__).resolve().parents[2]
    venv = root / ".bench" / "kserve-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "kserve"], check=True, timeout=600)
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"cannot create the kserve client venv at {venv}: {exc}")
    return str(python)


def test_kserve_sdk_rest_client_v1_and_v2(typed_server):
    seen = run_client("kserve_rest.py", f"http://127.0.0.1:{typed_server.port}", "Typed", python=kserve_python())
    assert seen["v2_live"] is True and seen["v2_ready"] is True and seen["v2_model_ready"] is True
    for mode in ("v2_binary=False", "v2_binary=True"):
        assert seen[mode] == {
            "model_name": "Typed", "id": "k1", "score": [16.5, 22.0], "label": ["ANN", "BOB"], "flags": [[30, 0], [40, 0]],
        }
    assert seen["v1_model_ready"] is True
    assert seen["v1_predict"] == {"predictions": [{"score": 2.0, "label": "X", "flags": [2, 0]}]}
    assert seen["v1_invalid"]["status"] == 422 and "age: Input should be a valid integer" in seen["v1_invalid"]["message"]


def test_triton_grpc_client(typed_server):
    pytest.importorskip("tritonclient.grpc")
    seen = run_client("triton_grpc.py", f"127.0.0.1:{typed_server.grpc_port}", "Typed")
    assert seen["live"] and seen["ready"] and seen["model_ready"]
    assert seen["server"]["name"] == "packflow" and "binary_tensor_data" in seen["server"]["extensions"]
    assert [(t["name"], t["datatype"], t["shape"]) for t in seen["metadata"]["outputs"]] == [
        ("score", "FP64", ["-1"]), ("label", "BYTES", ["-1"]), ("flags", "INT64", ["-1", "-1"]),
    ]
    assert seen["infer"] == {
        "score": [16.5, 22.0], "label": ["ANN", "BOB"], "flags": [[30, 0], [40, 0]], "model_name": "Typed", "id": "g1",
    }
    assert seen["invalid"]["status"] == "StatusCode.INVALID_ARGUMENT" and "not allowed" in seen["invalid"]["message"]
    assert seen["missing"]["status"] == "StatusCode.NOT_FOUND" and seen["missing_meta"]["status"] == "StatusCode.NOT_FOUND"
