"""Conformance checks for your own backends' tests (like scikit-learn's ``check_estimator``).

    from packflow.testing import check_backend
    check_backend(MyBackend(), [{"x": 1}, {"x": 2}])

or, to get one pytest test per check::

    @parametrize_backend_checks(lambda: MyBackend(), SAMPLES)
    def test_my_backend(check):
        check()
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

from packflow.backend.base import InferenceBackend
from packflow.exceptions import InferenceBackendRuntimeError, PackflowError

__all__ = [
    "BackendCheckError",
    "CHECKS",
    "check_backend",
    "check_batch_matches_single_calls",
    "check_contract",
    "check_inputs_not_mutated",
    "check_metrics",
    "check_ready",
    "check_rejects_non_records",
    "check_single_record_call",
    "parametrize_backend_checks",
]


class BackendCheckError(PackflowError, AssertionError):
    """A conformance check failed; the message says which check and why."""


def _fail(check: str, why: str) -> BackendCheckError:
    return BackendCheckError(f"{check}: {why}")


def check_contract(backend: InferenceBackend, samples: list[dict]) -> None:
    """``check_io`` passes: records in, one JSON-serialisable record out per input."""
    try:
        backend.check_io(copy.deepcopy(samples))
    except PackflowError as exc:
        raise _fail("check_contract", str(exc)) from exc


def check_single_record_call(backend: InferenceBackend, samples: list[dict]) -> None:
    """Calling with one dict returns one dict, equal to the batch-of-one result."""
    record = samples[0]
    single = backend(copy.deepcopy(record))
    if not isinstance(single, dict):
        raise _fail("check_single_record_call", f"backend(dict) returned {type(single).__name__}, expected dict")
    batch = backend([copy.deepcopy(record)])
    if _canonical(single) != _canonical(batch[0]):
        raise _fail("check_single_record_call", f"backend(record) = {single!r} but backend([record])[0] = {batch[0]!r}")


def check_batch_matches_single_calls(backend: InferenceBackend, samples: list[dict]) -> None:
    """A batch gives the same outputs, in order, as calling record by record.

    Drivers batch records as they see fit and bisect failing batches, so an output must not
    depend on which other records share its batch.
    """
    batch = backend(copy.deepcopy(samples))
    singles = [backend([copy.deepcopy(s)])[0] for s in samples]
    for index, (a, b) in enumerate(zip(batch, singles)):
        if _canonical(a) != _canonical(b):
            raise _fail(
                "check_batch_matches_single_calls",
                f"record {index}: in a batch -> {a!r}, alone -> {b!r}; outputs must not depend on batch neighbours",
            )


def check_inputs_not_mutated(backend: InferenceBackend, samples: list[dict]) -> None:
    """The backend leaves its input records unchanged (drivers dead-letter the originals)."""
    records = copy.deepcopy(samples)
    before = _canonical(records)
    backend(records)
    if _canonical(records) != before:
        raise _fail("check_inputs_not_mutated", "the backend modified its input records; copy them before editing")


def check_metrics(backend: InferenceBackend, samples: list[dict]) -> None:
    """After a call, ``get_metrics()`` reports that call's batch size and non-negative step times."""
    backend(copy.deepcopy(samples))
    metrics = backend.get_metrics()
    if metrics.batch_size != len(samples):
        raise _fail("check_metrics", f"batch_size is {metrics.batch_size}, expected {len(samples)}")
    times = metrics.execution_times.model_dump(exclude_none=True)
    negative = {k: v for k, v in times.items() if v < 0}
    if negative:
        raise _fail("check_metrics", f"negative step times {negative}")


def check_ready(backend: InferenceBackend, samples: list[dict]) -> None:
    """``ready()`` is truthy once the backend is constructed."""
    if not backend.ready():
        raise _fail("check_ready", "ready() returned a falsy value after initialize(); drivers would never route to it")


def check_rejects_non_records(backend: InferenceBackend, samples: list[dict]) -> None:
    """Input that is not a record or a list of records raises ``InferenceBackendRuntimeError``."""
    try:
        backend("not a record")  # type: ignore[arg-type]
    except InferenceBackendRuntimeError:
        return
    except Exception as exc:  # noqa: BLE001 - reported as a check failure
        raise _fail("check_rejects_non_records", f"raised {type(exc).__name__} instead of InferenceBackendRuntimeError") from exc
    raise _fail("check_rejects_non_records", "accepted a str as input")


CHECKS: list[Callable[[InferenceBackend, list[dict]], None]] = [
    check_contract,
    check_single_record_call,
    check_batch_matches_single_calls,
    check_inputs_not_mutated,
    check_metrics,
    check_ready,
    check_rejects_non_records,
]


def check_backend(backend: InferenceBackend, samples: list[dict]) -> None:
    """Run every check; raise one ``BackendCheckError`` listing all that failed."""
    if not samples:
        raise ValueError("check_backend needs at least one sample record")
    failures = []
    for check in CHECKS:
        try:
            check(backend, samples)
        except BackendCheckError as exc:
            failures.append(str(exc))
    if failures:
        raise BackendCheckError(f"{len(failures)} conformance check(s) failed:\n" + "\n".join(f"  - {f}" for f in failures))


def parametrize_backend_checks(factory: Callable[[], InferenceBackend], samples: list[dict]) -> Any:
    """A ``pytest.mark.parametrize`` giving each test a ``check`` callable, one per conformance check."""
    import functools

    import pytest

    def bound(check: Callable[[InferenceBackend, list[dict]], None]) -> Callable[[], None]:
        return functools.partial(lambda c: c(factory(), samples), check)

    return pytest.mark.parametrize("check", [bound(c) for c in CHECKS], ids=[c.__name__ for c in CHECKS])


def _canonical(value: Any) -> str:
    """``value`` as the drivers would write it (the codec's rules: NaN is null), keys sorted."""
    from packflow.runtime.codec import EncodeError, decode, encode

    try:
        value = decode(encode(value))
    except EncodeError:
        pass
    return json.dumps(value, sort_keys=True, default=repr)
