"""The database servers tests use, found by environment variable with a local default.

``postgresql_url()`` and ``mariadb_url()`` return the server's URL if it answers; otherwise the
test is skipped with the reason, or fails when ``CI=true`` (a missing service in CI is a
failure, not a skip).
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
import sqlalchemy as sa

DEFAULT_POSTGRESQL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
CONNECT_TIMEOUT = 5


def postgresql_url() -> str:
    """``ACCORD_TEST_POSTGRESQL_URL`` (or the default) if the server answers."""
    url = os.environ.get("ACCORD_TEST_POSTGRESQL_URL", DEFAULT_POSTGRESQL_URL)
    return _reachable("PostgreSQL", url)


def mariadb_url() -> str:
    """``ACCORD_TEST_MARIADB_URL`` (or the default) if the server answers."""
    url = os.environ.get("ACCORD_TEST_MARIADB_URL", DEFAULT_MARIADB_URL)
    return _reachable("MariaDB", url)


def _reachable(server: str, url: str) -> str:
    reason = _probe(url)
    if reason is not None:
        message = f"{server} not reachable at {_shown(url)}: {reason}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@functools.cache
def _probe(url: str) -> str | None:
    """Why ``url`` cannot be used, or None when it can (asked once per session)."""
    try:
        engine = sa.create_engine(
            url,
            connect_args={"connect_timeout": CONNECT_TIMEOUT},
            poolclass=sa.pool.NullPool,
        )
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as exc:  # any failure to connect means "not reachable"
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None


def _shown(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


@contextmanager
def postgresql_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; yields a URL whose search_path points at it."""
    base = postgresql_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()
