"""Contract checks behind ``InferenceBackend.check_io()``: every violation, reported at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from packflow.exceptions import InferenceBackendRuntimeError, InferenceBackendValidationError

if TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.base import InferenceBackend

__all__ = ["InferenceBackendValidator", "check_outputs"]


class InferenceBackendValidator:
    """Runs sample inputs through a backend and collects contract violations."""

    def __init__(self, backend: InferenceBackend) -> None:
        self.backend = backend

    def run(self, inputs: dict | list[dict]) -> dict | list[dict]:
        """Outputs for ``inputs`` if every check passes, else ``InferenceBackendValidationError``."""
        single = isinstance(inputs, dict)
        records: list[Any] = [inputs] if single else inputs  # type: ignore[assignment]
        problems = _input_problems(records)
        if problems:
            raise _failure(problems)
        try:
            outputs = self.backend._pipeline(records)  # unchecked items: every violation is listed below
        except InferenceBackendRuntimeError as exc:
            if exc.step != "output-contract":
                raise  # a step crashed: a bug in the backend, not a contract violation
            raise _failure([str(exc)]) from exc
        problems = check_outputs(records, outputs, self.backend.config.output_keys)
        if problems:
            raise _failure(problems)
        return outputs[0] if single else outputs


def _failure(problems: list[str]) -> InferenceBackendValidationError:
    listing = "\n".join(f"  - {p}" for p in problems)
    return InferenceBackendValidationError(f"check_io found {len(problems)} contract violation(s):\n{listing}", problems)


def _input_problems(inputs: Any) -> list[str]:
    if not isinstance(inputs, list):
        return [f"inputs must be a record (dict) or a list of records, got {type(inputs).__name__}"]
    if not inputs:
        return ["inputs is an empty list; give at least one sample record"]
    return [
        f"input {i} is a {type(v).__name__}, not a dict (records are JSON objects)"
        for i, v in enumerate(inputs)
        if not isinstance(v, dict)
    ]


def check_outputs(inputs: list, outputs: Any, output_keys: list[str]) -> list[str]:
    """Every contract violation of ``outputs`` as produced for ``inputs`` (empty when all is well)."""
    if not isinstance(outputs, list):
        return [f"output must be a list of records, got {type(outputs).__name__}"]
    from packflow.runtime.codec import EncodeError, encode  # the drivers' encoding rules (NaN -> null)

    problems = []
    if len(outputs) != len(inputs):
        problems.append(f"got {len(outputs)} outputs for {len(inputs)} inputs; return exactly one record per input")
    for i, record in enumerate(outputs):
        if not isinstance(record, dict):
            problems.append(f"output {i} is a {type(record).__name__}, not a dict")
            continue
        try:
            encode(record)
        except EncodeError as exc:
            problems.append(f"output {i} is not JSON-serialisable ({exc})")
        missing = [k for k in output_keys if k not in record]
        if missing:
            problems.append(f"output {i} lacks declared output_keys {missing}")
    return problems


def __getattr__(name: str) -> Any:
    # packflow 0.4.1's module-level check helpers (_input_is_correct_format, ...): thin shims.
    from packflow.backend import _legacy_validation

    if name in _legacy_validation.__all__:
        return getattr(_legacy_validation, name)
    raise AttributeError(f"module 'packflow.backend.validation' has no attribute {name!r}")
