"""Benchmark ``packflow serve`` against MLServer serving the same scikit-learn model over V2.

Both servers run on this machine, one after the other in alternating rounds, with one process
for the HTTP/gRPC front end each:

- a deterministic ``LogisticRegression`` (4 features, 3 classes, ``make_classification`` with
  ``random_state=0``) is trained and saved with joblib into a temporary directory;
- MLServer serves it with its scikit-learn runtime (``mlserver_sklearn.SKLearnModel``, a
  ``model-settings.json`` named ``clf``; ``parallel_workers`` inference processes, default 1, as
  MLServer ships); packflow serves the same file with ``serve_apps/sklearn_model.py`` as ``clf``;
- before timing, both must answer the same labels as ``model.predict`` for 200 rows (one
  ``[200, 4]`` request, and one-row requests) over REST and over gRPC;
- the same one-record request, a ``features`` FP64 tensor of shape ``[1, 4]``, is sent to
  ``/v2/models/clf/infer`` by ``wrk`` (32 connections, one thread) and to gRPC ``ModelInfer``
  (raw contents) by one Python ``grpc.aio`` client with 32 calls in flight, for the same number
  of requests per server. The gRPC figures are bounded by the Python client.

Prints requests/s, p50/p99 latency, server CPU seconds per 1,000 requests (the server's whole
process tree, from /proc) and the packflow/MLServer ratios. Figures only; nothing is asserted.

    python benchmarks/mlserver_bench.py [--requests 10000] [--rounds 3] [--max-wait-ms 0]

MLServer lives in its own virtualenv, ``.bench/mlserver-venv`` (``--venv``), created on first use
with ``mlserver``, ``mlserver-sklearn``, the scikit-learn version of this interpreter and
``uvloop<0.22`` (MLServer 1.7.1's inference workers fail to start with uvloop 0.22). packflow's
side needs scikit-learn in this interpreter: a benchmark-only dependency
(``pip install scikit-learn``), not a packflow one. Needs wrk and the grpc extra.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocols_bench import lua_script  # noqa: E402
from serve_bench import APPS, free_port, wrk  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MLSERVER_VERSION = "1.7.1"
MODEL = "clf"
FEATURES = 4
ROW = [0.25, -1.5, 0.75, 2.0]
#: Ends wrk (one thread) after N answers: the thread stops sending, and SIGINT ends the run and
#: prints the summary (``wrk.thread:stop()`` alone would idle until ``-d`` ran out). The signal is
#: repeated every 20 ms because it may land on the load thread instead of the main one.
LIMIT_LUA = """
local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if answered == %d then
    os.execute("(for i in 1 2 3 4 5 6 7 8 9 10; do kill -INT $PPID 2>/dev/null || exit; sleep 0.02; done) &")
    wrk.thread:stop()
  end
end
"""


def v2_body(rows: list[list[float]]) -> dict[str, Any]:
    """One V2 infer request: the rows as one FP64 tensor ``features`` of shape ``[N, 4]``."""
    return {"inputs": [{"name": "features", "datatype": "FP64", "shape": [len(rows), FEATURES],
                        "data": [x for row in rows for x in row]}]}


def mlserver_python(venv_dir: Path) -> Path:
    """The interpreter of the MLServer side venv, created (and filled) on first use."""
    import sklearn

    python = venv_dir / "bin" / "python"
    stamp = venv_dir / f".installed-mlserver-{MLSERVER_VERSION}-sklearn-{sklearn.__version__}"
    if not stamp.exists():
        print(f"[bench] installing MLServer {MLSERVER_VERSION} into {venv_dir} ...", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        packages = [f"mlserver=={MLSERVER_VERSION}", f"mlserver-sklearn=={MLSERVER_VERSION}",
                    f"scikit-learn=={sklearn.__version__}", "uvloop<0.22"]
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages], check=True)
        stamp.touch()
    return python


def train(workdir: Path) -> tuple[Path, Any, list[list[float]]]:
    """Train the model, save it with joblib; return its path, the model and 200 held-out rows."""
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(n_samples=2200, n_features=FEATURES, n_informative=3, n_redundant=0,
                               n_classes=3, random_state=0)
    model = LogisticRegression(max_iter=1000).fit(x[:2000], y[:2000])
    path = workdir / "model.joblib"
    joblib.dump(model, path)
    return path, model, x[2000:].tolist()


def mlserver_repository(workdir: Path, model_path: Path, ports: dict[str, int], args: argparse.Namespace) -> Path:
    """A model repository: server ``settings.json`` and ``clf/model-settings.json``."""
    repo = workdir / "mlserver-repo"
    (repo / MODEL).mkdir(parents=True)
    settings = {"debug": False, "host": "127.0.0.1", "http_port": ports["http"], "grpc_port": ports["grpc"],
                "metrics_port": free_port(), "parallel_workers": args.parallel_workers}
    model: dict[str, Any] = {"name": MODEL, "implementation": "mlserver_sklearn.SKLearnModel",
                             "parameters": {"uri": str(model_path)}}
    if args.max_wait_ms > 0:  # MLServer's adaptive batching needs a positive max_batch_time
        model.update(max_batch_size=args.batch_size, max_batch_time=args.max_wait_ms / 1000)
    (repo / "settings.json").write_text(json.dumps(settings))
    (repo / MODEL / "model-settings.json").write_text(json.dumps(model))
    return repo


def commands(workdir: Path, model_path: Path, args: argparse.Namespace) -> dict[str, tuple[list[str], dict[str, int]]]:
    """Each server's command line and ports."""
    ours = {"http": free_port(), "grpc": free_port()}
    theirs = {"http": free_port(), "grpc": free_port()}
    repo = mlserver_repository(workdir, model_path, theirs, args)
    packflow = [sys.executable, "-c", "from packflow.cli import cli; cli()", "serve", f"{MODEL}=sklearn_model:SklearnModel",
                "--config", json.dumps({"model_path": str(model_path)}), "--port", str(ours["http"]),
                "--grpc-port", str(ours["grpc"]), "--batch-size", str(args.batch_size),
                "--max-wait-ms", str(args.max_wait_ms), "--log-level", "WARNING"]
    mlserver = [str(mlserver_python(args.venv).parent / "mlserver"), "start", str(repo)]
    return {"packflow": (packflow, ours), "mlserver": (mlserver, theirs)}


@contextlib.contextmanager
def running(command: list[str], port: int, log: Path) -> Iterator[int]:
    """Start a server in its own session; yield its pid once the model is ready; stop the group."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(APPS), os.environ.get("PYTHONPATH", "")])}
    with log.open("ab") as out:
        proc = subprocess.Popen(command, env=env, cwd=log.parent, stdout=out, stderr=out, start_new_session=True)
    try:
        _wait_model_ready(port, proc)
        yield proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def _wait_model_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/models/{MODEL}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return
        time.sleep(0.3)
    raise RuntimeError(f"the server on port {port} was not ready within {timeout} s (exit code {proc.poll()})")


def rest_labels(port: int, rows: list[list[float]]) -> list[int]:
    """The labels one V2 REST request for ``rows`` answers."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer", method="POST",
                                     data=json.dumps(v2_body(rows)).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        outputs = {o["name"]: o for o in json.loads(answer.read())["outputs"]}
    return [int(v) for v in outputs["predict"]["data"]]


def grpc_request(rows: list[list[float]]) -> Any:
    """One ``ModelInferRequest`` for ``rows`` (raw little-endian FP64 contents)."""
    import numpy as np

    from packflow.runtime.serve.grpc.messages import message

    request_class = message("ModelInferRequest")
    tensor = request_class.InferInputTensor(name="features", datatype="FP64", shape=[len(rows), FEATURES])
    return request_class(model_name=MODEL, inputs=[tensor], raw_input_contents=[np.asarray(rows, "<f8").tobytes()])


@contextlib.asynccontextmanager
async def infer_call(port: int) -> Any:
    """An async ``ModelInfer`` callable on a fresh channel."""
    import grpc

    from packflow.runtime.serve.grpc.messages import SERVICE, message

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel.unary_unary(f"/{SERVICE}/ModelInfer", request_serializer=message("ModelInferRequest").SerializeToString,
                                  response_deserializer=message("ModelInferResponse").FromString)


async def grpc_labels(port: int, rows: list[list[float]]) -> list[int]:
    """The labels one gRPC ``ModelInfer`` for ``rows`` answers (INT64 raw output contents)."""
    import numpy as np

    async with infer_call(port) as call:
        answer = await call(grpc_request(rows), timeout=30)
    index = [o.name for o in answer.outputs].index("predict")
    return np.frombuffer(answer.raw_output_contents[index], "<i8").tolist()


def check_same_predictions(ports: dict[str, int], model: Any, rows: list[list[float]]) -> None:
    """Both protocols answer ``model.predict`` for the batch and for single rows; else stop here."""
    expected = [int(v) for v in model.predict(rows)]
    seen = {"REST [200, 4]": rest_labels(ports["http"], rows),
            "REST [1, 4] x 20": [rest_labels(ports["http"], [row])[0] for row in rows[:20]],
            "gRPC [200, 4]": asyncio.run(grpc_labels(ports["grpc"], rows))}
    wanted = {"REST [200, 4]": expected, "REST [1, 4] x 20": expected[:20], "gRPC [200, 4]": expected}
    for name, labels in seen.items():
        if labels != wanted[name]:
            raise SystemExit(f"{name}: the server answered {labels[:10]}..., model.predict {wanted[name][:10]}...")


def cpu_tree(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        todo.extend(parents.get(current, []))
    return total


def rest_load(port: int, requests: int, connections: int) -> dict[str, float]:
    """``requests`` one-record V2 REST requests from wrk (stops after that many answers)."""
    script = lua_script(v2_body([ROW]))
    with open(script, "a") as handle:
        handle.write(LIMIT_LUA % requests)
    try:
        return wrk(port, f"/v2/models/{MODEL}/infer", connections, 600, script)
    finally:
        os.unlink(script)


async def grpc_load(port: int, requests: int, connections: int) -> dict[str, float]:
    """``requests`` one-record ``ModelInfer`` calls with ``connections`` in flight; latencies per call."""
    request, latencies, left = grpc_request([ROW]), [], [requests]
    async with infer_call(port) as call:
        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                start = time.perf_counter()
                await call(request, timeout=30)
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000,
            "errors": 0, "requests": len(latencies)}


def measure(pid: int, ports: dict[str, int], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """REST then gRPC load on one running server, each with its CPU seconds per 1,000 requests."""
    rest_load(ports["http"], min(2000, args.requests), args.connections)  # warm-up
    results = {}
    loads = {"rest": lambda: rest_load(ports["http"], args.requests, args.connections),
             "grpc": lambda: asyncio.run(grpc_load(ports["grpc"], args.requests, args.connections))}
    for name, load in loads.items():
        cpu = cpu_tree(pid)
        result = load()
        result["cpu_s_per_1k"] = (cpu_tree(pid) - cpu) / result["requests"] * 1000
        results[name] = result
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000, help="requests per server, protocol and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternate the servers this often; report medians")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64, help="packflow --batch-size; MLServer max_batch_size")
    parser.add_argument("--max-wait-ms", type=float, default=0.0,
                        help="packflow --max-wait-ms; MLServer max_batch_time (0: MLServer's adaptive batching off)")
    parser.add_argument("--parallel-workers", type=int, default=1, help="MLServer parallel_workers (0: in-process)")
    parser.add_argument("--venv", type=Path, default=ROOT / ".bench" / "mlserver-venv", help="the MLServer virtualenv")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    if importlib.util.find_spec("sklearn") is None:
        sys.exit("scikit-learn is not installed (a benchmark-only dependency): pip install scikit-learn")
    with tempfile.TemporaryDirectory(prefix="mlserver-bench-") as tmp:
        rounds = run_rounds(Path(tmp), args)
    report(rounds, args)


def run_rounds(workdir: Path, args: argparse.Namespace) -> dict[str, list[dict[str, dict[str, float]]]]:
    """Train, check both servers agree with the model, then time them in alternating rounds."""
    model_path, model, rows = train(workdir)
    servers = commands(workdir, model_path, args)
    rounds: dict[str, list[dict[str, dict[str, float]]]] = {name: [] for name in servers}
    for index in range(args.rounds):
        for name, (command, ports) in servers.items():
            with running(command, ports["http"], workdir / f"{name}.log") as pid:
                if index == 0:
                    check_same_predictions(ports, model, rows)
                rounds[name].append(measure(pid, ports, args))
    return rounds


def report(rounds: dict[str, list[dict[str, dict[str, float]]]], args: argparse.Namespace) -> None:
    batching = (f"batch <= {args.batch_size}, max wait {args.max_wait_ms} ms on both" if args.max_wait_ms > 0 else
                f"packflow batch <= {args.batch_size}, no wait; MLServer adaptive batching off")
    print(f"one-record V2 requests, {args.connections} connections, {args.requests} requests per run, "
          f"median of {args.rounds} rounds; {batching}; MLServer parallel_workers={args.parallel_workers}")
    print(f"{'protocol':8} {'server':9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'CPU s/1k':>9}  req/s per round")
    for protocol in ("rest", "grpc"):
        median = {}
        for name, runs in rounds.items():
            median[name] = {key: statistics.median(run[protocol][key] for run in runs)
                            for key in ("rps", "p50_ms", "p99_ms", "cpu_s_per_1k")}
            errors = sum(run[protocol]["errors"] for run in runs)
            m = median[name]
            print(f"{protocol:8} {name:9} {m['rps']:8.0f} {m['p50_ms']:7.2f} {m['p99_ms']:7.2f} {m['cpu_s_per_1k']:9.3f}  "
                  "[" + ", ".join(f"{run[protocol]['rps']:.0f}" for run in runs) + "]" + (f"  {errors} errors" if errors else ""))
        ours, theirs = median["packflow"], median["mlserver"]
        print(f"{protocol:8} packflow/MLServer: {ours['rps'] / theirs['rps']:.2f}x req/s, "
              f"{ours['cpu_s_per_1k'] / theirs['cpu_s_per_1k']:.2f}x CPU per request")


if __name__ == "__main__":
    main()
