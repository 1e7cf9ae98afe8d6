"""The real servers some tests need (PostgreSQL, SLURM, test hosts in network
namespaces), as started by ``.ci/services.sh``. Without them a test is skipped with a
message that says how to start them; in CI (``CI`` set) it fails instead, so CI never
passes by skipping."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

HOW = ("start them with `sudo bash .ci/services.sh start`, then "
       "`source /tmp/suite-services/env` (what .ci/run does)")


def require(var: str, what: str) -> str:
    """The value of ``var``, or skip (fail in CI) naming ``what`` is missing."""
    value = os.environ.get(var)
    if value:
        return value
    message = f"needs {what} (${var} is not set); {HOW}"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run this test: {message}")
    pytest.skip(message)


def postgres_admin_url() -> str:
    return require("SUITE_TEST_POSTGRES", "a PostgreSQL server")


@contextmanager
def fresh_database(host: str | None = None) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; its URL (with ``host`` instead of
    127.0.0.1 when given, for workers on a test host), dropped afterwards."""
    import psycopg
    from sqlalchemy import make_url

    admin = make_url(postgres_admin_url())
    name = f"test_{uuid.uuid4().hex[:10]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(database=name, host=host or admin.host)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def hosts() -> list[str]:
    return require("SUITE_TEST_HOSTS", "test hosts in network namespaces").split()


def services(*args: str) -> None:
    """``.ci/services.sh ARGS`` (restart PostgreSQL, cut or heal a host's link)."""
    script = require("SUITE_TEST_SERVICES", "the services script")
    subprocess.run(["bash", script, *args], check=True)


def host_address(host: str) -> str:
    """The address at which processes on test host ``host`` reach this machine."""
    return f"10.201.{host.removeprefix('h')}.1"


def on_host(host: str, argv: list[str]) -> list[str]:
    """``argv`` run inside test host ``host``: its own network namespace and host name."""
    return ["ip", "netns", "exec", f"suite-{host}", "env", f"SUITE_HOST=test-{host}", *argv]
