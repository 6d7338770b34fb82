"""The PostgreSQL server the instance tests use, and a fresh database per test.

Needs a server: TRADING_RUNTIME_TEST_POSTGRES_URL=postgresql://user:password@host:port/db, a role
that may create databases (scripts/postgres-test-server.sh starts a throw-away one; `.ci/run`
does). Without it the tests using these fixtures skip, except under CI=true, where they fail.
A pytest plugin (``pytest_plugins`` in tests/conftest.py); tests using the server are marked
``slow`` (tests/conftest.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql
from sqlalchemy.engine import make_url

SERVER_ENV = "TRADING_RUNTIME_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def server_url() -> str:
    url = os.environ.get(SERVER_ENV)
    if not url:
        reason = (
            f"{SERVER_ENV} is not set: no PostgreSQL server for the instance tests"
            " (scripts/postgres-test-server.sh starts one)"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI=true: CI must run them")
        pytest.skip(reason)
    return url


@pytest.fixture
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, empty database on the server for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    admin = psycopg2.connect(server_url, connect_timeout=10)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        with admin.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        admin.close()
