"""Whose fault a failed record is: the client's (bad input, a 4xx) or the model's (a 5xx)."""

from __future__ import annotations

from packflow.exceptions import InputError
from packflow.runtime.deadletter import DeadLetter

__all__ = ["CLIENT_STEPS", "client_caused"]

#: Dead-letter steps where the input, not the model, was at fault.
CLIENT_STEPS = frozenset({"decode", "input", "preprocess"})


def client_caused(dead: DeadLetter) -> bool:
    """True for bad input: a client step, or an ``InputError`` (or subclass) raised by any step."""
    return dead.step in CLIENT_STEPS or dead.error_type in _input_error_names()


def _input_error_names() -> set[str]:
    names, todo = set(), [InputError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names
