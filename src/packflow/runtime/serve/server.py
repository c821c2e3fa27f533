"""Running the app: one socket, one or more worker processes, graceful drain on SIGTERM.

The launcher binds the listening socket itself. With one worker it runs uvicorn in this process;
with ``workers=N`` it starts N worker processes that inherit the socket (the kernel spreads
connections among them), gives them one ``PROMETHEUS_MULTIPROC_DIR`` so /metrics is aggregated,
forwards SIGTERM/SIGINT to them, restarts a worker that dies while serving, and exits non-zero
if a worker fails to start (e.g. ``initialize()`` raised) so the orchestrator restarts the server.
Each of several workers runs its backend in a child process (:mod:`.engine`), so a record that
kills that process costs its own request only.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from packflow._logjson import make_formatter, uvicorn_log_options
from packflow.constants import EXIT_CANNOT_START, EXIT_FAILURE, EXIT_OK
from packflow.exceptions import ConfigurationError
from packflow.loaders.target import resolve_target
from packflow.logger import get_logger
from packflow.runtime.serve.config import SERVE_CONFIG_ENV, ServeConfig
from packflow.runtime.serve.metrics import MULTIPROC_ENV
from packflow.runtime.serve.production import check_keys_at_start, install_key_reload, uvicorn_ssl_options, wrap_app
from packflow.runtime.serve.readiness import READY_DIR_ENV, forget_worker

__all__ = ["bind_socket", "run_server", "run_worker"]

logger = get_logger("serve")
#: Environment variable giving a worker process the inherited listening socket's file descriptor.
SOCKET_FD_ENV = "PACKFLOW_SERVE_FD"
#: A server whose workers die more often than this (per window) stops instead of restarting them.
MAX_RESTARTS = 5
RESTART_WINDOW_S = 60.0


def run_server(config: ServeConfig) -> int:
    """Serve ``config.target`` until SIGTERM or SIGINT; return the process exit code."""
    resolve_target(config.target)  # a bad TARGET fails here, before any socket or process
    check_keys_at_start(config)  # so does an unreadable --api-keys-file
    sock = bind_socket(config.host, config.port)
    host, port = sock.getsockname()[:2]
    scheme = "https" if config.ssl_certfile else "http"
    logger.info("packflow serve %s on %s://%s:%s with %d worker(s)", config.target, scheme, host, port, config.workers)
    if config.workers == 1:
        return run_worker(config, sock)
    return _Supervisor(config, sock).run()


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that worker processes can inherit."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"Cannot listen on {host}:{port}: {exc}; choose another --host or --port.") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_worker(config: ServeConfig, sock: socket.socket) -> int:
    """Run one uvicorn server on ``sock`` in this process; return its exit code."""
    import uvicorn

    from packflow.runtime.serve.app import create_app
    from packflow.runtime.serve.uvserver import PackflowServer, backstop_timeout, served_states

    failure: list[BaseException] = []
    holder: dict[str, Any] = {}

    def fatal(exc: BaseException) -> None:
        failure.append(exc)
        holder["server"].should_exit = True

    from packflow.runtime import tracing
    from packflow.runtime.serve.observed import observe_requests

    tracing.install_from_env()  # --tracing / --metrics-exporter / --log-format json, inherited by every worker
    served = create_app(config, on_fatal=fatal)
    app = observe_requests(wrap_app(served, config))
    install_key_reload(app)
    uv_config = uvicorn.Config(
        app, lifespan="on", **uvicorn_ssl_options(config), **uvicorn_log_options(), log_level=config.log_level.lower(), access_log=config.access_log,
        timeout_graceful_shutdown=backstop_timeout(config.graceful_timeout_s),  # type: ignore[arg-type]  # a float works
        server_header=False,
    )
    server = holder["server"] = PackflowServer(uv_config, served_states(served), config.read_timeout_s)
    # uvicorn re-raises a stop signal once it has shut down gracefully; the handlers installed
    # here absorb it, so a drained server exits 0 rather than "killed by SIGTERM".
    previous = {sig: signal.signal(sig, _absorb) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure:
        return EXIT_CANNOT_START
    if server.cut_off:
        logger.error("Exiting non-zero: %d request(s) were cut off by the graceful timeout", server.cut_off)
        return EXIT_FAILURE
    return EXIT_OK if server.started else EXIT_FAILURE


def _absorb(signum: int, _frame: Any) -> None:
    logger.info("Stopped by %s after draining", signal.Signals(signum).name)


class _Supervisor:
    """Start N workers on one socket, forward stop signals, restart a worker that dies once serving.

    A worker that exits before it ever became ready (``initialize()`` raised, bad config) stops the
    whole server with its exit code; one that dies after (killed, out of memory) is replaced, at
    most ``MAX_RESTARTS`` times per ``RESTART_WINDOW_S``.
    """

    def __init__(self, config: ServeConfig, sock: socket.socket) -> None:
        self.config = config
        self.sock = sock
        self.stop = threading.Event()
        self.procs: list[subprocess.Popen] = []
        self.restarts: list[float] = []
        self.ready_dir = self.metrics_dir = ""

    def run(self) -> int:
        root = tempfile.mkdtemp(prefix="packflow-serve-")
        self.metrics_dir = os.environ.get(MULTIPROC_ENV) or os.path.join(root, "metrics")
        self.ready_dir = os.path.join(root, "ready")
        os.makedirs(self.metrics_dir, exist_ok=True)
        os.makedirs(self.ready_dir)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        if hasattr(signal, "SIGHUP"):  # reload API keys: forwarded to every worker
            previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._forward)
        try:
            self.procs = [self._spawn() for _ in range(self.config.workers)]
            code = self._watch()
            return self._stop_all(code)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            shutil.rmtree(root, ignore_errors=True)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        logger.info("Received %s: draining workers", signal.Signals(signum).name)
        self.stop.set()

    def _forward(self, signum: int, _frame: Any) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    def _spawn(self) -> subprocess.Popen:
        fd = self.sock.fileno()
        env = {
            **os.environ, SERVE_CONFIG_ENV: self.config.to_json(), SOCKET_FD_ENV: str(fd), MULTIPROC_ENV: self.metrics_dir,
            READY_DIR_ENV: self.ready_dir,
        }
        return subprocess.Popen([sys.executable, "-m", "packflow.runtime.serve.worker"], env=env, pass_fds=(fd,))

    def _watch(self) -> int:
        while not self.stop.wait(0.2):
            for slot, proc in enumerate(self.procs):
                code = proc.poll()
                if code is None or self.stop.is_set():
                    continue
                if not self._may_restart(proc, code):
                    return code or EXIT_FAILURE
                self.procs[slot] = self._spawn()
        return EXIT_OK

    def _may_restart(self, proc: subprocess.Popen, code: int) -> bool:
        mark = os.path.join(self.ready_dir, f"ready-{proc.pid}")
        if not os.path.exists(mark):
            logger.error("Worker pid %d exited with code %d before it was ready; stopping the server", proc.pid, code)
            return False
        forget_worker(self.ready_dir, proc.pid)
        _forget_worker_metrics(proc.pid, self.metrics_dir)
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_S] + [now]
        if len(self.restarts) > MAX_RESTARTS:
            logger.error("Workers died %d times within %g s; stopping the server", len(self.restarts), RESTART_WINDOW_S)
            return False
        logger.error("Worker pid %d died (exit code %d) while serving; starting a new worker", proc.pid, code)
        return True

    def _stop_all(self, code: int) -> int:
        self.sock.close()  # the workers' copies keep serving until each drains
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = self.config.graceful_timeout_s + 10.0
        for proc in self.procs:
            try:
                rc = proc.wait(timeout=deadline)
            except subprocess.TimeoutExpired:
                logger.error("Worker pid %d did not stop in time; killing it", proc.pid)
                proc.kill()
                rc = proc.wait()
            if rc != 0 and code == EXIT_OK:
                code = rc
        return code


def _forget_worker_metrics(pid: int, metrics_dir: str) -> None:
    """A dead worker's live gauges (ready, queue depth) stop counting in /metrics."""
    try:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, metrics_dir)
    except Exception:  # noqa: BLE001 - metrics hygiene must not stop a restart
        logger.exception("Could not retire the metrics of worker pid %d", pid)


def configure_worker_logging(level: str) -> None:
    """Log ``packflow`` records to stderr in a worker process."""
    packflow_logger = logging.getLogger("packflow")
    if not packflow_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(make_formatter("%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s"))
        packflow_logger.addHandler(handler)
        packflow_logger.propagate = False
    packflow_logger.setLevel(level.upper())
