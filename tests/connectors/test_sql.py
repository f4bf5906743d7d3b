"""The conformance suite, and SQL-only behaviour, on SQLite, PostgreSQL and MariaDB.

Every test here runs once per database through the session fixture ``sql_url`` (see
``conftest.py``); PostgreSQL and MariaDB tests skip when their server is not reachable.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from accord.connectors.sql.connector import SqlConnector
from accord.errors import ConfigError, RetriableConnectorError
from accord.model import Change, ChangeKind, FieldInfo, TableSettings
from accord.testing.suite import ITEM_FIELDS, KEY, MODIFIED, ConnectorSuite, item
from tests.connectors.conftest import SqlHarness, connector_with

KNOWN_FAILURES: dict[tuple[str, str], str] = {}
"""Suite tests that fail for a known reason outside the connector, by database."""


class TestSqlConnector(ConnectorSuite):
    """Runs once per database: the ``sql_url`` fixture behind ``sql_connector`` is parametrized."""

    @pytest.fixture
    def harness(
        self, request: pytest.FixtureRequest, sql_connector: SqlConnector
    ) -> Iterator[SqlHarness]:
        database = request.node.callspec.params["sql_url"]
        reason = KNOWN_FAILURES.get((database, request.node.originalname))
        if reason is not None:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
        harness = SqlHarness(sql_connector)
        yield harness
        harness.drop_tables()


def _name(base: str) -> str:
    return f"accord_{base}_{uuid.uuid4().hex[:10]}"


def test_refusals_are_the_same_on_every_database(sql_harness: SqlHarness) -> None:
    """The connector checks lengths, NOT NULL and field names itself (SQLite checks no lengths)."""
    table = _name("refuse")
    sql_harness.make_table(table, ITEM_FIELDS, key=KEY, modified=MODIFIED, rows=[item(1), item(2)])
    changes = [
        Change(ChangeKind.INSERT, "K0003", {"label": "l", "name": "twelve chars"}),
        Change(ChangeKind.UPDATE, "K0001", {"name": "x" * 11}),
        Change(ChangeKind.INSERT, "K000000004", {"label": "fits exactly"}),
        Change(ChangeKind.INSERT, "K0000000005", {"label": "key too long"}),
        Change(ChangeKind.UPDATE, "K0002", {"label": None}),
        Change(ChangeKind.INSERT, "K0006", {"label": None}),
        Change(ChangeKind.UPDATE, "K0001", {"nope": 1, "name": "y"}),
        Change(ChangeKind.DELETE, "K0002", {"anything": "is ignored"}),
    ]
    results = sql_harness.connector.write(table, changes)
    assert [(r.key, r.ok, r.error) for r in results] == [
        ("K0003", False, "value too long for field 'name' (12 characters, at most 10)"),
        ("K0001", False, "value too long for field 'name' (11 characters, at most 10)"),
        ("K000000004", True, ""),
        ("K0000000005", False, "value too long for field 'code' (11 characters, at most 10)"),
        ("K0002", False, "field 'label' may not be empty"),
        ("K0006", False, "field 'label' may not be empty"),
        ("K0001", False, "unknown field 'nope'"),
        ("K0002", True, ""),
    ]
    keys = [r.key for batch in sql_harness.connector.read(table) for r in batch]
    assert keys == ["K000000004", "K0001"]


def test_configured_key_and_modified(sql_harness: SqlHarness, sql_url: str) -> None:
    table = _name("nopk")
    fields = [
        FieldInfo("id", "text", nullable=False, length=20),
        FieldInfo("changed", "datetime"),
        FieldInfo("name", "text", length=20),
    ]
    sql_harness.make_table(
        table,
        fields,
        key=None,
        modified=None,
        rows=[{"id": "b", "changed": datetime(2024, 1, 2), "name": "B"}],
    )
    with pytest.raises(ConfigError, match="no single-column primary key"):
        sql_harness.connector.describe(table)
    connector = connector_with(sql_url, {table: TableSettings(key="id", modified="changed")})
    try:
        schema = connector.describe(table)
        assert (schema.key, schema.modified) == ("id", "changed")
        results = connector.write(table, [Change(ChangeKind.INSERT, "a", {"name": "A"})])
        assert results[0].ok, results[0].error
        records = [r for batch in connector.read(table) for r in batch]
        assert [(r.key, r.values["name"]) for r in records] == [("a", "A"), ("b", "B")]
        assert records[0].version == results[0].version
        assert records[1].version == datetime(2024, 1, 2)
    finally:
        connector.close()


def test_modified_left_to_the_database(sql_harness: SqlHarness, sql_url: str) -> None:
    """With ``stamp_modified = false`` the version is read back, not made up."""
    table = _name("nostamp")
    sql_harness.make_table(table, ITEM_FIELDS, key=KEY, modified=MODIFIED, rows=[item(1)])
    connector = connector_with(sql_url, {table: TableSettings(stamp_modified=False)})
    try:
        changes = [
            Change(ChangeKind.UPDATE, "K0001", {"name": "changed"}),
            Change(ChangeKind.INSERT, "K0002", {"label": "new"}),
            Change(ChangeKind.UPDATE, "K0404", {"name": "missing"}),
        ]
        results = connector.write(table, changes)
        assert [r.ok for r in results] == [True, True, False]
        assert results[0].version == item(1)[MODIFIED]  # no trigger here: unchanged
        assert results[1].version is None
        record = next(iter(connector.read(table, keys=["K0001"])))[0]
        assert record.values["name"] == "changed"
        assert record.values[MODIFIED] == item(1)[MODIFIED]
    finally:
        connector.close()


def test_version_fits_a_coarse_modified_column(sql_harness: SqlHarness) -> None:
    """A modified column that keeps whole seconds stores the version the connector reports."""
    table = _name("coarse")
    metadata = sa.MetaData()
    coarse = (
        sa.DateTime()
        .with_variant(mysql.DATETIME(fsp=0), "mysql", "mariadb")
        .with_variant(postgresql.TIMESTAMP(precision=0), "postgresql")
    )
    t = sa.Table(
        table,
        metadata,
        sa.Column("code", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(10)),
        sa.Column("modified_at", coarse),
    )
    engine = sql_harness.connector.engine
    t.create(engine)
    sql_harness.tables.append(t)
    connector = sql_harness.connector
    results = connector.write(table, [Change(ChangeKind.INSERT, "a", {"name": "A"})])
    assert results[0].ok, results[0].error
    record = next(iter(connector.read(table)))[0]
    assert record.version == results[0].version


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://user:secret@127.0.0.1:1/test",
        "mysql+pymysql://user:secret@127.0.0.1:1/test",
    ],
    ids=["postgresql", "mariadb"],
)
def test_unreachable_database_is_retriable(url: str) -> None:
    connector = SqlConnector("erp", url=url, tables={}, options={})
    try:
        with pytest.raises(RetriableConnectorError, match="system 'erp'") as caught:
            connector.describe("customer")
        assert "secret" not in str(caught.value)
    finally:
        connector.close()


def test_integer_keys(sql_harness: SqlHarness) -> None:
    """Keys are text to the engine; an integer key column orders by number."""
    table = _name("intkey")
    fields = [FieldInfo("id", "integer", nullable=False), FieldInfo("name", "text", length=10)]
    rows = [{"id": n, "name": f"n{n}"} for n in (1, 2, 10, 11)]
    sql_harness.make_table(table, fields, key="id", modified=None, rows=rows)
    connector = sql_harness.connector
    assert [r.key for b in connector.read(table, batch_size=3) for r in b] == ["1", "2", "10", "11"]
    found = [r.key for b in connector.read(table, keys=["11", "abc", "2", "99"]) for r in b]
    assert found == ["2", "11"]
    changes = [
        Change(ChangeKind.UPDATE, "2", {"name": "two"}),
        Change(ChangeKind.INSERT, "not-a-number", {"name": "bad"}),
        Change(ChangeKind.INSERT, "12", {"name": "twelve"}),
        Change(ChangeKind.UPDATE, "x1", {"name": "bad"}),
        Change(ChangeKind.DELETE, "y2"),
    ]
    results = connector.write(table, changes)
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert "not-a-number" in results[1].error
    names = {r.key: r.values["name"] for b in connector.read(table) for r in b}
    assert names == {"1": "n1", "2": "two", "10": "n10", "11": "n11", "12": "twelve"}
