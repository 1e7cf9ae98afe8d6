"""Fixtures of the data tests: a cache folder and isolated default locations."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from the user's data and cache folders."""
    monkeypatch.setenv("SUITE_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.setenv("SUITE_DATA", str(tmp_path / "default-data"))
