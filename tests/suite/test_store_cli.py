"""The store options of the commands: a store that cannot be used is a one-paragraph
error with exit status 2, never a traceback, and nothing is written anywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest
from services import postgres_admin_url
from sqlalchemy import make_url


def suite(*args: object, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "suite.cli", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("command", ["run", "plan", "report", "export"])
def test_a_wrong_password_is_a_clear_error(command, tiny_spec, tmp_path):
    url = make_url(postgres_admin_url()).set(password="wrong")
    proc = suite(command, tiny_spec, "--results", tmp_path / "r", "--store",
                 url.render_as_string(hide_password=False))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "wrong" not in proc.stderr
    assert "password authentication failed" in proc.stderr and "suite:***@" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_an_unreachable_server_from_the_environment_is_a_clear_error(tiny_spec, tmp_path):
    proc = suite("run", tiny_spec, "--results", tmp_path / "r",
                 env={"SUITE_STORE": "postgresql://suite:pw@127.0.0.1:1/nowhere"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "cannot reach the store postgresql://suite:***@127.0.0.1:1/nowhere" in proc.stderr
    assert "SUITE_STORE" in proc.stderr


def test_a_store_url_of_another_database_names_what_is_allowed(tiny_spec, tmp_path):
    proc = suite("plan", tiny_spec, "--store", "mysql://u@h/db")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'mysql' URL" in proc.stderr and "postgresql://USER" in proc.stderr and "sqlite:///" in proc.stderr
