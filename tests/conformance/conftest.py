"""Session-wide parts of the conformance matrix: one redis-server, one started adapter per column."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from tests.conformance.drivers import Driver


@pytest.fixture(scope="session")
def conformance_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    if shutil.which("redis-server") is None:
        yield None
        return
    from tests.stream.conftest import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("conformance-redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def started(tmp_path_factory: pytest.TempPathFactory, conformance_redis: str | None) -> Iterator[dict[str, Driver]]:
    """Adapters started on first use and stopped at the end of the session."""
    drivers: dict[str, Driver] = {}
    workdir = Path(tmp_path_factory.mktemp("conformance"))

    class Started(dict):
        def get_started(self, cls: type[Driver]) -> Driver:
            if cls.name not in drivers:
                driver = cls()
                driver.start(workdir, conformance_redis)
                drivers[cls.name] = driver
            return drivers[cls.name]

    try:
        yield Started()  # type: ignore[misc]
    finally:
        for driver in drivers.values():
            driver.stop()
