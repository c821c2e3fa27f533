"""packflow: write inference code for streaming key-value records once, run it anywhere.

The public names are loaded on first use (PEP 562), so ``import packflow`` — and the CLI, which
imports it — costs almost nothing until a backend is actually defined.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from packflow._version import __version__

if _typing.TYPE_CHECKING:  # pragma: no cover
    from packflow.backend.base import InferenceBackend
    from packflow.backend.configuration import BackendConfig
    from packflow.project import PackflowProject

__all__ = ["BackendConfig", "InferenceBackend", "PackflowProject", "__version__"]

_ATTRIBUTES = {
    "BackendConfig": "packflow.backend.configuration",
    "InferenceBackend": "packflow.backend.base",
    "PackflowProject": "packflow.project",
}
_SUBMODULES = frozenset(
    {"backend", "cli", "constants", "exceptions", "loaders", "logger", "project", "runtime", "testing", "utils"}
)


def __getattr__(name: str) -> _typing.Any:
    if name in _ATTRIBUTES:
        value = getattr(_importlib.import_module(_ATTRIBUTES[name]), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"packflow.{name}")
    else:
        raise AttributeError(f"module 'packflow' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
