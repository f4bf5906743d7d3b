"""The conformance suite against the in-memory connector."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from accord.model import FieldInfo
from accord.testing import MemoryConnector, database, drop_database
from accord.testing.suite import ConnectorSuite, SuiteHarness


class MemoryHarness(SuiteHarness):
    def __init__(self) -> None:
        self.url = f"memory://suite-{uuid.uuid4().hex[:12]}"
        self.db = database(self.url)
        self._connector = MemoryConnector("memory", url=self.url)

    @property
    def connector(self) -> MemoryConnector:
        return self._connector

    def make_table(
        self,
        name: str,
        fields: Sequence[FieldInfo],
        *,
        key: str,
        modified: str,
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        self.db.create_table(
            name,
            {f.name: f.kind for f in fields},
            key=key,
            modified=modified,
            lengths={f.name: f.length for f in fields if f.length is not None},
            required=[f.name for f in fields if not f.nullable],
        )
        stored = self.db.tables[name].rows
        for row in rows:
            stored[str(row[key])] = dict(row)

    def edit(self, table: str, key: str, values: Mapping[str, Any]) -> None:
        assert key in self.db.tables[table].rows, f"no record {key!r} in {table}"
        self.db.put(table, key, values)  # a user's edit: a new version


class TestMemoryConnector(ConnectorSuite):
    @pytest.fixture
    def harness(self) -> Iterator[MemoryHarness]:
        harness = MemoryHarness()
        yield harness
        drop_database(harness.url)
