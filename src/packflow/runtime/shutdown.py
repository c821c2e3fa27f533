"""Telling a real shutdown apart from backend code that raises ``SystemExit`` or ``KeyboardInterrupt``.

The Runner contains everything backend code raises — ``SystemExit``, ``KeyboardInterrupt``,
``GeneratorExit`` included — as a per-record error (a dead letter), because a model library calling
``sys.exit()`` on a bad input must not stop a server or a stream. Only a *real* shutdown may pass
through. A real shutdown is known in exactly one of two ways:

1. a driver's signal handler called :func:`request_shutdown` (every driver that handles SIGINT or
   SIGTERM does so first thing in its handler), after which a ``SystemExit`` or
   ``KeyboardInterrupt`` propagates out of the Runner; or
2. Python's own SIGINT handler is installed (a plain script pressing Ctrl-C) and the
   ``KeyboardInterrupt`` was raised on the main thread: Python cannot say whether it came from
   the signal or from user code, so the user's Ctrl-C wins.

Everything else — a ``SystemExit`` anywhere, a ``KeyboardInterrupt`` on a backend thread or while
a driver has its own SIGINT handler — is backend code misbehaving, and becomes a dead letter.
"""

from __future__ import annotations

import signal
import threading

__all__ = ["clear_shutdown", "is_real_shutdown", "request_shutdown", "shutdown_requested"]

_requested = threading.Event()


def request_shutdown() -> None:
    """Record that a signal asked the process to stop (call it from a driver's signal handler)."""
    _requested.set()


def shutdown_requested() -> bool:
    """Whether :func:`request_shutdown` was called (and not cleared)."""
    return _requested.is_set()


def clear_shutdown() -> None:
    """Forget a shutdown request (tests, or a driver that resumes after handling one)."""
    _requested.clear()


def is_real_shutdown(exc: BaseException) -> bool:
    """True when ``exc`` must propagate: a ``SystemExit``/``KeyboardInterrupt`` of a real shutdown."""
    if not isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return False
    if _requested.is_set():
        return True
    return (
        isinstance(exc, KeyboardInterrupt)
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
