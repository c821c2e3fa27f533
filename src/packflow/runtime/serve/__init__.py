"""``packflow serve``: an HTTP inference server for any backend (extra ``packflow[serve]``).

    from packflow.runtime.serve import ServeConfig, create_app
    app = create_app(ServeConfig(target="my_module:MyBackend"))   # an ASGI app

Importing this package checks that the extra is installed; the web stack itself (Starlette,
uvicorn, orjson, prometheus-client) is imported only by the modules that use it.
"""

from __future__ import annotations

from typing import Any

from packflow.runtime.serve._deps import require_serve_extra
from packflow.runtime.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app", "run_server"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        require_serve_extra()
        from packflow.runtime.serve.app import create_app

        return create_app
    if name == "run_server":
        require_serve_extra()
        from packflow.runtime.serve.server import run_server

        return run_server
    raise AttributeError(f"module 'packflow.runtime.serve' has no attribute {name!r}")
