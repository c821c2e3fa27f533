"""The inference contract: ``InferenceBackend`` and ``BackendConfig`` (loaded on first use)."""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.base import InferenceBackend
    from packflow.backend.configuration import BackendConfig

__all__ = ["BackendConfig", "InferenceBackend"]

_ATTRIBUTES = {"BackendConfig": "packflow.backend.configuration", "InferenceBackend": "packflow.backend.base"}


def __getattr__(name: str) -> _typing.Any:
    if name not in _ATTRIBUTES:
        raise AttributeError(f"module 'packflow.backend' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_ATTRIBUTES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
