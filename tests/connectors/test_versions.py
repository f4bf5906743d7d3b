"""Modified-on columns that hold text or Unix time: read, paged, selected and stamped right.

Each storage form real tables use (ISO text with a ``T``, ``datetime('now')`` without
fractions, milliseconds, ``Z`` and ``+02:00`` offsets, mixed forms, INTEGER epochs in seconds
and milliseconds, a SQLite TIMESTAMP column holding ``T`` text) is read in small pages: every
record comes once, versions are naive UTC, a read after a point selects exactly the records
modified after it, and a write stamps the column in its own form.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from accord.connectors.sql.connector import SqlConnector
from accord.errors import ConfigError
from accord.model import Change, ChangeKind, TableSettings
from tests.connectors.conftest import connector_with

BASE = datetime(2024, 3, 1, 9, 30, 0)
ROWS = 23
PAGE = 4


def _text(fmt: Callable[[datetime], str]) -> Callable[[datetime], Any]:
    return fmt


def _epoch_s(v: datetime) -> int:
    return int(v.replace(tzinfo=UTC).timestamp())


def _epoch_ms(v: datetime) -> int:
    return int(v.replace(tzinfo=UTC).timestamp() * 1000)


def _offset(v: datetime) -> str:
    return v.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2))).isoformat()


def _mixed(v: datetime) -> str:
    forms = [
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%S"),
        lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        _offset,
    ]
    return forms[v.second % len(forms)](v)


# name: (SQL type, how a version is stored, step between rows, pattern of a written stamp)
FORMS: dict[str, tuple[str, Callable[[datetime], Any], timedelta, str]] = {
    "iso-T": (
        "TEXT",
        lambda v: v.strftime("%Y-%m-%dT%H:%M:%S"),
        timedelta(seconds=1),
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$",
    ),
    "datetime-now": (
        "TEXT",
        lambda v: v.strftime("%Y-%m-%d %H:%M:%S"),
        timedelta(seconds=1),
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$",
    ),
    "milliseconds": (
        "VARCHAR(30)",
        lambda v: v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        timedelta(milliseconds=7),
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$",
    ),
    "zulu": (
        "TEXT",
        lambda v: v.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        timedelta(microseconds=300),
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$",
    ),
    "offset": (
        "TEXT",
        _offset,
        timedelta(seconds=1),
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+02:00$",
    ),
    "mixed": ("TEXT", _mixed, timedelta(seconds=1), r"."),
    "epoch-seconds": ("INTEGER", _epoch_s, timedelta(seconds=1), r"^\d{10}$"),
    "epoch-milliseconds": ("INTEGER", _epoch_ms, timedelta(milliseconds=3), r"^\d{13}$"),
    "timestamp-holding-T": (
        "TIMESTAMP",
        lambda v: v.strftime("%Y-%m-%dT%H:%M:%S"),
        timedelta(seconds=1),
        r".",
    ),
}


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    path = tmp_path / "system.db"
    path.touch()
    return f"sqlite:///{path}"


def make_table(url: str, form: str, versions: list[datetime]) -> str:
    sql_type, store, _, _ = FORMS[form]
    table = f"t_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {table} (code VARCHAR(10) PRIMARY KEY, name VARCHAR(20), "
            f"changed {sql_type})"
        )
        for i, version in enumerate(versions):
            conn.execute(
                sa.text(f"INSERT INTO {table} VALUES (:c, :n, :v)"),
                {"c": f"K{i:03d}", "n": f"n{i}", "v": store(version)},
            )
    engine.dispose()
    return table


def read_all(connector: SqlConnector, table: str, **kwargs: Any) -> list[tuple[str, datetime]]:
    """Every record a read yields, stopping (and failing) if it yields more than it could."""
    out: list[tuple[str, datetime]] = []
    for batch in connector.read(table, batch_size=PAGE, **kwargs):
        for record in batch:
            assert not record.error, record.error
            out.append((record.key, record.version))
        assert len(out) <= ROWS + 5, "the read goes round in circles"
    return out


def raw_versions(url: str, table: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text(f"SELECT code, changed FROM {table}")).all())
    finally:
        engine.dispose()


def settings(table: str) -> dict[str, TableSettings]:
    return {table: TableSettings(modified="changed")}


@pytest.fixture
def versions_of() -> Iterator[Callable[[str], list[datetime]]]:
    def make(form: str) -> list[datetime]:
        step = FORMS[form][2]
        # not in key order: the read must page by version, not by key
        return [BASE + step * ((i * 7) % ROWS) for i in range(ROWS)]

    yield make


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_reads_pages_and_selects_exactly(
    sqlite_file: str, form: str, versions_of: Callable[[str], list[datetime]]
) -> None:
    versions = versions_of(form)
    table = make_table(sqlite_file, form, versions)
    connector = connector_with(sqlite_file, settings(table))
    try:
        expected = {f"K{i:03d}": v for i, v in enumerate(versions)}
        # the first, full read: every record once, versions as naive UTC
        full = read_all(connector, table)
        assert sorted(k for k, _ in full) == sorted(expected)
        assert dict(full) == expected
        assert all(v.tzinfo is None for _, v in full)
        # incremental reads from several points: exactly the later records, each once
        for n in (0, 5, 11, ROWS - 2):
            bound = sorted(versions)[n]
            for after in (bound, bound - timedelta(microseconds=1)):
                read = read_all(connector, table, modified_after=after)
                wanted = sorted(k for k, v in expected.items() if v > after)
                assert sorted(k for k, _ in read) == wanted, (form, after)
                assert len(read) == len(wanted)
                assert connector.count(table, modified_after=after) == len(wanted)
        # a write stamps the column in its own form, and is seen after the newest version
        newest = max(versions)
        results = connector.write(table, [Change(ChangeKind.UPDATE, "K004", {"name": "edited"})])
        assert results[0].ok, results[0].error
        stored = raw_versions(sqlite_file, table)["K004"]
        assert re.match(FORMS[form][3], str(stored)), stored
        again = read_all(connector, table, modified_after=newest)
        assert again == [("K004", results[0].version)]
    finally:
        connector.close()


def test_an_edit_made_after_a_read_is_seen_by_the_next_one(sqlite_file: str) -> None:
    """``datetime('now')`` text: later edits by the application itself are read once."""
    versions = [BASE + timedelta(seconds=i) for i in range(ROWS)]
    table = make_table(sqlite_file, "datetime-now", versions)
    connector = connector_with(sqlite_file, settings(table))
    try:
        newest = max(v for _, v in read_all(connector, table))
        engine = sa.create_engine(sqlite_file)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"UPDATE {table} SET name = 'app', changed = datetime('now') "
                "WHERE code IN ('K001', 'K017')"
            )
        engine.dispose()
        edited = read_all(connector, table, modified_after=newest)
        assert sorted(k for k, _ in edited) == ["K001", "K017"]
        assert read_all(connector, table, modified_after=max(v for _, v in edited)) == []
    finally:
        connector.close()


@pytest.mark.parametrize("sql_type", ["REAL", "BOOLEAN", "DATE", "BLOB"])
def test_a_type_that_cannot_hold_a_version_is_refused(sqlite_file: str, sql_type: str) -> None:
    engine = sa.create_engine(sqlite_file)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE odd (code TEXT PRIMARY KEY, changed {sql_type})")
    engine.dispose()
    connector = connector_with(sqlite_file, settings("odd"))
    try:
        with pytest.raises(ConfigError, match="modified-on column 'changed'") as caught:
            connector.describe("odd")
        assert caught.value.setting == "modified"
        assert "supported:" in caught.value.message
    finally:
        connector.close()


def test_text_modified_columns_on_every_database(sql_url: str) -> None:
    """VARCHAR holding ISO text with offsets and ``Z`` on PostgreSQL and MariaDB too."""
    if sql_url.startswith("sqlite"):
        pytest.skip("covered above in every form")
    versions = [BASE + timedelta(minutes=37 * i) for i in range(ROWS)]
    table = make_table(sql_url, "mixed", versions)
    connector = connector_with(sql_url, settings(table))
    try:
        assert dict(read_all(connector, table)) == {f"K{i:03d}": v for i, v in enumerate(versions)}
        for n in (0, 9, ROWS - 2):
            after = versions[n]
            read = read_all(connector, table, modified_after=after)
            assert sorted(k for k, _ in read) == [
                f"K{i:03d}" for i, v in enumerate(versions) if v > after
            ]
            assert connector.count(table, modified_after=after) == len(read)
        results = connector.write(table, [Change(ChangeKind.UPDATE, "K003", {"name": "x"})])
        assert results[0].ok, results[0].error
        assert read_all(connector, table, modified_after=max(versions)) == [
            ("K003", results[0].version)
        ]
    finally:
        with connector.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {table}")
        connector.close()
