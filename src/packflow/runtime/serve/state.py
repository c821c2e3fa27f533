"""``BackendState``: loading the backend off the event loop, and the readiness verdict."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from packflow.exceptions import ConfigurationError
from packflow.loaders.target import Target, resolve_target
from packflow.logger import get_logger
from packflow.runtime.runner import Runner
from packflow.runtime.serve.config import ServeConfig

__all__ = ["BackendState", "read_sample_records"]

logger = get_logger("serve")
#: Environment variable naming the folder where each worker of a multi-worker server marks itself ready.
READY_DIR_ENV = "PACKFLOW_SERVE_READY_DIR"


class BackendState:
    """The served backend's lifecycle: ``loading`` → ``ready`` or ``failed``; then ``draining``."""

    def __init__(self, config: ServeConfig, target: Target | None = None) -> None:
        self.config = config
        self.target = target or resolve_target(config.target)
        self.phase = "loading"
        self.reason = "the backend is loading: initialize() has not finished"
        self.runner: Runner | None = None
        self.failure: BaseException | None = None
        self.started = time.monotonic()
        self.loaded = threading.Event()
        self._ready_dir = os.environ.get(READY_DIR_ENV) if config.workers > 1 else None
        self._ready_mark = os.path.join(self._ready_dir, f"ready-{os.getpid()}") if self._ready_dir else None

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
        if self._ready_mark:
            Path(self._ready_mark).touch()
        self.loaded.set()
        logger.info("Backend %s %s is ready", self.name, self.version)

    def _build_runner(self) -> Runner:
        backend = self.target.load(**self.config.backend_kwargs)
        if self.config.ready_sample:
            samples = read_sample_records(self.config.ready_sample)
            backend.check_io(samples)
            logger.info("Ready sample %s passed check_io (%d records)", self.config.ready_sample, len(samples))
        return Runner(backend, max_batch_size=self.config.max_batch_size, max_wait_ms=self.config.max_wait_ms)

    def readiness(self) -> tuple[bool, str]:
        """(ready, reason): ready only once loaded, not draining, and ``backend.ready()`` is true."""
        runner = self.runner
        if self.phase != "ready" or runner is None:
            return False, self.reason
        try:
            ok = bool(runner.backend.ready())
        except Exception as exc:  # noqa: BLE001 - a probe must answer, not crash
            return False, f"backend.ready() raised {type(exc).__name__}: {exc}"
        if not ok:
            return False, "backend.ready() returned False"
        if self._ready_dir:
            count = sum(1 for name in os.listdir(self._ready_dir) if name.startswith("ready-"))
            if count < self.config.workers:
                return False, f"{count} of {self.config.workers} workers have loaded the backend"
        return True, "ready"

    def mark_draining(self) -> None:
        """Readiness turns red for good: the server is shutting down."""
        self.phase, self.reason = "draining", "the server is shutting down"
        if self._ready_mark:
            Path(self._ready_mark).unlink(missing_ok=True)

    def uptime_s(self) -> float:
        return time.monotonic() - self.started


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
