"""What authentication and TLS cost ``packflow serve``: plain HTTP vs API key vs TLS vs mutual TLS on /invoke.

One-record requests to the identity model at 32 keep-alive connections, all four servers in the
same run, measured in interleaved rounds (median of ``--rounds``). The load generator is one asyncio
(uvloop) process that speaks HTTP/1.1 over plain sockets or TLS, presenting a client certificate for
mTLS (wrk cannot), and is the same for every variant, so the ratios compare the servers. With
``--pin`` the server runs on core 1 and the client on core 0. Certificates are a throw-away CA made
with ``openssl``. Prints requests/s, p50/p99 latency, the server's CPU time per request
(user + system, /proc) and each variant's ratio to plain HTTP. Figures only; nothing is asserted.

    python benchmarks/security_bench.py [--duration 5] [--rounds 3] [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from serve_bench import APPS, HERE, RECORD, cpu_seconds, free_port

KEY = "bench-key-0123456789"
VARIANTS = ("plain", "api_key", "tls", "mtls")
BODY = json.dumps(RECORD).encode()


def make_pki(root: Path) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl, EC P-256)."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=root, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.crt", "-days", "1", "-subj", "/CN=bench-ca")
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", "-subj", f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "1", "-extfile", "san.ext")
    return {name: str(root / name) for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}


def server_args(variant: str, pki: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(extra ``packflow serve`` arguments, extra environment) of a variant."""
    tls = ["--ssl-certfile", pki["server.crt"], "--ssl-keyfile", pki["server.key"]]
    return {
        "plain": ([], {}),
        "api_key": ([], {"PACKFLOW_API_KEYS": KEY}),
        "tls": (tls, {}),
        "mtls": ([*tls, "--ssl-ca-certs", pki["ca.crt"], "--ssl-client-cert", "required"], {}),
    }[variant]


def client_context(variant: str, pki: dict[str, str]) -> ssl.SSLContext | None:
    if variant not in ("tls", "mtls"):
        return None
    context = ssl.create_default_context(cafile=pki["ca.crt"])
    if variant == "mtls":
        context.load_cert_chain(pki["client.crt"], pki["client.key"])
    return context


def request_bytes(variant: str) -> bytes:
    auth = f"Authorization: Bearer {KEY}\r\n" if variant == "api_key" else ""
    return (f"POST /invoke HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}"
            f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY


@contextlib.contextmanager
def running_server(variant: str, pki: dict[str, str], pin: bool) -> Iterator[tuple[int, int]]:
    """(port, pid) of a ``packflow serve identity:Identity`` with the variant's options."""
    port = free_port()
    extra, env = server_args(variant, pki)
    command = [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", "identity:Identity",
               "--port", str(port), "--log-level", "WARNING", *extra]
    environment = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(APPS), str(HERE.parent / "src")])}
    proc = subprocess.Popen(["taskset", "-c", "1", *command] if pin else command, env=environment, cwd=APPS,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        asyncio.run(_wait_ready(port, variant, pki))
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _wait_ready(port: int, variant: str, pki: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context(variant, pki))
            writer.write(request_bytes(variant))
            status = await _response(reader)
            writer.close()
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {variant} server on port {port} did not answer /invoke")
        await asyncio.sleep(0.2)


async def _response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def _connection(port: int, context: Any, request: bytes, stop: float, latencies: list[float]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    errors = 0
    clock = time.perf_counter
    try:
        while clock() < stop:
            start = clock()
            writer.write(request)
            if await _response(reader) != 200:
                errors += 1
            latencies.append(clock() - start)
    finally:
        writer.close()
    return errors


async def load(port: int, variant: str, pki: dict[str, str], connections: int, seconds: float) -> dict[str, float]:
    """Requests/s and latency of ``connections`` keep-alive clients for ``seconds`` (handshakes excluded)."""
    context, request = client_context(variant, pki), request_bytes(variant)
    latencies: list[float] = []
    start = time.perf_counter()
    errors = await asyncio.gather(*(_connection(port, context, request, start + seconds, latencies) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return {"requests": len(ordered), "rps": len(ordered) / elapsed, "errors": sum(errors),
            "p50_ms": ordered[len(ordered) // 2] * 1000, "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000}


def measure(variant: str, pki: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    with running_server(variant, pki, args.pin) as (port, pid):
        asyncio.run(load(port, variant, pki, args.connections, 1.5))  # warm-up
        cpu = cpu_seconds(pid)
        result = asyncio.run(load(port, variant, pki, args.connections, args.duration))
        result["cpu_us_per_req"] = (cpu_seconds(pid) - cpu) / max(result["requests"], 1) * 1e6
    return result


def auth_check_us(n: int = 200_000) -> tuple[float, float]:
    """In-process cost of the API-key check per request: (µs with the middleware, µs without), best of 5."""
    from packflow.runtime.serve.auth import ApiKeys, AuthMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        return None

    keys = ApiKeys(None, ",".join([KEY, *(f"other-key-{i}" for i in range(4))]))
    guarded = AuthMiddleware(app, keys)
    scope = {"type": "http", "path": "/invoke", "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                                                             (b"authorization", f"Bearer {KEY}".encode())]}

    async def loop(target: Any) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await target(scope, None, None)
        return (time.perf_counter() - start) / n * 1e6

    with_auth = min(asyncio.run(loop(guarded)) for _ in range(5))
    without = min(asyncio.run(loop(app)) for _ in range(5))
    return with_auth, without


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median is reported)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pin", action="store_true", help="server on core 1, load generator on core 0 (taskset)")
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {0})
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        pki = make_pki(Path(tmp))
        for _ in range(args.rounds):
            for variant in VARIANTS:
                runs[variant].append(measure(variant, pki, args))
    print(f"load average after: {os.getloadavg()[0]:.2f} (well above 1 on 2 cores: other work shared the machine)",
          file=sys.stderr)
    report({v: _median(r) for v, r in runs.items()}, args)
    with_auth, without = auth_check_us()
    print(f"API-key check in process (5 keys, valid Bearer key): {with_auth - without:.2f} us per request "
          f"({with_auth:.2f} us with the middleware vs {without:.2f} us calling the app directly)")


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    base = results["plain"]
    print(f"packflow serve /invoke, 1-record requests, {args.connections} keep-alive connections, "
          f"median of {args.rounds} rounds x {args.duration:g} s{' (pinned)' if args.pin else ''}")
    print(f"{'variant':<9} {'req/s':>8} {'x plain':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU us/req':>11} {'x plain':>8} {'errors':>6}")
    for variant, r in results.items():
        print(f"{variant:<9} {r['rps']:>8,.0f} {r['rps'] / base['rps']:>8.2f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
              f"{r['cpu_us_per_req']:>11.0f} {r['cpu_us_per_req'] / base['cpu_us_per_req']:>8.2f} {r['errors']:>6.0f}")


if __name__ == "__main__":
    main()
