"""``StopRequest``: a stop asked for by a signal, seen by a driver between batches.

A signal handler must never raise into backend code: a ``KeyboardInterrupt`` or ``SystemExit``
raised *by* backend code is that record's error (a dead letter), so a real SIGINT/SIGTERM is told
apart by going through this flag instead. The handler first tells the Runner
(:func:`packflow.runtime.shutdown.request_shutdown`: from then on a backend's ``SystemExit`` ends
the batch instead of becoming a dead letter), then calls :meth:`StopRequest.set`; the driver
finishes the batch in hand, writes its results and stops. ``fileno()`` becomes readable once a stop
is requested, so a reader blocked on an idle pipe (``select``) wakes up at once.

The driver also records its progress here (``completed``, ``writing``), so that a second signal
can end the process at once with a consistent prefix of results (see ``packflow run``).
"""

from __future__ import annotations

import os
import signal
from typing import Any, Callable

from packflow.runtime.shutdown import clear_shutdown, request_shutdown

__all__ = ["StopRequest", "handle_stop_signals"]


class StopRequest:
    """A stop flag that is safe to set from a signal handler and wakes ``select`` on :meth:`fileno`."""

    def __init__(self) -> None:
        #: Why the run should stop (e.g. ``"SIGTERM"``); None while it should go on.
        self.reason: str | None = None
        self.signum = 0
        #: Input position (line or element number) up to which every result is written.
        self.completed = 0
        #: True while one batch's outputs and dead letters are being written.
        self.writing = False
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)

    def set(self, reason: str, signum: int = 0) -> None:
        """Ask the driver to stop after the batch in hand (idempotent, signal-safe)."""
        if self.reason is None:
            self.reason, self.signum = reason, signum
        try:
            os.write(self._write, b"!")
        except OSError:  # the pipe is full: it is readable already
            pass

    def is_set(self) -> bool:
        return self.reason is not None

    def fileno(self) -> int:
        """Readable once a stop was requested (for ``select``)."""
        return self._read

    def close(self) -> None:
        for fd in (self._read, self._write):
            try:
                os.close(fd)
            except OSError:
                pass


def handle_stop_signals(stop: StopRequest, on_second: Callable[[StopRequest], Any]) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``; a second one calls ``on_second(stop)``. Returns a restore function."""

    def handler(signum: int, _frame: Any) -> None:
        request_shutdown()
        if stop.is_set():
            on_second(stop)
            return
        stop.set(signal.Signals(signum).name, signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)
        clear_shutdown()

    return restore
