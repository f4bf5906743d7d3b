"""What conditional updates cost: the same updates written unconditionally and conditionally.

Issue 9 class 1 made every update the engine sends conditional on the record as read
(``Change.expected``). This script times ``SqlConnector.write`` of the same batches of updates
both ways, on SQLite and (if it answers) PostgreSQL, in one process run, and prints the ratio.
A third run makes 1% of the rows stale (edited after the "read") to time the fallback that
reads a short batch back.

    python bench/conditional.py [--records 100000] [--batch 1000] [--no-postgresql]
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from common import Stopwatch, fresh_dir, machine_line, problem, table

from accord.connectors.sql.connector import SqlConnector
from accord.model import Change, ChangeKind, Expected, TableSettings

BASE = datetime(2024, 1, 1)
POSTGRESQL = os.environ.get(
    "ACCORD_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def build(url: str, records: int) -> sa.Table:
    meta = sa.MetaData()
    account = sa.Table(
        "account",
        meta,
        sa.Column("accountid", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100)),
        sa.Column("city", sa.String(100)),
        sa.Column("modifiedon", sa.DateTime),
    )
    engine = sa.create_engine(url)
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            account.insert(),
            [
                {
                    "accountid": f"A{i:07d}",
                    "name": f"name {i}",
                    "city": "Berlin",
                    "modifiedon": BASE + timedelta(seconds=i),
                }
                for i in range(records)
            ],
        )
    engine.dispose()
    return account


def changes(records: int, round_: int, conditional: bool) -> list[Change]:
    """Updates of every row's name; conditional ones expect the row as it is now."""
    out = []
    for i in range(records):
        expected = None
        if conditional:
            expected = Expected(_version(i, round_), {"name": _name(i, round_)})
        out.append(
            Change(ChangeKind.UPDATE, f"A{i:07d}", {"name": _name(i, round_ + 1)}, True, expected)
        )
    return out


_versions: dict[int, datetime] = {}


def _version(i: int, round_: int) -> datetime:
    return _versions.get(i, BASE + timedelta(seconds=i))


def _name(i: int, round_: int) -> str:
    return f"name {i}" if round_ == 0 else f"name {i} r{round_}"


def timed_write(connector: SqlConnector, batch: list[Change], size: int) -> tuple[float, int, int]:
    ok = stale = 0
    with Stopwatch() as watch:
        for start in range(0, len(batch), size):
            for result in connector.write("account", batch[start : start + size]):
                ok += result.ok
                stale += result.stale
                if result.ok and result.version is not None:
                    _versions[int(result.key[1:])] = result.version
    return watch.seconds, ok, stale


def run_database(label: str, url: str, records: int, size: int) -> list[list[Any]]:
    build(url, records)
    _versions.clear()
    settings = {"account": TableSettings(key="accountid", modified="modifiedon")}
    connector = SqlConnector("crm", url=url, tables=settings, options={})
    rows = []
    try:
        seconds, ok, _ = timed_write(connector, changes(records, 0, False), size)
        rows.append(
            [label, "unconditional", records, f"{seconds:.2f}", f"{records / seconds:,.0f}"]
        )
        plain = seconds
        seconds, ok, stale = timed_write(connector, changes(records, 1, True), size)
        if ok != records or stale:
            problem(f"WRONG RESULT: {label} conditional: {ok} written, {stale} stale")
        rows.append(
            [
                label,
                "conditional",
                records,
                f"{seconds:.2f}",
                f"{records / seconds:,.0f}",
                f"{seconds / plain:.2f}×",
            ]
        )
        # 1% edited behind the "read": those batches fall short and are read back
        edited = list(range(0, records, 100))
        engine = sa.create_engine(url)
        t = sa.Table("account", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:
            for i in edited:
                conn.execute(
                    t.update()
                    .where(t.c.accountid == f"A{i:07d}")
                    .values(city="edited", modifiedon=datetime(2030, 1, 1))
                )
        engine.dispose()
        seconds, ok, stale = timed_write(connector, changes(records, 2, True), size)
        if stale != len(edited) or ok != records - len(edited):
            problem(f"WRONG RESULT: {label} 1% stale: {ok} written, {stale} stale")
        rows.append(
            [
                label,
                "conditional, 1% stale",
                records,
                f"{seconds:.2f}",
                f"{records / seconds:,.0f}",
                f"{seconds / plain:.2f}×",
            ]
        )
    finally:
        connector.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--no-postgresql", action="store_true")
    args = parser.parse_args(argv)
    print(machine_line())
    work = fresh_dir("conditional")
    rows = run_database("SQLite", f"sqlite:///{work / 'crm.db'}", args.records, args.batch)
    if not args.no_postgresql:
        try:
            schema = f"b_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(POSTGRESQL)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            url = f"{POSTGRESQL}?options=-csearch_path%3D{schema}"
            try:
                rows += run_database("PostgreSQL", url, args.records, args.batch)
            finally:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                admin.dispose()
        except sa.exc.OperationalError as exc:
            print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
    table(
        "Updates written by SqlConnector.write",
        ["database", "updates", "rows", "seconds", "rows/s", "vs unconditional"],
        rows,
    )


if __name__ == "__main__":
    main()
