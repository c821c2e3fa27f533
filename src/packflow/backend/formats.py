"""``InputFormats``: the names of the built-in preprocessors (no pydantic needed to use them)."""

from __future__ import annotations

import enum

__all__ = ["InputFormats"]


class InputFormats(enum.Enum):
    """The built-in preprocessors, selected by ``BackendConfig.input_format``."""

    PASSTHROUGH = "passthrough"
    RECORDS = "records"
    NUMPY = "numpy"
