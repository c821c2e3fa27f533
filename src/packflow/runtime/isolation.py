"""Per-record error isolation: split a failing batch until the bad records stand alone.

A batch call that raises (or returns the wrong number of records) is split and each part is
retried. Records that still fail alone become dead letters; every other record gets its output.

Cost, for ``k`` bad records in a batch of ``n``:

- a clean batch costs exactly one backend call;
- when the failure names its record (``InferenceBackendRuntimeError.record_index``, which the
  built-in preprocessors set), the batch is split around that record: about ``3·k + 1`` calls;
- otherwise the batch is bisected (halves, recursively): at most about ``2·k·log2(n/k) + 1``
  calls, i.e. O(k log n). With one bad record in 1,000 that is about 21 calls;
- when the failure's exception says a failed attempt is expensive (class attribute
  ``isolate_one_by_one = True``, as serve's ``BackendProcessDied``: each failed attempt restarts a
  process), the failing batch is retried one record at a time: ``n + 1`` calls but only ``k + 1``
  failed ones, where bisection fails about ``k·log2(n/k) + 1`` times;
- when it says retrying cannot help (``isolate_no_retry = True``, as serve's ``BackendCallTimedOut``:
  the call ran past the request timeout, so its requests were already answered), every record of
  the failed call is dead-lettered with that failure, without further calls.

The work list is explicit (no recursion), so even a batch where every record fails cannot hit
Python's recursion limit.

Containment: whatever backend code raises — any ``Exception``, and also ``SystemExit``,
``KeyboardInterrupt``, ``GeneratorExit`` — is a failure of the records of that call, never of the
process; only a real signal-driven shutdown propagates (see :mod:`packflow.runtime.shutdown`).
A ``record_index`` that is not an int naming a record of the call (a str, a bool, out of range) is
ignored: the batch is bisected instead.
"""

from __future__ import annotations

from typing import Any, Callable

from packflow.exceptions import InferenceBackendRuntimeError, PackflowError
from packflow.runtime.deadletter import DeadLetter, dead_letter, error_type
from packflow.runtime.shutdown import is_real_shutdown

__all__ = ["BatchFailedError", "Fresh", "SegmentHook", "call_isolated", "call_or_fail"]

Result = Any  # an output record (dict) or a DeadLetter
Backend = Callable[[list], Any]
#: ``fresh(lo, hi)``: new copies of ``records[lo:hi]`` exactly as the driver received them (decoded
#: again from the bytes it read). Given, isolation retries and dead-letters those copies, so a backend
#: that mutated its inputs in a failed call neither changes the retried records' outputs nor the
#: dead letters. Only called once a batch has failed: free on the clean path.
Fresh = Callable[[int, int], list]
#: Optional hook ``on_segment(lo, hi, results)``: while a failing batch is isolated, called (on the
#: calling thread) each time the final results of ``records[lo:hi]`` are known, so a driver can
#: release them before the whole bisection ends. Never called for a batch that succeeds at once.
SegmentHook = Callable[[int, int, list], None]


class BatchFailedError(PackflowError):
    """``on_error="fail"``: a batch failed; ``dead_letter`` describes why and ``size`` how many records."""

    def __init__(self, message: str, dead_letter: DeadLetter, size: int) -> None:
        super().__init__(message)
        self.dead_letter = dead_letter
        self.size = size


class _Failure:
    """Why a call failed, and (when the backend said so) which record of the call caused it."""

    __slots__ = ("step", "error_type", "message", "index", "one_by_one", "no_retry")

    def __init__(self, step: str, error_type: str, message: str, index: int | None = None, one_by_one: bool = False,
                 no_retry: bool = False) -> None:
        self.step, self.error_type, self.message, self.index = step, error_type, message, index
        self.one_by_one = one_by_one  # a failed attempt is expensive: retry each record alone
        self.no_retry = no_retry  # retrying is pointless (a timed-out call): each record of the call is dead

    def dead_letter(self, record: Any) -> DeadLetter:
        """The dead letter of a record that failed alone ("on record 0" would only confuse)."""
        return dead_letter(record, self.step, self.error_type, message=self.message.replace(" on record 0:", ":", 1))


def _attempt(backend: Backend, records: list) -> tuple[list | None, _Failure | None]:
    """(outputs, None) when the call honoured the contract, else (None, why it failed)."""
    try:
        outputs = backend(records)
    except InferenceBackendRuntimeError as exc:
        index = _valid_index(exc.record_index, len(records))
        cause = exc.__cause__
        return None, _Failure(exc.step, error_type(exc), str(exc), index, _flag(cause, "one_by_one"), _flag(cause, "no_retry"))
    except Exception as exc:  # noqa: BLE001 - any backend failure is isolated, never fatal
        return None, _Failure("execute", type(exc).__name__, f"{type(exc).__name__}: {exc}",
                              one_by_one=_flag(exc, "one_by_one"), no_retry=_flag(exc, "no_retry"))
    except BaseException as exc:  # noqa: BLE001 - SystemExit & co. from backend code: per-record errors
        if is_real_shutdown(exc):
            raise
        return None, _contained(exc)
    if type(outputs) is not list or len(outputs) != len(records):
        count = len(outputs) if isinstance(outputs, list) else f"a {type(outputs).__name__} instead of a list of"
        message = (
            f"backend returned {count} outputs for a batch of {len(records)} records; "
            "return exactly one output record per input, in input order"
        )
        return None, _Failure("output-contract", "OutputContractError", message)
    return outputs, None


def _flag(exc: BaseException | None, name: str) -> bool:
    """Whether ``exc``'s class sets ``isolate_<name> = True`` (``one_by_one``: each failed attempt is
    expensive; ``no_retry``: retrying cannot help)."""
    return getattr(type(exc), f"isolate_{name}", False) is True


def _valid_index(index: object, size: int) -> int | None:
    """``index`` if it names a record of a call of ``size`` records, else None (bisect instead)."""
    return index if type(index) is int and 0 <= index < size else None


def _contained(exc: BaseException) -> _Failure:
    """A ``SystemExit``/``KeyboardInterrupt``/``GeneratorExit`` raised by backend code, as a failure."""
    step = getattr(exc, "packflow_step", "execute")
    name = type(exc).__name__
    message = (
        f"{step}() raised {name}({exc}); backend code must not exit or interrupt the process — raise an "
        "exception instead (packflow contains it as this record's error)"
    )
    return _Failure(step, name, message)


def _check_records(outputs: list, records: list, known_dicts: bool = False) -> tuple[list[Result], int]:
    """``(outputs, 0)`` when every item is a dict (the common case, checked in C), else a copy where
    each non-dict output is replaced by an ``output-contract`` dead letter, and how many were.

    ``known_dicts``: the inputs are all dicts, so outputs that *are* the input list need no check.
    """
    if (known_dicts and outputs is records) or list(map(type, outputs)).count(dict) == len(outputs):
        return outputs, 0
    results: list[Result] = list(outputs)
    bad = 0
    for i, out in enumerate(outputs):
        if not isinstance(out, dict):
            bad += 1
            results[i] = dead_letter(
                records[i], "output-contract", "OutputContractError",
                message=f"backend returned a {type(out).__name__} for this record; each output must be a dict",
            )
    return results, bad


def _split(n: int, hint: int | None, one_by_one: bool = False) -> list[tuple[int, int]]:
    """Parts of ``range(n)`` to retry: each record alone when failures are expensive, around the
    named record if known, else two halves."""
    if one_by_one:
        return [(i, i + 1) for i in range(n)]
    if hint is not None and 0 <= hint < n:
        parts = [(0, hint), (hint, hint + 1), (hint + 1, n)]
        return [(lo, hi) for lo, hi in parts if hi > lo]
    middle = n // 2
    return [(0, middle), (middle, n)]


def call_isolated(
    backend: Backend, records: list, known_dicts: bool = False, fresh: Fresh | None = None,
    on_segment: SegmentHook | None = None,
) -> tuple[list[Result], int, int]:
    """Results for ``records`` (outputs or dead letters, in input order), backend calls made, dead letters."""
    outputs, failure = _attempt(backend, records)
    if failure is None:
        return _clean(outputs, records, known_dicts)  # type: ignore[arg-type]
    results: list[Result] = [None] * len(records)
    calls, dead = 1, 0
    todo = [(0, len(records), failure)]  # segments known to fail, with their failure
    while todo:
        lo, hi, why = todo.pop()
        if why.no_retry and hi - lo > 1:
            dead_part = records[lo:hi] if fresh is None else fresh(lo, hi)
            results[lo:hi] = [why.dead_letter(record) for record in dead_part]
            dead += hi - lo
            if on_segment is not None:
                on_segment(lo, hi, results[lo:hi])
            continue
        if hi - lo == 1:
            results[lo] = why.dead_letter(records[lo] if fresh is None else fresh(lo, hi)[0])
            dead += 1
            if on_segment is not None:
                on_segment(lo, hi, results[lo:hi])
            continue
        for a, b in _split(hi - lo, why.index, why.one_by_one):
            part = records[lo + a : lo + b] if fresh is None else fresh(lo + a, lo + b)
            outputs, failure = _attempt(backend, part)
            calls += 1
            if failure is None:
                results[lo + a : lo + b], bad = _check_records(outputs, part, known_dicts)  # type: ignore[arg-type]
                dead += bad
                if on_segment is not None:
                    on_segment(lo + a, lo + b, results[lo + a : lo + b])
            else:
                todo.append((lo + a, lo + b, failure))
    return results, calls, dead


def _clean(outputs: list, records: list, known_dicts: bool) -> tuple[list[Result], int, int]:
    results, bad = _check_records(outputs, records, known_dicts)
    return results, 1, bad


def call_or_fail(
    backend: Backend, records: list, known_dicts: bool = False, fresh: Fresh | None = None,
    on_segment: SegmentHook | None = None,
) -> tuple[list[Result], int, int]:
    """Like :func:`call_isolated` but raise ``BatchFailedError`` instead of splitting the batch (``on_segment`` unused)."""
    outputs, failure = _attempt(backend, records)
    if failure is not None:
        raise BatchFailedError(
            f"A batch of {len(records)} records failed in {failure.step}: {failure.message}",
            dead_letter(None, failure.step, failure.error_type, message=failure.message),
            len(records),
        )
    return _clean(outputs, records, known_dicts)  # type: ignore[arg-type]
