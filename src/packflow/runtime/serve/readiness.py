"""Readiness across the workers of one server: a model is ready only when it is ready in every worker.

With ``--workers N`` the kernel hands each probe's connection to any one worker, so one worker's
own verdict is not the server's. Each worker therefore publishes the verdict of each of its
models (ready, reason) with the time, as one JSON file ``verdicts-{pid}.json`` in the folder the
launcher gives all its workers (rewritten atomically after every check, and at least every
``REFRESH_S`` by a background task per model). A probe answers *ready* for a model only when
its own worker's check says so and N-1 other live workers' files say so too, none older than
``stale_s``. A worker that has not reported yet (still starting, or replacing a dead one) or
whose report is stale keeps the model red, and the reason names that worker.

The file ``ready-{pid}`` is the launcher's other signal: the worker has loaded every model
(a worker that exits before that stops the server instead of being restarted).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

__all__ = ["REFRESH_S", "WorkerReadiness", "worker_readiness"]

#: Environment variable naming the folder where the workers of a multi-worker server report.
READY_DIR_ENV = "PACKFLOW_SERVE_READY_DIR"
#: How often each worker re-checks and republishes every model's verdict, in seconds.
REFRESH_S = 0.5
_PREFIX, _SUFFIX = "verdicts-", ".json"


class WorkerReadiness:
    """This worker's published verdicts, and the other workers' as read from the shared folder."""

    def __init__(self, folder: str, workers: int, ready_timeout_s: float, refresh_s: float = REFRESH_S) -> None:
        self.folder = Path(folder)
        self.workers = workers
        self.refresh_s = refresh_s
        #: A report older than this means the worker cannot answer (its event loop is stuck).
        self.stale_s = 3 * refresh_s + ready_timeout_s + 2.0
        self.pid = os.getpid()
        self.path = self.folder / f"{_PREFIX}{self.pid}{_SUFFIX}"
        self.mark = self.folder / f"ready-{self.pid}"
        self._verdicts: dict[str, tuple[bool, str]] = {}
        self._expected: set[str] = set()
        self._loaded: set[str] = set()
        self._withdrawn = False

    def expect(self, name: str) -> None:
        """Register a model this worker serves (before any is loaded)."""
        self._expected.add(name)

    def loaded(self, name: str) -> None:
        """``name`` has loaded; once every expected model has, mark the worker loaded for the launcher."""
        self._loaded.add(name)
        if self._loaded >= self._expected and not self._withdrawn:
            self.mark.touch()

    def publish(self, name: str, ok: bool, reason: str) -> None:
        """Record this worker's verdict for ``name`` and rewrite its report file."""
        self._verdicts[name] = (ok, reason)
        if self._withdrawn:
            return
        data = {"at": time.time(), "models": {n: [v[0], v[1]] for n, v in self._verdicts.items()}}
        scratch = self.path.with_suffix(".tmp")
        scratch.write_bytes(json.dumps(data).encode())
        os.replace(scratch, self.path)  # readers see the old report or the new one, never half of one

    def withdraw(self) -> None:
        """The worker is shutting down: its reports disappear, so the others turn red for good."""
        self._withdrawn = True
        for path in (self.mark, self.path):
            path.unlink(missing_ok=True)

    def others(self, name: str) -> tuple[bool, str]:
        """(ready, reason) for ``name`` in every other live worker."""
        now, reported = time.time(), 1
        for pid, report in self._reports():
            reported += 1
            verdict = report.get("models", {}).get(name)
            age = now - float(report.get("at", 0.0))
            if age > self.stale_s:
                return False, f"worker pid {pid} has not reported for {age:.1f} s"
            if verdict is None:
                return False, f"worker pid {pid} has not loaded this model yet"
            if not verdict[0]:
                return False, f"worker pid {pid}: {verdict[1]}"
        if reported < self.workers:
            return False, f"{reported} of {self.workers} workers have reported this model"
        return True, "ready"

    def _reports(self) -> list[tuple[int, dict]]:
        reports = []
        for path in self.folder.glob(f"{_PREFIX}*{_SUFFIX}"):
            pid = _pid_of(path.name)
            if pid is None or pid == self.pid or not _alive(pid):
                continue
            try:
                report = json.loads(path.read_bytes())
            except (OSError, ValueError):  # removed meanwhile (its worker stopped)
                continue
            if type(report) is dict:
                reports.append((pid, report))
        return reports


def worker_readiness(workers: int, ready_timeout_s: float) -> WorkerReadiness | None:
    """This worker's :class:`WorkerReadiness` when it is one of several (the launcher set the folder), else None."""
    folder = os.environ.get(READY_DIR_ENV)
    if workers <= 1 or not folder:
        return None
    return WorkerReadiness(folder, workers, ready_timeout_s)


def forget_worker(folder: str, pid: int) -> None:
    """Remove a dead worker's reports (the launcher calls this before replacing it)."""
    for name in (f"ready-{pid}", f"{_PREFIX}{pid}{_SUFFIX}"):
        (Path(folder) / name).unlink(missing_ok=True)


def _pid_of(filename: str) -> int | None:
    digits = filename[len(_PREFIX) : -len(_SUFFIX)]
    return int(digits) if digits.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
