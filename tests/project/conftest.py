"""Fixtures for project tests: a fresh template project in a temporary directory, a private cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from packflow.project import PackflowProject


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Archives extracted by a test land in its own cache directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("PACKFLOW_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def project(tmp_path: Path) -> PackflowProject:
    """A project created from the template, with its docs filled in so it validates without warnings."""
    created = PackflowProject.create(
        "demo-proj", parent_dir=tmp_path, config_data={"description": "Counts words.", "maintainers": ["a@example.com"]}
    )
    root = created.base_dir
    (root / "README.md").write_text("# demo-proj\n\nCounts the words of `text`.\n")
    (root / "MODEL_CARD.md").write_text("# Model card\n\nA word counter.\n")
    (root / "LICENSE.txt").write_text("MIT License\n")
    return created
