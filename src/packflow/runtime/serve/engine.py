"""The backend in a child process, so a record that kills its process costs one request, not a worker.

With ``--workers N`` (N > 1) each worker keeps its event loop, sockets and Runner in its own
process and runs the backend in a child "engine" process (started with ``spawn``: a fresh
interpreter, never a fork of a threaded server). :class:`BackendProcess` stands in for the
backend: calling it sends the batch down a pipe and returns the outputs, or raises what the
backend raised (same step, same error type name).

When the engine dies during a call (``os._exit``, a segfault, the OOM killer) the call raises
:class:`BackendProcessDied` after a fresh engine has been started. The Runner treats that like
any failed call, except that it retries the batch one record at a time (a failed attempt costs a
restart, so it avoids bisection's ``log2(batch)`` failed attempts): the records that did not kill
the engine are answered and each record that did ends alone, as a per-record error (``step``
``execute``, type ``BackendProcessDied``).

Restarts: the first death starts the replacement and a *spare* engine side by side, so a second
death (the killer, retried alone) swaps in the already loading spare instead of waiting for a
full start again. One killer in a batch thus costs about one engine start of waiting, not two.
From the first death on, the worker keeps one spare engine (its memory: one more backend).
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from typing import Any

from packflow.exceptions import InferenceBackendRuntimeError, PackflowError
from packflow.loaders.target import Target
from packflow.logger import get_logger
from packflow.runtime.deadletter import error_type

__all__ = ["BackendCallTimedOut", "BackendProcess", "BackendProcessDied"]

logger = get_logger("serve")
_CONTEXT = multiprocessing.get_context("spawn")


class BackendProcessDied(PackflowError, RuntimeError):
    """The engine process ended while computing a call; a new one was started."""

    #: Each failed attempt restarts an engine: isolation retries the batch one record at a time.
    isolate_one_by_one = True


class BackendCallTimedOut(PackflowError, TimeoutError):
    """A call ran past the call timeout (``--request-timeout-s``): the engine was ended and replaced.

    Every request of that call has already been answered 504, so its records are not retried.
    """

    #: Retrying would hang again and answer no one: isolation dead-letters the call's records as they are.
    isolate_no_retry = True


class _RemoteError(PackflowError, RuntimeError):
    """Base of the stand-ins for exceptions raised in the engine (subclasses carry the original name)."""


_REMOTE_TYPES: dict[str, type[_RemoteError]] = {}


def _remote_error(type_name: str, message: str) -> _RemoteError:
    """An exception whose type name is the one the backend raised in the engine."""
    cls = _REMOTE_TYPES.get(type_name)
    if cls is None:
        cls = _REMOTE_TYPES[type_name] = type(type_name, (_RemoteError,), {"__module__": __name__})
    return cls(message)


class BackendProcess:
    """A backend living in a child process: ``__call__``, ``ready()``, ``get_metrics()``, ``get_statistics()``."""

    def __init__(
        self, target: Target, backend_kwargs: dict[str, Any], ready_sample: str | None = None, spare: bool = True,
        call_timeout_s: float | None = None,
    ) -> None:
        """``call_timeout_s``: a call running longer ends the engine (a new one is started) and raises
        :class:`BackendCallTimedOut`, so a hanging record frees the worker instead of blocking it."""
        self._spec = (target, backend_kwargs, ready_sample)
        self._call_timeout = call_timeout_s
        self._keep_spare = spare  # False: restart synchronously each time (benchmarks' baseline)
        self._lock = threading.Lock()
        self._seq = 0
        self._times: dict[str, Any] | None = None
        self._quality: dict[str, Any] | None = None  # the engine backend's DataQuality dump, after each call
        self.restarts = 0
        self._closed = False
        self._spare: tuple[Any, Any, Any] | None = None  # launched at the first death, loading or loaded
        self._start()

    def _start(self) -> None:
        self._proc, self._calls, self._control = self._loaded(self._launch())

    def _launch(self) -> tuple[Any, Any, Any]:
        """Start an engine process (it loads the backend on its own; :meth:`_loaded` waits for it)."""
        calls, child_calls = _CONTEXT.Pipe()
        control, child_control = _CONTEXT.Pipe()
        proc = _CONTEXT.Process(target=_engine_main, args=(child_calls, child_control, *self._spec), name="packflow-engine", daemon=True)
        proc.start()
        child_calls.close()
        child_control.close()
        return proc, calls, control

    @staticmethod
    def _loaded(engine: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        """``engine`` once its backend has loaded; ``PackflowError`` (and the engine ended) if it failed to."""
        proc, calls, control = engine
        try:
            reply = calls.recv()
        except (EOFError, OSError):
            proc.join(5)
            reply = ("exited", proc.exitcode)
        if reply[0] == "loaded":
            return engine
        calls.close()
        control.close()
        proc.join(5)
        if reply[0] == "exited":
            raise PackflowError(f"The backend process exited with code {reply[1]} while loading the backend.")
        raise PackflowError(f"The backend failed to load in its process: {reply[1]}: {reply[2]}")

    def __call__(self, records: list) -> Any:
        try:
            self._calls.send(records)
            answered = self._call_timeout is None or self._calls.poll(self._call_timeout)
            reply = self._calls.recv() if answered else None
        except (EOFError, OSError):
            raise self._died(len(records)) from None
        if reply is None:
            raise self._hung(len(records))
        kind = reply[0]
        if kind == "ok":
            self._times = reply[2]
            if reply[3] is not None:
                self._quality = reply[3]
            return reply[1]
        _, step, type_name, message, index = reply
        if step is None:
            raise _remote_error(type_name, message)
        error = InferenceBackendRuntimeError(message, step=step, record_index=index)
        error.__cause__ = _remote_error(type_name, message)
        raise error

    def _died(self, size: int) -> BackendProcessDied:
        if self._closed:  # the server is shutting down: no new engine
            return BackendProcessDied("the backend process was stopped because the server is shutting down")
        self._proc.join(5)
        code = self._proc.exitcode
        logger.error("The backend process died (exit code %s) during a call of %d record(s); restarting it", code, size)
        self._replace()
        return BackendProcessDied(
            f"the backend process died (exit code {code}) while computing this record; it was restarted and the "
            "other records of its batch were retried"
        )

    def _hung(self, size: int) -> BackendCallTimedOut:
        timeout = self._call_timeout
        if self._closed:
            return BackendCallTimedOut("the backend process was stopped because the server is shutting down")
        logger.error("A call of %d record(s) ran past %g s (--request-timeout-s); ending the backend process and "
                     "starting a new one", size, timeout)
        self._replace()
        return BackendCallTimedOut(
            f"the backend call ran past {timeout:g} s (--request-timeout-s; its requests were answered 504); the "
            "backend process was ended and restarted, and these records were not retried"
        )

    def _replace(self) -> None:
        """End the current engine and swap in the spare (or a new engine), launching the next spare."""
        self._stop()
        self.restarts += 1
        engine, self._spare = self._spare or self._launch(), None
        if self._keep_spare:  # loads alongside the replacement: the next death need not wait a whole start
            self._spare = self._launch()
        self._proc, self._calls, self._control = self._loaded(engine)

    def _ask(self, question: str, timeout: float) -> Any:
        """Ask the engine's control thread; ``TimeoutError`` when it does not answer in time."""
        if not self._lock.acquire(timeout=timeout):
            raise TimeoutError(f"another question to the backend process is still unanswered ({question})")
        try:
            self._seq += 1
            self._control.send((self._seq, question))
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self._control.poll(left):
                    raise TimeoutError(f"the backend process did not answer {question} within {timeout:g} s")
                seq, ok, value = self._control.recv()
                if seq == self._seq:
                    break
        finally:
            self._lock.release()
        if not ok:
            raise _remote_error(value[0], value[1])
        return value

    def ready(self) -> bool:
        """``backend.ready()``, asked in the engine (the caller bounds how long it waits)."""
        return bool(self._ask("ready", 3600.0))

    def get_statistics(self) -> dict[str, Any]:
        """The engine backend's rolling per-step statistics ({} when the engine cannot answer quickly)."""
        from packflow.backend.metrics import StepStatistics

        try:
            stats = self._ask("statistics", 0.5)
        except (TimeoutError, OSError, EOFError, _RemoteError):
            return {}
        return {name: StepStatistics(**stat) for name, stat in stats.items()}

    def get_metrics(self) -> Any:
        """Metrics of the last successful call (step times as the engine measured them)."""
        from packflow.backend.metrics import ExecutionMetrics, ExecutionTimes

        if self._times is None:
            raise InferenceBackendRuntimeError("the backend has not been called yet", step="input")
        return ExecutionMetrics(batch_size=0, execution_times=ExecutionTimes(**self._times))

    def data_quality_dump(self) -> dict[str, Any] | None:
        """The engine backend's lifetime data-quality counts as of its last call (``DataQuality.model_dump()``;
        None when no field is configured). They restart at zero when the engine is restarted."""
        return self._quality

    def get_data_quality(self) -> Any:
        """:meth:`data_quality_dump` as a ``DataQuality`` (or None)."""
        from packflow.backend.metrics import DataQuality

        return DataQuality(**self._quality) if self._quality is not None else None

    def step_seconds(self) -> dict[str, float]:
        """Step times (seconds) of the last successful call, for the step-latency histograms."""
        times = self._times or {}
        return {step: ms / 1000.0 for step, ms in times.items() if ms is not None}

    def close(self) -> None:
        """End the engine (and the spare, if any) for good: they exit when their pipes close;
        terminated if stuck in a call."""
        self._closed = True
        self._stop()
        if self._spare is not None:
            _end(*self._spare)
            self._spare = None

    def _stop(self) -> None:
        _end(self._proc, self._calls, self._control)


def _end(proc: Any, calls: Any, control: Any) -> None:
    for conn in (calls, control):
        conn.close()
    proc.join(0.5)
    if proc.is_alive():
        proc.terminate()
        proc.join(2)
    if proc.is_alive():  # SIGTERM blocked or ignored by backend code
        proc.kill()
        proc.join(2)


def _engine_main(calls: Any, control: Any, target: Target, backend_kwargs: dict, ready_sample: str | None) -> None:
    """The engine process: load the backend, then answer calls (and, on a thread, control questions)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the server; it stops us
    try:
        backend = target.load(**backend_kwargs)
        if ready_sample:
            from packflow.runtime.serve.state import read_sample_records

            backend.check_io(read_sample_records(ready_sample))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails to start
        calls.send(("failed", type(exc).__name__, str(exc)))
        return
    calls.send(("loaded",))
    threading.Thread(target=_answer_control, args=(control, backend), daemon=True).start()
    while True:
        try:
            records = calls.recv()
        except (EOFError, OSError):
            return
        reply = _call(backend, records)
        try:  # pickling fails before anything is written, so a bad output can still be reported
            calls.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # noqa: BLE001 - outputs that cannot cross the pipe
            calls.send(("error", None, type(exc).__name__, f"the backend's outputs cannot be sent to the server: {exc}", None))


def _call(backend: Any, records: list) -> tuple:
    try:
        outputs = backend(records)
        times = backend.get_metrics().execution_times.model_dump()
    except InferenceBackendRuntimeError as exc:
        return ("error", exc.step, error_type(exc), str(exc), exc.record_index if type(exc.record_index) is int else None)
    except BaseException as exc:  # noqa: BLE001 - SystemExit & co. included: the engine keeps running
        return ("error", None, type(exc).__name__, f"{type(exc).__name__}: {exc}", None)
    return ("ok", outputs, times, _quality_dump(backend))


def _quality_dump(backend: Any) -> dict[str, Any] | None:
    """The backend's data-quality counts (None, and free, unless fields are configured; never raises)."""
    try:
        quality = backend.get_data_quality()
        return quality.model_dump() if quality is not None else None
    except Exception:  # noqa: BLE001 - counters are best effort; the call's outputs are what matter
        return None


def _answer_control(control: Any, backend: Any) -> None:
    while True:
        try:
            seq, question = control.recv()
        except (EOFError, OSError):
            return
        try:
            if question == "ready":
                answer: Any = bool(backend.ready())
            else:
                answer = {name: stat.model_dump() for name, stat in backend.get_statistics().items()}
            reply = (seq, True, answer)
        except BaseException as exc:  # noqa: BLE001 - the probe reports it
            reply = (seq, False, (type(exc).__name__, str(exc)))
        try:
            control.send(reply)
        except (EOFError, OSError):
            return
