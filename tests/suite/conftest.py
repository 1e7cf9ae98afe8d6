"""Tests that talk to a store run on both engines: a SQLite file and a fresh PostgreSQL database."""

from __future__ import annotations

import pytest
from services import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'suite.db'}"
        return
    with fresh_database() as url:
        yield url
