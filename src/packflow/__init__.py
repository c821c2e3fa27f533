"""packflow: write inference code for streaming key-value records once, run it anywhere."""

from __future__ import annotations

from typing import Any

from packflow._version import __version__
from packflow.backend import BackendConfig, InferenceBackend

__all__ = ["BackendConfig", "InferenceBackend", "PackflowProject", "__version__"]


def __getattr__(name: str) -> Any:
    # PackflowProject pulls in packaging code; load it only when asked for.
    if name == "PackflowProject":
        from packflow.project import PackflowProject

        return PackflowProject
    raise AttributeError(f"module 'packflow' has no attribute {name!r}")
