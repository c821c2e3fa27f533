"""``BackendState``: loading the backend off the event loop, and the readiness verdict."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, cast

from packflow.exceptions import ConfigurationError
from packflow.loaders.target import Target, resolve_target
from packflow.logger import get_logger
from packflow.runtime.aio import RunnerClosedError
from packflow.runtime.runner import Runner
from packflow.runtime.stats import RunObserver
from packflow.runtime.serve.config import ServeConfig

from packflow.runtime.serve.readiness import READY_DIR_ENV, WorkerReadiness, worker_readiness

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.serve.engine import BackendProcess

__all__ = ["BackendState", "READY_DIR_ENV", "read_sample_records"]

logger = get_logger("serve")


class BackendState:
    """The served backend's lifecycle: ``loading`` → ``ready`` or ``failed``; then ``draining``."""

    def __init__(
        self, config: ServeConfig, target: Target | None = None, observer: RunObserver | None = None,
        peers: WorkerReadiness | None = None,
    ) -> None:
        """``observer``: the server's metrics, handed to the Runner (see :class:`packflow.runtime.stats.RunObserver`)."""
        self.config = config
        self.target = target or resolve_target(config.target)
        self.observer = observer
        self.phase = "loading"
        self.reason = "the backend is loading: initialize() has not finished"
        self.runner: Runner | None = None
        #: With several workers: the child process the backend runs in.
        self.engine: BackendProcess | None = None
        self.failure: BaseException | None = None
        self.started = time.monotonic()
        self.loaded = threading.Event()
        #: Requests answered 503 because the drain at shutdown ran out of time.
        self.cut_off = 0
        self._verdict: tuple[bool, str] | None = None
        self._probe: asyncio.Future | None = None
        self._drain_deadline: float | None = None
        self._refresh: asyncio.Task | None = None
        #: With several workers: this worker's reports, and the other workers' verdicts.
        self.peers = peers or worker_readiness(config.workers, config.ready_timeout_s)
        if self.peers is not None:
            self.peers.expect(self.name)

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def version(self) -> str:
        return self.target.version

    def start_loading(self, on_ready: Callable[[Runner], None], on_failure: Callable[[BaseException], None]) -> None:
        """Load the backend (and check the ready sample) on a thread; report through the callbacks."""
        thread = threading.Thread(target=self._load, args=(on_ready, on_failure), name="packflow-load", daemon=True)
        thread.start()

    def _load(self, on_ready: Callable[[Runner], None], on_failure: Callable[[BaseException], None]) -> None:
        try:
            runner = self._build_runner()
        except BaseException as exc:  # noqa: BLE001 - reported, and the server exits non-zero
            self.failure = exc
            self.phase = "failed"
            self.reason = f"the backend failed to start: {type(exc).__name__}: {exc}"
            logger.error("Cannot serve %s: %s", self.config.target, self.reason)
            self.loaded.set()
            on_failure(exc)
            return
        self.runner = runner
        on_ready(runner)
        self.phase = "ready"
        self.reason = "ready"
        if self.peers is not None:
            self.peers.loaded(self.name)
        self.loaded.set()
        first = _first_verdict(runner.backend.ready, self.config.ready_timeout_s)
        if self._verdict is None:  # a probe may have answered meanwhile: keep the newer verdict
            self._verdict = first
        logger.info("Backend %s %s is ready", self.name, self.version)

    def _build_runner(self) -> Runner:
        config = self.config
        if config.uses_engine:  # a record that kills the backend's process must not take the worker with it
            from packflow.runtime.serve.engine import BackendProcess

            engine = self.engine = BackendProcess(self.target, config.backend_kwargs, config.ready_sample,
                                                  call_timeout_s=config.request_timeout_s)
            return Runner(cast(Any, engine), max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms,
                      observer=self.observer)
        backend = self.target.load(**config.backend_kwargs)
        if config.ready_sample:
            samples = read_sample_records(config.ready_sample)
            backend.check_io(samples)
            logger.info("Ready sample %s passed check_io (%d records)", config.ready_sample, len(samples))
        return Runner(backend, max_batch_size=config.max_batch_size, max_wait_ms=config.max_wait_ms,
                      observer=self.observer)

    def readiness(self) -> tuple[bool, str]:
        """Never blocks: the checks that need no backend call, then the latest ``ready()`` verdict.

        Called on the event loop, it also starts a fresh :meth:`check_readiness` in the background
        (so the verdict is at most one probe old).
        """
        ok, reason = self._static_readiness()
        if not ok:
            return ok, reason
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and (self._refresh is None or self._refresh.done()):
            self._refresh = loop.create_task(self.check_readiness())
        return self._verdict or (False, "backend.ready() has not answered yet")

    async def check_readiness(self) -> tuple[bool, str]:
        """(ready, reason): loaded, not draining, not stuck, and ``backend.ready()`` true in time.

        ``ready()`` runs on its own thread, bounded by ``ready_timeout_s``; a call that has not
        returned yet is awaited again by the next probe rather than started twice. With several
        workers, the model must also be ready in every other worker (:mod:`.readiness`).
        """
        ok, reason = await self._local_readiness()
        if ok and self.peers is not None:
            ok, reason = self.peers.others(self.name)
        self._verdict = (ok, reason)
        return ok, reason

    async def _local_readiness(self) -> tuple[bool, str]:
        ok, reason = self._static_readiness()
        if ok:
            ok, reason = await self._probe_ready()
        if self.peers is not None:
            self.peers.publish(self.name, ok, reason)
        return ok, reason

    async def keep_published(self) -> None:
        """With several workers: re-check this model and republish its verdict, every ``REFRESH_S``, until cancelled."""
        if self.peers is None:
            return
        while True:
            await self._local_readiness()
            await asyncio.sleep(self.peers.refresh_s)

    def _static_readiness(self) -> tuple[bool, str]:
        runner = self.runner
        if self.phase != "ready" or runner is None:
            return False, self.reason
        stalled, limit = runner.aio.stalled_s(), self.config.request_timeout_s
        if stalled > limit:
            return False, (
                f"the backend has produced no result for {stalled:.1f} s, longer than --request-timeout-s {limit:g}; "
                "it may be stuck"
            )
        return True, "ready"

    async def _probe_ready(self) -> tuple[bool, str]:
        if self._probe is None or self._probe.done():
            self._probe = _call_on_thread(self.runner.backend.ready)  # type: ignore[union-attr]
        limit = self.config.ready_timeout_s
        try:
            ok = bool(await asyncio.wait_for(asyncio.shield(self._probe), limit))
        except asyncio.TimeoutError:
            return False, f"backend.ready() did not answer within {limit:g} s (--ready-timeout-s)"
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - a probe must answer, not crash
            return False, f"backend.ready() raised {type(exc).__name__}: {exc}"
        return (True, "ready") if ok else (False, "backend.ready() returned False")

    def begin_drain(self) -> float:
        """Shutdown begins: readiness turns red for good, new requests are refused; seconds left to drain."""
        if self._drain_deadline is None:
            self._drain_deadline = time.monotonic() + self.config.graceful_timeout_s
            self.mark_draining()
            if self.runner is not None:
                self.runner.aio.close()
        return max(0.0, self._drain_deadline - time.monotonic())

    def cut_off_waiting(self) -> int:
        """The drain ran out of time: answer every waiting request 503; how many were cut off."""
        if self.runner is None:
            return 0
        limit = self.config.graceful_timeout_s
        error = RunnerClosedError(
            f"The server shut down before this request's result was ready: the drain took longer than "
            f"--graceful-timeout-s {limit:g}. Retry on another instance."
        )
        cut = self.runner.aio.abort(error)
        if cut:
            logger.error("Graceful timeout (%g s): %d request(s) cut off and answered 503", limit, cut)
        self.cut_off += cut
        return cut

    def mark_draining(self) -> None:
        """Readiness turns red for good: the server is shutting down."""
        self.phase, self.reason = "draining", "the server is shutting down"
        if self.peers is not None:
            self.peers.withdraw()

    def close(self) -> None:
        """Release what the backend holds outside this process (the engine process, with several workers)."""
        if self.engine is not None:
            self.engine.close()

    def uptime_s(self) -> float:
        return time.monotonic() - self.started


def _first_verdict(ready: Callable[[], Any], timeout: float) -> tuple[bool, str]:
    """The verdict of one ``ready()`` call at the end of loading (on the load thread), bounded by ``timeout``."""
    box: list[tuple[bool, str]] = []

    def probe() -> None:
        try:
            box.append((True, "ready") if ready() else (False, "backend.ready() returned False"))
        except BaseException as exc:  # noqa: BLE001 - a probe must answer, not crash
            box.append((False, f"backend.ready() raised {type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=probe, name="packflow-ready", daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else (False, f"backend.ready() did not answer within {timeout:g} s (--ready-timeout-s)")


def _call_on_thread(func: Callable[[], Any]) -> asyncio.Future:
    """``func()`` on a fresh daemon thread (a hung call never blocks exit), as an awaitable future."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(result: Any, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)

    def work() -> None:
        try:
            result, exc = func(), None
        except BaseException as error:  # noqa: BLE001 - handed to the awaiting probe
            result, exc = None, error
        try:
            loop.call_soon_threadsafe(settle, result, exc)
        except RuntimeError:  # the loop is closed
            pass

    threading.Thread(target=work, name="packflow-ready", daemon=True).start()
    return future


def read_sample_records(path: str) -> list[dict[str, Any]]:
    """Records from a JSON file (an object or an array of objects) or a JSON-lines file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"Cannot read the ready sample {path!r}: {exc}") from exc
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"The ready sample {path!r} is neither JSON nor JSON lines ({exc}); give records as JSON."
            ) from exc
    records = [data] if isinstance(data, dict) else data
    if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
        raise ConfigurationError(
            f"The ready sample {path!r} must hold at least one record: a JSON object, an array of objects, or "
            "JSON lines of objects."
        )
    return records
