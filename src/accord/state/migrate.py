"""Bring a state store's schema to the current version with alembic."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "accord_alembic_version"
LOCK_KEY = 0x616363_6F7264  # "accord": the advisory lock that serializes migrations


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return _revision(conn)


def _revision(conn: sa.Connection) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: sa.Engine) -> bool:
    """Upgrade to the newest schema; returns whether anything had to be done.

    Two processes may open a new store at once: a lock (PostgreSQL: an advisory lock;
    SQLite: the database's write lock, taken before any DDL) lets one migrate while the other
    waits and then finds nothing to do.
    """
    head = head_revision()
    if current_revision(engine) == head:
        return False
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
            elif conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock, DDL inside it
            if _revision(conn) == head:
                return False
            command.upgrade(alembic_config(conn), "head")
    except sa.exc.DBAPIError:
        if current_revision(engine) == head:
            return False  # another process migrated it meanwhile
        raise
    return True


def upgrade_on(conn: sa.Connection) -> bool:
    """Upgrade inside a transaction the caller owns (a dry run rolls it back).

    On PostgreSQL the migration lock is taken first, as :func:`upgrade` does: a dry run and
    a real run opening a new store at once would otherwise both create the tables, and the
    second would fail on PostgreSQL's catalog (``pg_type_typname_nsp_index``). A dry run
    that has to create the schema holds the lock until it ends (it rolls back); a real run
    opening the store meanwhile waits for it.
    """
    head = head_revision()
    if _revision(conn) == head:
        return False
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        if _revision(conn) == head:
            return False  # created by another run meanwhile
    command.upgrade(alembic_config(conn), "head")
    return True
