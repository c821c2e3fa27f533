"""Benchmark the protocol adapters against ``/invoke`` on one ``packflow serve`` process, same run.

One-record requests to the identity backend (``serve_apps/identity.py``) at 32 connections:

- ``/invoke`` (native JSON record), ``POST /v2/models/Identity/infer`` with JSON tensors carrying
  the same four fields, and the same request with the binary tensor extension (binary inputs,
  binary outputs asked for, as the Triton client sends it), all driven by ``wrk`` (one load
  thread), in alternating rounds so drift in machine load hits them alike;
- gRPC ``ModelInfer`` (raw contents) driven by a Python ``grpc.aio`` client holding 32 calls in
  flight. A Python client is much slower than ``wrk``, so this figure is bounded by the client;
  it is compared with ``/invoke`` driven by an equally Python client (asyncio streams with 32
  keep-alive connections).

For each protocol it also reports the server's CPU seconds per 1,000 requests (user + system
time of the server process, all threads, from /proc), which a busy machine disturbs less than
requests/s: on a shared machine, that is the figure to compare.

    python benchmarks/protocols_bench.py [--duration 5] [--rounds 3]

Figures only; nothing is asserted. Needs wrk (apt-get install -y wrk) and the grpc extra.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import APPS, LUA, RECORD, cpu_seconds, free_port, wait_ready, wrk  # noqa: E402

V2_BODY = {"inputs": [
    {"name": "id", "datatype": "INT64", "shape": [1], "data": [RECORD["id"]]},
    {"name": "text", "datatype": "BYTES", "shape": [1], "data": [RECORD["text"]]},
    {"name": "score", "datatype": "FP64", "shape": [1], "data": [RECORD["score"]]},
    {"name": "tags", "datatype": "BYTES", "shape": [1, 2], "data": RECORD["tags"]},
]}


def _text_tensor(texts: list[str]) -> bytes:
    return b"".join(len(t.encode()).to_bytes(4, "little") + t.encode() for t in texts)


def v2_binary_body() -> tuple[bytes, int]:
    """The V2 request of the Triton HTTP client in binary mode: (body, JSON header length)."""
    raw = [RECORD["id"].to_bytes(8, "little", signed=True), _text_tensor([RECORD["text"]]),
           struct.pack("<d", RECORD["score"]), _text_tensor(RECORD["tags"])]
    inputs = [{k: v for k, v in spec.items() if k != "data"} for spec in V2_BODY["inputs"]]
    for spec, data in zip(inputs, raw):
        spec["parameters"] = {"binary_data_size": len(data)}
    header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}, separators=(",", ":")).encode()
    return header + b"".join(raw), len(header)


@contextlib.contextmanager
def packflow_server(port: int, grpc_port: int) -> Iterator[int]:
    command = [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", "identity:Identity", "--port", str(port),
               "--grpc-port", str(grpc_port), "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(command, env=env)
    try:
        wait_ready(port, "/invoke")
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def lua_script(body: Any) -> str:
    return _write_lua(LUA % json.dumps(body, separators=(",", ":")))


def lua_binary_script(body: bytes, json_length: int) -> str:
    """A wrk script posting ``body`` (bytes escaped for Lua) with the binary extension's header."""
    escaped = "".join(chr(b) if 32 <= b < 127 and b not in (39, 92) else f"\\{b:03d}" for b in body)
    text = (LUA % escaped).replace('"application/json"', '"application/octet-stream"')
    return _write_lua(text + f'wrk.headers["Inference-Header-Content-Length"] = "{json_length}"\n')


def _write_lua(text: str) -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115 - removed at exit
    handle.write(text)
    handle.close()
    return handle.name


async def _grpc_load(port: int, seconds: float, concurrency: int) -> int:
    import grpc

    from packflow.runtime.serve.grpc.messages import SERVICE, message

    request_class = message("ModelInferRequest")
    tensor = request_class.InferInputTensor
    request = request_class(model_name="Identity", inputs=[
        tensor(name="id", datatype="INT64", shape=[1]), tensor(name="score", datatype="FP64", shape=[1]),
    ], raw_input_contents=[(12345).to_bytes(8, "little"), b"\x00\x00\x00\x00\x00\x00\xe0?"])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(f"/{SERVICE}/ModelInfer", request_serializer=request_class.SerializeToString,
                                   response_deserializer=message("ModelInferResponse").FromString)
        return await _drive(lambda: call(request), seconds, concurrency)


async def _http_load(port: int, seconds: float, concurrency: int) -> int:
    body = json.dumps(RECORD).encode()
    head = (f"POST /invoke HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    streams = [await asyncio.open_connection("127.0.0.1", port) for _ in range(concurrency)]
    free = asyncio.Queue()
    for pair in streams:
        free.put_nowait(pair)

    async def one() -> None:
        reader, writer = await free.get()
        writer.write(head + body)
        headers = await reader.readuntil(b"\r\n\r\n")
        length = int(next(l for l in headers.split(b"\r\n") if l.lower().startswith(b"content-length")).split(b":")[1])
        await reader.readexactly(length)
        free.put_nowait((reader, writer))

    count = await _drive(one, seconds, concurrency)
    for _, writer in streams:
        writer.close()
    return count


async def _drive(call: Any, seconds: float, concurrency: int) -> int:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    port, grpc_port = free_port(), free_port()
    v2_path = "/v2/models/Identity/infer"
    scripts = {"invoke": ("/invoke", lua_script(RECORD)), "v2": (v2_path, lua_script(V2_BODY)),
               "v2_binary": (v2_path, lua_binary_script(*v2_binary_body()))}
    rps: dict[str, list[float]] = {name: [] for name in (*scripts, "grpc", "invoke_py")}
    cpu: dict[str, list[float]] = {name: [] for name in rps}
    with packflow_server(port, grpc_port) as pid:
        for path, script in scripts.values():
            wrk(port, path, 32, 2, script)  # warm-up
        for _ in range(args.rounds):
            for name, (path, script) in scripts.items():
                before = cpu_seconds(pid)
                result = wrk(port, path, 32, args.duration, script)
                assert result["errors"] == 0, result
                rps[name].append(result["rps"])
                cpu[name].append((cpu_seconds(pid) - before) / result["requests"] * 1000)
            for name, load in (("grpc", _grpc_load), ("invoke_py", _http_load)):
                before = cpu_seconds(pid)
                done = asyncio.run(load(grpc_port if name == "grpc" else port, args.duration, 32))
                rps[name].append(done / args.duration)
                cpu[name].append((cpu_seconds(pid) - before) / done * 1000)
    for _, script in scripts.values():
        os.unlink(script)
    report(rps, cpu)


def report(rps: dict[str, list[float]], cpu: dict[str, list[float]]) -> None:
    median = {name: statistics.median(values) for name, values in rps.items()}
    cpu_median = {name: statistics.median(values) for name, values in cpu.items()}
    print("one-record requests at 32 connections, median of rounds (all rounds in brackets)")
    print(f"  {'':<44} {'req/s':>9}  {'':<24} {'server CPU s per 1,000 req':>28}")
    rows = [
        ("/invoke (wrk)", "invoke", None), ("V2 REST JSON tensors (wrk)", "v2", "invoke"),
        ("V2 REST binary tensors (wrk)", "v2_binary", "invoke"),
        ("/invoke (Python asyncio client)", "invoke_py", None), ("gRPC ModelInfer (Python grpc.aio client)", "grpc", "invoke_py"),
    ]
    for label, key, base in rows:
        ratio = f" {median[key] / median[base]:.2f}x" if base else ""
        cpu_ratio = f" {cpu_median[base] / cpu_median[key]:.2f}x" if base else ""
        rounds = ", ".join(f"{v:.0f}" for v in rps[key])
        print(f"  {label:<44} {median[key]:>9.0f}{ratio:<6} [{rounds}]  {cpu_median[key]:.3f}{cpu_ratio}"
              f"  [{', '.join(f'{v:.3f}' for v in cpu[key])}]")
    print("  (ratios: of the /invoke row above driven by the same client; for CPU, /invoke's CPU per request / this one's)")


if __name__ == "__main__":
    main()
