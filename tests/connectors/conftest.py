"""The SQL harness of the conformance suite, once per database (servers: tests.services)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# Plain asserts in the shipped suite report their values only when pytest rewrites them.
pytest.register_assert_rewrite("accord.testing.suite")

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.dialects import mysql  # noqa: E402

from accord.connectors.sql.connector import SqlConnector  # noqa: E402
from accord.model import FieldInfo, TableSettings  # noqa: E402
from accord.testing.suite import KEY, MODIFIED, SuiteHarness  # noqa: E402
from tests.services import mariadb_url, postgresql_url  # noqa: E402

DATABASES = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]
"""Parameters for tests that run once per SQL database (with the fixture ``sql_url``)."""


@pytest.fixture(scope="session", params=DATABASES)
def sql_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of each SQL database in turn: a temporary SQLite file, PostgreSQL, MariaDB."""
    if request.param == "postgresql":
        return postgresql_url()
    if request.param == "mariadb":
        return mariadb_url()
    path: Path = tmp_path_factory.mktemp("sqlite") / "accord.db"
    path.touch()  # a system's SQLite file must exist (the connector creates none)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def sql_connector(sql_url: str) -> Iterator[SqlConnector]:
    """One connector per database for the whole session; tests use fresh tables."""
    connector = SqlConnector("suite", url=sql_url, tables={}, options={})
    if connector.engine.dialect.name == "sqlite":
        # A throwaway file: skip the fsyncs that make each CREATE and DROP slow.
        sa.event.listen(connector.engine, "connect", _unsynchronized)
    yield connector
    connector.close()


def _unsynchronized(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous = OFF")
    cursor.close()


def column_type(info: FieldInfo) -> sa.types.TypeEngine[Any]:
    """The SQL type the conformance suite expects for a field kind."""
    if info.kind == "text":
        return sa.String(info.length) if info.length is not None else sa.Text()
    if info.kind == "integer":
        return sa.Integer()
    if info.kind == "decimal":
        return sa.Numeric(18, 4)
    if info.kind == "boolean":
        return sa.Boolean()
    if info.kind == "datetime":
        # MariaDB's DATETIME keeps whole seconds only; DATETIME(6) keeps microseconds.
        return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
    raise ValueError(f"no column type for field kind {info.kind!r}")


class SqlHarness(SuiteHarness):
    """Creates the suite's tables in the connector's database and drops them afterwards."""

    def __init__(self, connector: SqlConnector) -> None:
        self._connector = connector
        self.tables: list[sa.Table] = []

    @property
    def connector(self) -> SqlConnector:
        return self._connector

    def make_table(
        self,
        name: str,
        fields: Sequence[FieldInfo],
        *,
        key: str | None,
        modified: str | None,
        rows: Sequence[Mapping[str, Any]] = (),
    ) -> sa.Table:
        columns = [
            sa.Column(f.name, column_type(f), primary_key=f.name == key, nullable=f.nullable)
            for f in fields
        ]
        table = sa.Table(name, sa.MetaData(), *columns, mysql_charset="utf8mb4")
        engine = self._connector.engine
        table.create(engine)
        self.tables.append(table)
        if rows:
            with engine.begin() as connection:
                connection.execute(table.insert(), [dict(row) for row in rows])
        return table

    def edit(self, table: str, key: str, values: Mapping[str, Any]) -> None:
        """Another writer's UPDATE, stamped with its own (later) clock."""
        found = next(t for t in self.tables if t.name == table)
        stamp = datetime.now(UTC).replace(tzinfo=None)
        with self._connector.engine.begin() as connection:
            updated = connection.execute(
                found.update().where(found.c[KEY] == key).values({**values, MODIFIED: stamp})
            )
        assert updated.rowcount == 1, f"no record {key!r} in {table}"

    def drop_tables(self) -> None:
        engine = self._connector.engine
        for table in reversed(self.tables):
            table.drop(engine, checkfirst=True)
        self.tables.clear()


@pytest.fixture
def sql_harness(sql_connector: SqlConnector) -> Iterator[SqlHarness]:
    harness = SqlHarness(sql_connector)
    yield harness
    harness.drop_tables()


def connector_with(url: str, tables: Mapping[str, TableSettings]) -> SqlConnector:
    """A fresh connector with per-table settings (the caller closes it)."""
    return SqlConnector("configured", url=url, tables=tables, options={})
