"""Benchmark the protocol adapters against ``/invoke`` on one ``packflow serve`` process, same run.

One-record requests to the identity backend (``serve_apps/identity.py``) at 32 connections:

- ``/invoke`` (native JSON record) and ``POST /v2/models/Identity/infer`` (Open Inference Protocol
  JSON tensors carrying the same four fields), both driven by ``wrk`` (one load thread), in
  alternating rounds so drift in machine load hits both alike;
- gRPC ``ModelInfer`` (raw contents) driven by a Python ``grpc.aio`` client holding 32 calls in
  flight. A Python client is much slower than ``wrk``, so this figure is bounded by the client;
  it is compared with ``/invoke`` driven by an equally Python client (``http.client`` threads is
  worse still, so we use asyncio streams with 32 keep-alive connections).

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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import APPS, LUA, RECORD, free_port, wait_ready, wrk  # noqa: E402

V2_BODY = {"inputs": [
    {"name": "id", "datatype": "INT64", "shape": [1], "data": [RECORD["id"]]},
    {"name": "text", "datatype": "BYTES", "shape": [1], "data": [RECORD["text"]]},
    {"name": "score", "datatype": "FP64", "shape": [1], "data": [RECORD["score"]]},
    {"name": "tags", "datatype": "BYTES", "shape": [1, 2], "data": RECORD["tags"]},
]}


@contextlib.contextmanager
def packflow_server(port: int, grpc_port: int) -> Iterator[None]:
    command = [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", "identity:Identity", "--port", str(port),
               "--grpc-port", str(grpc_port), "--log-level", "WARNING"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(command, env=env)
    try:
        wait_ready(port, "/invoke")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def lua_script(body: Any) -> str:
    handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115 - removed at exit
    handle.write(LUA % json.dumps(body, separators=(",", ":")))
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
    scripts = {"invoke": ("/invoke", lua_script(RECORD)), "v2": ("/v2/models/Identity/infer", lua_script(V2_BODY))}
    rps: dict[str, list[float]] = {"invoke": [], "v2": [], "grpc": [], "invoke_py": []}
    with packflow_server(port, grpc_port):
        for path, script in scripts.values():
            wrk(port, path, 32, 2, script)  # warm-up
        for _ in range(args.rounds):
            for name, (path, script) in scripts.items():
                result = wrk(port, path, 32, args.duration, script)
                assert result["errors"] == 0, result
                rps[name].append(result["rps"])
            rps["grpc"].append(asyncio.run(_grpc_load(grpc_port, args.duration, 32)) / args.duration)
            rps["invoke_py"].append(asyncio.run(_http_load(port, args.duration, 32)) / args.duration)
    for _, script in scripts.values():
        os.unlink(script)
    report({name: statistics.median(values) for name, values in rps.items()}, rps)


def report(median: dict[str, float], rps: dict[str, list[float]]) -> None:
    print("one-record requests/s at 32 connections, median of rounds (all rounds in brackets)")
    rows = [
        ("/invoke (wrk)", "invoke", None), ("V2 REST /v2/models/Identity/infer (wrk)", "v2", "invoke"),
        ("/invoke (Python asyncio client)", "invoke_py", None), ("gRPC ModelInfer (Python grpc.aio client)", "grpc", "invoke_py"),
    ]
    for label, key, base in rows:
        ratio = f"  {median[key] / median[base]:.2f}x of {base}" if base else ""
        print(f"  {label:<44} {median[key]:>9.0f}  [{', '.join(f'{v:.0f}' for v in rps[key])}]{ratio}")


if __name__ == "__main__":
    main()
