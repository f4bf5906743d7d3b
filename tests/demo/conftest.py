"""Shared fixtures: one default-sized demo world, and raw readers for its SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from accord.demo import CRM_METADATA, ERP_METADATA, DemoWorld, build_demo

METADATA = {"erp": ERP_METADATA, "crm": CRM_METADATA}


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    """The default demo (1,000 customers, seed 42), built once; tests only read it."""
    return build_demo(tmp_path_factory.mktemp("demo") / "world")


def database_path(world: DemoWorld, system: str) -> Path:
    return world.directory / f"{system}.db"


def query(world: DemoWorld, system: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``sql`` on one demo database with the plain driver (no type processing)."""
    with closing(sqlite3.connect(database_path(world, system))) as conn:
        return conn.execute(sql, params).fetchall()


def scalar(world: DemoWorld, system: str, sql: str, *params: Any) -> Any:
    return query(world, system, sql, *params)[0][0]


def dump(world: DemoWorld) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of both systems, in insertion order."""
    return {
        f"{system}.{table}": query(world, system, f'SELECT * FROM "{table}" ORDER BY rowid')
        for system, metadata in METADATA.items()
        for table in metadata.tables
    }


def text_columns() -> Iterator[tuple[str, str, str, int]]:
    """(system, table, column, length) of every sized text column in the demo schemas."""
    for system, metadata in METADATA.items():
        for table in metadata.tables.values():
            for column in table.columns:
                length = getattr(column.type, "length", None)
                if length is not None:
                    yield system, table.name, column.name, length
