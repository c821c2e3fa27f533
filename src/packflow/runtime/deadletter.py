"""``DeadLetter``: the result for a record that could not be processed."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from packflow.exceptions import InferenceBackendRuntimeError

__all__ = ["DeadLetter", "dead_letter", "error_type", "is_dead_letter"]

#: The steps a dead letter can name: the four pipeline steps, the output contract, and a driver's
#: ``decode`` (input that was not a JSON object), ``encode`` (output that could not be serialised) and
#: ``deliver`` (input a broker delivered too often, or that killed the process). Build dead letters
#: with :func:`packflow.runtime.codec.dead_letter`.
DEAD_LETTER_STEPS = (
    "decode",
    "input",
    "preprocess",
    "transform_inputs",
    "execute",
    "transform_outputs",
    "output-contract",
    "encode",
    "deliver",
)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class DeadLetter:
    """A record that failed: the original record, where and why it failed, and when."""

    record: Any
    step: str
    error_type: str
    message: str
    timestamp: str = field(default_factory=_now)
    #: Driver-specific position of the record: a line number, a stream entry id, a request index.
    source: Any = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the original record is included as is)."""
        out = {
            "record": self.record,
            "step": self.step,
            "error_type": self.error_type,
            "message": self.message,
            "timestamp": self.timestamp,
        }
        if self.source is not None:
            out["source"] = self.source
        return out

    def with_source(self, source: Any) -> DeadLetter:
        """A copy that records where the input came from."""
        return DeadLetter(self.record, self.step, self.error_type, self.message, self.timestamp, source)


def is_dead_letter(result: Any) -> bool:
    """True when a Runner result is a dead letter rather than an output record."""
    return type(result) is DeadLetter


def dead_letter(
    record: Any, step: str, error: BaseException | DeadLetter | str, *, message: str | None = None, source: Any = None
) -> DeadLetter:
    """THE dead-letter builder (also :func:`packflow.runtime.codec.dead_letter`): ``record`` exactly
    as the driver received it, where and why it failed.

    ``error`` is the exception (its type names the error; for an ``InferenceBackendRuntimeError``
    raised by a pipeline step, the type of its cause), an error-type name, or an earlier
    :class:`DeadLetter` whose step-independent facts (type, message, timestamp) are kept — used by
    drivers to put the received record and their ``source`` on the Runner's dead letters.
    """
    if step not in DEAD_LETTER_STEPS:
        raise ValueError(f"dead-letter step must be one of {', '.join(DEAD_LETTER_STEPS)}; got {step!r}")
    if isinstance(error, DeadLetter):
        return DeadLetter(record, step, error.error_type, message or error.message, error.timestamp, source)
    if isinstance(error, BaseException):
        name = error_type(error)
        text = message if message is not None else (str(error) or name)
        return DeadLetter(record, step, name, text, source=source)
    return DeadLetter(record, step, error, message if message is not None else error, source=source)


def error_type(exc: BaseException) -> str:
    """The error type a dead letter names for ``exc``: for a pipeline step's
    ``InferenceBackendRuntimeError``, the type of its cause; one the backend's own contract check
    raised (no cause, step ``output-contract``) is ``OutputContractError``, the name the Runner's
    count check uses."""
    if isinstance(exc, InferenceBackendRuntimeError):
        if exc.__cause__ is not None:
            return type(exc.__cause__).__name__
        if exc.step == "output-contract":
            return "OutputContractError"
    return type(exc).__name__
