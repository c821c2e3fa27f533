"""Session-wide test settings shared by every area."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "packflow",
    deadline=None,
    max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("packflow")


@pytest.fixture(autouse=True)
def _no_config_override_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BACKEND_CONFIG_FILE_PATH set in the developer's shell must not leak into tests."""
    monkeypatch.delenv("BACKEND_CONFIG_FILE_PATH", raising=False)
