"""The side-virtualenv builder: reuse when complete, and a clear skip reason when the index is unreachable."""

from __future__ import annotations

from pathlib import Path

import pytest

import _sidevenv


def test_a_complete_side_venv_is_reused(released_python: Path) -> None:
    stamp = released_python.parents[1] / _sidevenv.STAMP.name
    before = stamp.stat().st_mtime_ns
    assert _sidevenv.ensure_side_venv() == released_python
    assert stamp.stat().st_mtime_ns == before  # not rebuilt


def test_unreachable_index_raises_index_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on the discard port
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(_sidevenv.IndexUnreachable):
        _sidevenv.ensure_side_venv(tmp_path / "venv")
    assert not (tmp_path / "venv").exists()
