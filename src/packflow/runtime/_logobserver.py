"""The log-only observer (``--log-format json`` with tracing off): ids in the log context, no spans.

Each Runner chunk runs inside ``log_context(batch_id=...)`` and each HTTP inference request inside
``log_context(request_id=...)``, so every JSON log line written meanwhile — by packflow or by the
backend's own ``self.logger`` — names its batch or request.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from packflow._logjson import log_context

if TYPE_CHECKING:  # pragma: no cover
    from packflow.runtime.runner import Runner
    from packflow.runtime.tracing import ChunkCall

__all__ = ["LogObserver", "new_id"]


def new_id() -> str:
    """16 hex digits: a batch or request id."""
    return os.urandom(8).hex()


def _ignore_status(_code: int) -> None:
    return None


class LogObserver:
    """Batch and request ids in the log context; the base of the OpenTelemetry observer."""

    def __init__(self) -> None:
        self._names: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()

    def name_runner(self, runner: Runner, name: str, version: str) -> None:
        self._names[runner] = (name, version)

    def backend_labels(self, runner: Runner) -> tuple[str, str]:
        """(name, version) of ``runner``'s backend: as named by its driver, else the class name."""
        return self._names.get(runner) or (type(runner.backend).__name__, "unknown")

    def chunk(self, runner: Runner, records: list, call: ChunkCall, parents: Sequence[Any] | None) -> tuple[list, int, int]:
        with log_context(batch_id=new_id()):
            return call(runner._invoke)

    def capture(self) -> Any:
        return None

    def driver_dead_letters(self, runner: Runner, step: str, count: int) -> None:
        return None

    def flush(self) -> None:
        return None

    @contextlib.contextmanager
    def request(self, scope: dict, route: str, request_id: str) -> Iterator[Callable[[int], None]]:
        with log_context(request_id=request_id):
            yield _ignore_status

    @contextlib.contextmanager
    def rpc(self, service: str, method: str, metadata: Sequence[tuple[str, Any]], request_id: str) -> Iterator[Callable[[Any], None]]:
        with log_context(request_id=request_id):
            yield _ignore_status
