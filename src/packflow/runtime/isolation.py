"""Per-record error isolation: bisect a failing batch until the bad records stand alone.

A batch call that raises (or returns the wrong number of records) is split in halves and each half
is retried, recursively. Records that still fail alone become dead letters; every other record gets
its output. For ``k`` bad records in a batch of ``n`` this costs at most about ``2·k·log2(n)``
extra backend calls; a clean batch costs exactly one call.
"""

from __future__ import annotations

from typing import Any, Callable

from packflow.exceptions import InferenceBackendRuntimeError, PackflowError
from packflow.runtime.deadletter import DeadLetter

__all__ = ["BatchFailedError", "call_isolated", "call_or_fail"]

Result = Any  # an output record (dict) or a DeadLetter


class BatchFailedError(PackflowError):
    """``on_error="fail"``: a batch failed; ``dead_letter`` describes why and ``size`` how many records."""

    def __init__(self, message: str, dead_letter: DeadLetter, size: int) -> None:
        super().__init__(message)
        self.dead_letter = dead_letter
        self.size = size


def _attempt(backend: Callable[[list], Any], records: list) -> tuple[list | None, DeadLetter | None]:
    """(outputs, None) when the call honoured the contract, else (None, failure as a dead letter)."""
    try:
        outputs = backend(records)
    except InferenceBackendRuntimeError as exc:
        return None, _failure(records, exc.step, exc)
    except Exception as exc:  # noqa: BLE001 - any backend failure is isolated, never fatal
        return None, _failure(records, "execute", exc)
    if type(outputs) is not list or len(outputs) != len(records):
        count = len(outputs) if isinstance(outputs, list) else type(outputs).__name__
        message = f"backend returned {count} outputs for a batch of {len(records)} records; return one record per input"
        return None, DeadLetter(None, "output-contract", "OutputContractError", message)
    return outputs, None


def _failure(records: list, step: str, exc: BaseException) -> DeadLetter:
    cause = exc.__cause__ if isinstance(exc, InferenceBackendRuntimeError) and exc.__cause__ else exc
    return DeadLetter(None, step, type(cause).__name__, str(exc))


def _check_records(outputs: list, records: list) -> list[Result]:
    results: list[Result] = outputs
    for i, out in enumerate(outputs):
        if type(out) is not dict and not isinstance(out, dict):
            if results is outputs:
                results = list(outputs)
            results[i] = DeadLetter(
                records[i], "output-contract", "OutputContractError",
                f"backend returned a {type(out).__name__} for this record; each output must be a dict",
            )
    return results


def call_isolated(backend: Callable[[list], Any], records: list) -> tuple[list[Result], int]:
    """Results for ``records`` (outputs or dead letters, in input order) and the number of backend calls."""
    outputs, failure = _attempt(backend, records)
    if failure is None:
        return _check_records(outputs, records), 1  # type: ignore[arg-type]
    if len(records) == 1:
        return [DeadLetter(records[0], failure.step, failure.error_type, failure.message, failure.timestamp)], 1
    middle = len(records) // 2
    left, left_calls = call_isolated(backend, records[:middle])
    right, right_calls = call_isolated(backend, records[middle:])
    return left + right, 1 + left_calls + right_calls


def call_or_fail(backend: Callable[[list], Any], records: list) -> tuple[list[Result], int]:
    """Like :func:`call_isolated` but raise ``BatchFailedError`` instead of bisecting."""
    outputs, failure = _attempt(backend, records)
    if failure is not None:
        raise BatchFailedError(
            f"A batch of {len(records)} records failed in {failure.step}: {failure.message}", failure, len(records)
        )
    return _check_records(outputs, records), 1  # type: ignore[arg-type]
