"""``DeadLetter``: the result for a record that could not be processed."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeadLetter", "is_dead_letter"]

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
