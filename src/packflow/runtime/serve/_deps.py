"""The ``serve`` extra: one check that names the fix when a dependency is missing."""

from __future__ import annotations

import importlib.util

from packflow.exceptions import PackflowError

#: Import name -> distribution name of every module ``packflow serve`` needs.
SERVE_MODULES = {
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "orjson": "orjson",
    "prometheus_client": "prometheus-client",
}


class ServeExtraMissingError(PackflowError, ImportError):
    """A module of the ``packflow[serve]`` extra is not installed."""


def require_serve_extra() -> None:
    """Raise ``ServeExtraMissingError`` naming ``pip install 'packflow[serve]'`` if a module is missing."""
    missing = [dist for module, dist in SERVE_MODULES.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise ServeExtraMissingError(
            f"packflow serve needs {', '.join(missing)}, which is not installed; "
            "run: pip install 'packflow[serve]'"
        )
