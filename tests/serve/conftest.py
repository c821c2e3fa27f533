"""Fixtures for the serve tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from serve_helpers import ServerProcess  # noqa: E402


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.serve)


@pytest.fixture
def start_server() -> Iterator[Any]:
    """Start ``packflow serve`` processes; every one is stopped when the test ends."""
    servers: list[ServerProcess] = []

    def start(target: str, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(target, *args, env=env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
