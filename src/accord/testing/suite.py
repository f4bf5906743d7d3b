"""The connector conformance suite: the contract of :class:`~accord.connectors.base.Connector`.

Like SQLAlchemy's ``testing/suite`` and ``singer_sdk.testing``, the suite ships with the
package so that every connector, built in or third party, is held to the same contract. A
connector's tests subclass :class:`ConnectorSuite` (under a name pytest collects) and
override one fixture, ``harness``, which yields a :class:`SuiteHarness`: the connector under
test plus a way to create a table with a given schema and rows::

    import pytest

    pytest.register_assert_rewrite("accord.testing.suite")  # in conftest.py: rich asserts

    from accord.testing.suite import ConnectorSuite

    class TestMyConnector(ConnectorSuite):
        @pytest.fixture
        def harness(self) -> Iterator[MyHarness]:
            harness = MyHarness()
            yield harness
            harness.drop_tables()

Tests that need an ability the connector declares it lacks (see
:class:`~accord.connectors.base.Capabilities`) are skipped, not failed. Every test creates
its own tables under fresh names (``accord_suite_<hex>``), so tests may share a database.
The suite's tables name their modified-on field ``modified_at``, which the SQL connector
finds by itself; a connector that needs to be told must be configured by its harness.

This module needs pytest, which is a test dependency; import it only from tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import pytest

from accord.connectors.base import Connector
from accord.errors import ConfigError
from accord.filters import parse_filter
from accord.model import Change, ChangeKind, Expected, FieldInfo, Record, WriteResult

__all__ = [
    "BASE_TIME",
    "ITEM_FIELDS",
    "KEY",
    "MODIFIED",
    "ConnectorSuite",
    "SuiteHarness",
    "item",
    "keys_of",
]

KEY = "code"
"""The key field of the suite's tables."""
MODIFIED = "modified_at"
"""The modified-on field of the suite's tables."""

ITEM_FIELDS: tuple[FieldInfo, ...] = (
    FieldInfo("code", "text", nullable=False, length=10),
    FieldInfo("name", "text", nullable=True, length=10),
    FieldInfo("label", "text", nullable=False, length=40),
    FieldInfo("note", "text", nullable=True, length=None),
    FieldInfo("qty", "integer", nullable=True),
    FieldInfo("price", "decimal", nullable=True),
    FieldInfo("active", "boolean", nullable=True),
    FieldInfo("due", "datetime", nullable=True),
    FieldInfo("modified_at", "datetime", nullable=True),
)
"""The schema of the suite's tables, in column order."""

BASE_TIME = datetime(2024, 1, 1, 12, 0, 0, 123456)
"""Seeded records are modified at or shortly after this (naive UTC) time."""

BATCH = 10
"""The batch size the read tests page with."""

SIZES = (0, 1, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 7)
"""Table sizes around the batch boundary."""


class SuiteHarness(Protocol):
    """What a connector's tests provide to the suite.

    ``make_table`` creates ``name`` with exactly ``fields`` (in order), the key ``key`` (a
    primary key) and the modified-on field ``modified``, and inserts ``rows`` as they are,
    modified values included, without stamping anything. Each row maps every field name to
    a value. Field kinds map to these column types:

    * ``text`` with a length: a bounded text column (``VARCHAR(n)``); without: unbounded.
    * ``integer``: a 32-bit or wider integer.
    * ``decimal``: an exact decimal with at least 14 integer digits and 4 decimal places.
    * ``boolean``: a boolean.
    * ``datetime``: a timestamp without time zone, with microseconds.

    A field with ``nullable=False`` is ``NOT NULL``. After the test the harness drops the
    tables it created.
    """

    @property
    def connector(self) -> Connector:
        """The connector under test; the suite's tables must be visible to it."""
        ...

    def make_table(
        self,
        name: str,
        fields: Sequence[FieldInfo],
        *,
        key: str,
        modified: str,
        rows: Sequence[Mapping[str, Any]],
    ) -> object:
        """Create the table ``name`` holding ``rows`` (any return value is ignored)."""
        ...


def item(number: int, **values: Any) -> dict[str, Any]:
    """A complete row of the suite's table: key ``K0001`` for 1, plausible values, overrides."""
    row: dict[str, Any] = {
        "code": f"K{number:04d}",
        "name": f"n{number}",
        "label": f"label {number}",
        "note": None,
        "qty": number,
        "price": Decimal(number) / 4,
        "active": number % 2 == 0,
        "due": None,
        "modified_at": BASE_TIME + timedelta(seconds=number),
    }
    unknown = set(values) - set(row)
    if unknown:
        raise ValueError(f"not fields of the suite's table: {sorted(unknown)}")
    row.update(values)
    return row


def keys_of(batches: Sequence[Sequence[Record]]) -> list[str]:
    return [record.key for batch in batches for record in batch]


class ConnectorSuite:
    """Conformance tests; subclass with a ``Test`` name and override the ``harness`` fixture."""

    # -- hooks and helpers ----------------------------------------------------------------
    @pytest.fixture
    def harness(self) -> SuiteHarness:
        """Override in the subclass: yield the harness for one test, then clean up."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the 'harness' fixture of ConnectorSuite"
        )

    @pytest.fixture
    def connector(self, harness: SuiteHarness) -> Connector:
        return harness.connector

    def make_items(self, harness: SuiteHarness, rows: Sequence[Mapping[str, Any]] = ()) -> str:
        """Create a table of the suite's schema holding ``rows``; return its fresh name."""
        name = f"accord_suite_{uuid.uuid4().hex[:12]}"
        complete = []
        for row in rows:
            unknown = set(row) - {f.name for f in ITEM_FIELDS}
            assert not unknown, f"not fields of the suite's table: {sorted(unknown)}"
            complete.append({f.name: row.get(f.name) for f in ITEM_FIELDS})
        harness.make_table(name, ITEM_FIELDS, key=KEY, modified=MODIFIED, rows=complete)
        return name

    @staticmethod
    def read_all(connector: Connector, table: str, **options: Any) -> list[list[Record]]:
        """All batches of one read, checking that none is empty or larger than asked."""
        batches = list(connector.read(table, **options))
        size = options.get("batch_size", 1000)
        for batch in batches:
            assert batch, "read yielded an empty batch"
            assert len(batch) <= size, f"a batch of {len(batch)} records; batch_size={size}"
        return batches

    def records(self, connector: Connector, table: str, **options: Any) -> dict[str, Record]:
        """Every record of ``table`` by key, checking that none comes twice."""
        found: dict[str, Record] = {}
        for batch in self.read_all(connector, table, **options):
            for record in batch:
                assert record.key not in found, f"record {record.key!r} read twice"
                found[record.key] = record
        return found

    @staticmethod
    def require(connector: Connector, *abilities: str) -> None:
        """Skip the test unless the connector declares each of ``abilities`` (capability names)."""
        for ability in abilities:
            if not getattr(connector.capabilities, ability):
                pytest.skip(f"{connector.name}: capabilities.{ability} is false")

    @staticmethod
    def assert_ok(results: Sequence[WriteResult], changes: Sequence[Change]) -> None:
        assert len(results) == len(changes), f"{len(changes)} changes, {len(results)} results"
        for change, result in zip(changes, results, strict=True):
            assert result.ok, f"{change.kind} {change.key!r} failed: {result.error}"

    # -- describe -------------------------------------------------------------------------
    def test_describe_key_and_modified(self, harness: SuiteHarness, connector: Connector) -> None:
        table = self.make_items(harness)
        schema = connector.describe(table)
        assert schema.key == KEY
        assert schema.modified == MODIFIED
        assert list(schema.fields) == [f.name for f in ITEM_FIELDS]
        assert all(name == info.name for name, info in schema.fields.items())

    def test_describe_field_kinds(self, harness: SuiteHarness, connector: Connector) -> None:
        fields = connector.describe(self.make_items(harness)).fields
        described = {name: (info.kind, info.length) for name, info in fields.items()}
        assert described == {
            "code": ("text", 10),
            "name": ("text", 10),
            "label": ("text", 40),
            "note": ("text", None),
            "qty": ("integer", None),
            "price": ("decimal", None),
            "active": ("boolean", None),
            "due": ("datetime", None),
            "modified_at": ("datetime", None),
        }

    def test_describe_nullability(self, harness: SuiteHarness, connector: Connector) -> None:
        fields = connector.describe(self.make_items(harness)).fields
        assert {name for name, info in fields.items() if not info.nullable} == {"code", "label"}

    def test_describe_unknown_table(self, connector: Connector) -> None:
        with pytest.raises(ConfigError, match="accord_suite_missing"):
            connector.describe("accord_suite_missing")

    # -- read -----------------------------------------------------------------------------
    @pytest.mark.parametrize("size", SIZES)
    def test_read_by_key_in_batches(
        self, harness: SuiteHarness, connector: Connector, size: int
    ) -> None:
        # Modified times run against the keys, so ordering by modified would show.
        rows = [item(i, modified_at=BASE_TIME - timedelta(seconds=i)) for i in range(1, size + 1)]
        table = self.make_items(harness, rows[::-1])
        batches = self.read_all(connector, table, batch_size=BATCH)
        assert keys_of(batches) == [row["code"] for row in rows]

    @pytest.mark.parametrize("size", SIZES)
    def test_read_modified_after_in_batches(
        self, harness: SuiteHarness, connector: Connector, size: int
    ) -> None:
        # Groups of three share a modified time, and later keys are modified earlier, so
        # keyset pagination must break ties by key across batch boundaries.
        rows = [
            item(i, modified_at=BASE_TIME + timedelta(seconds=(size - i) // 3))
            for i in range(1, size + 1)
        ]
        table = self.make_items(harness, rows)
        batches = self.read_all(
            connector, table, modified_after=BASE_TIME - timedelta(seconds=1), batch_size=BATCH
        )
        expected = sorted(rows, key=lambda row: (row["modified_at"], row["code"]))
        assert keys_of(batches) == [row["code"] for row in expected]

    def test_read_modified_after_is_strict(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        rows = [item(i, modified_at=BASE_TIME + timedelta(microseconds=i // 2)) for i in range(8)]
        table = self.make_items(harness, rows)
        cutoff = BASE_TIME + timedelta(microseconds=2)  # K0004 and K0005 have exactly this
        assert rows[4]["modified_at"] == rows[5]["modified_at"] == cutoff
        batches = self.read_all(connector, table, modified_after=cutoff, batch_size=BATCH)
        assert keys_of(batches) == ["K0006", "K0007"]
        assert self.read_all(connector, table, modified_after=BASE_TIME + timedelta(3)) == []

    def test_read_records_without_modified_value(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        rows = [item(1), item(2, modified_at=None), item(3)]
        table = self.make_items(harness, rows)
        found = self.records(connector, table)
        assert list(found) == ["K0001", "K0002", "K0003"]
        assert found["K0002"].version is None
        after = self.records(connector, table, modified_after=BASE_TIME)
        assert list(after) == ["K0001", "K0003"]
        assert connector.count(table, modified_after=BASE_TIME) == 2

    def test_read_record_shape(self, harness: SuiteHarness, connector: Connector) -> None:
        row = item(7, note="a note", due=datetime(2024, 5, 6, 7, 8, 9, 10))
        table = self.make_items(harness, [row])
        [[record]] = self.read_all(connector, table)
        assert record.key == "K0007"
        assert record.version == row["modified_at"]
        assert record.values == row

    def test_read_keys(self, harness: SuiteHarness, connector: Connector) -> None:
        table = self.make_items(harness, [item(i) for i in range(1, 21)])
        wanted = ["K0015", "K0003", "missing", "K0003", "K0020", "K0099", "K0001"]
        batches = self.read_all(connector, table, keys=wanted, batch_size=BATCH)
        assert keys_of(batches) == ["K0001", "K0003", "K0015", "K0020"]
        assert self.read_all(connector, table, keys=[]) == []
        assert self.read_all(connector, table, keys=["missing"]) == []

    def test_read_many_keys(self, harness: SuiteHarness, connector: Connector) -> None:
        table = self.make_items(harness, [item(i) for i in range(1, 1201, 2)])  # odd numbers
        wanted = [f"K{i:04d}" for i in range(1200, 0, -1)]  # 1,200 keys, half of them missing
        batches = self.read_all(connector, table, keys=wanted, batch_size=100)
        assert keys_of(batches) == [f"K{i:04d}" for i in range(1, 1201, 2)]

    def test_read_keys_with_filter_and_modified_after(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        table = self.make_items(harness, [item(i) for i in range(1, 11)])
        found = self.records(
            connector,
            table,
            keys=["K0002", "K0004", "K0005", "K0008", "K0009"],
            filter=parse_filter("qty gt 2"),
            modified_after=BASE_TIME + timedelta(seconds=4),
        )
        assert sorted(found) == ["K0005", "K0008", "K0009"]

    @pytest.mark.parametrize(
        "fields", [["name"], ["price", "name"], [], ["code", "modified_at", "qty"]], ids=repr
    )
    def test_read_fields(
        self, harness: SuiteHarness, connector: Connector, fields: list[str]
    ) -> None:
        row = item(3)
        table = self.make_items(harness, [row, item(4)])
        found = self.records(connector, table, fields=fields)
        record = found["K0003"]
        assert set(record.values) == {*fields, KEY, MODIFIED}
        assert record.values == {name: row[name] for name in record.values}
        assert record.version == row["modified_at"]
        keyed = self.records(connector, table, fields=fields, keys=["K0004"])
        assert set(keyed["K0004"].values) == {*fields, KEY, MODIFIED}

    FILTER_ROWS = (
        (1, "O'Brien"),
        (2, "50% off"),
        (3, "500 off"),
        (4, "a_b"),
        (5, "axb"),
        (6, "x; DROP TABLE t; --"),
        (7, "-- comment"),
        (8, "ABC"),
        (9, "abc"),
        (10, None),
        (11, "back\\slash"),
        (12, "a/b"),
        (13, "it's 100%"),
        (14, "abc "),
    )
    """Notes of the records the filter tests select from (key ``K0001`` for 1, ...)."""

    def check_filters(
        self, harness: SuiteHarness, connector: Connector, cases: Sequence[tuple[str, list[int]]]
    ) -> None:
        """Read and count with each filter; report every mismatch at once."""
        table = self.make_items(harness, [item(i, note=note) for i, note in self.FILTER_ROWS])
        failures = []
        for text, numbers in cases:
            condition = parse_filter(text)
            expected = [f"K{i:04d}" for i in numbers]
            read = keys_of(self.read_all(connector, table, filter=condition, batch_size=4))
            if read != expected:
                failures.append(f"{text}: expected {expected}, read {read}")
            counted = connector.count(table, filter=condition)
            if counted != len(expected):
                failures.append(f"{text}: expected a count of {len(expected)}, got {counted}")
        assert not failures, "\n".join(failures)

    def test_read_filter_matches_literally(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        """Quotes, LIKE wildcards, escape characters and SQL syntax in values mean themselves."""
        self.check_filters(
            harness,
            connector,
            [
                ("note eq 'O''Brien'", [1]),
                ("contains(note, '''')", [1, 13]),
                ("contains(note, '%')", [2, 13]),
                ("contains(note, '50%')", [2]),
                ("endswith(note, '0%')", [13]),
                ("startswith(note, 'a_')", [4]),
                ("endswith(note, '_b')", [4]),
                ("contains(note, '_')", [4]),
                ("note eq 'x; DROP TABLE t; --'", [6]),
                ("contains(note, ';')", [6]),
                ("startswith(note, '--')", [7]),
                ("contains(note, '--')", [6, 7]),
                ("contains(note, '\\')", [11]),
                ("contains(note, '/')", [12]),
            ],
        )

    def test_read_filter_compares_text_exactly(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        """Text compares by case and trailing spaces count, as in :meth:`Filter.matches`."""
        self.check_filters(
            harness,
            connector,
            [
                ("note eq 'abc'", [9]),
                ("note eq 'ABC'", [8]),
                ("note in ('abc', 'x')", [9]),
                ("contains(note, 'B')", [1, 6, 8]),
                ("startswith(note, 'A')", [8]),
                ("endswith(note, 'c')", [9]),
                ("note ne 'abc'", [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14]),
                ("not (note eq 'abc')", [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14]),
                ("note gt 'abc'", [5, 6, 11, 13, 14]),
            ],
        )

    def test_read_filter_values(self, harness: SuiteHarness, connector: Connector) -> None:
        """Numbers, booleans, null and three-valued logic."""
        self.check_filters(
            harness,
            connector,
            [
                ("note eq null", [10]),
                ("note ne null", [1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14]),
                ("qty ge 3 and qty lt 6", [3, 4, 5]),
                ("qty in (1, 12, 99)", [1, 12]),
                ("active eq true and qty le 6", [2, 4, 6]),
                ("active eq false and qty gt 10", [11, 13]),
                ("price gt 2.5", [11, 12, 13, 14]),
                ("price eq 0.75", [3]),
                ("not (qty gt 2) or name eq 'n13'", [1, 2, 13]),
                ("not (note eq 'O''Brien')", [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14]),
                ("qty gt 99", []),
            ],
        )

    @pytest.mark.parametrize(
        ("filter_text", "after_seconds"),
        [(None, None), ("qty gt 5", None), (None, 8), ("active eq false", 3), ("qty gt 99", None)],
    )
    def test_count_matches_read(
        self,
        harness: SuiteHarness,
        connector: Connector,
        filter_text: str | None,
        after_seconds: int | None,
    ) -> None:
        table = self.make_items(harness, [item(i) for i in range(1, 24)])
        options: dict[str, Any] = {
            "filter": None if filter_text is None else parse_filter(filter_text),
            "modified_after": (
                None if after_seconds is None else BASE_TIME + timedelta(seconds=after_seconds)
            ),
        }
        read = keys_of(self.read_all(connector, table, batch_size=BATCH, **options))
        assert connector.count(table, **options) == len(read)

    # -- write ----------------------------------------------------------------------------
    def test_write_nothing(self, harness: SuiteHarness, connector: Connector) -> None:
        table = self.make_items(harness, [item(1)])
        assert connector.write(table, []) == []

    def test_write_insert_update_delete_in_one_batch(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        self.require(connector, "client_keys", "delete")
        table = self.make_items(harness, [item(1), item(2), item(3)])
        changes = [
            Change(ChangeKind.INSERT, "K0100", {"name": "new", "label": "inserted", "qty": 5}),
            Change(ChangeKind.UPDATE, "K0001", {"name": "changed"}),
            Change(ChangeKind.DELETE, "K0002"),
            Change(ChangeKind.INSERT, "K0101", {"label": "also inserted"}),
        ]
        results = connector.write(table, changes)
        self.assert_ok(results, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        found = self.records(connector, table)
        assert list(found) == ["K0001", "K0003", "K0100", "K0101"]
        assert found["K0001"].values["name"] == "changed"
        inserted = found["K0100"].values
        assert (inserted["name"], inserted["label"], inserted["qty"]) == ("new", "inserted", 5)
        assert inserted["note"] is None and inserted["price"] is None
        assert found["K0101"].values["name"] is None

    def test_write_a_full_batch(self, harness: SuiteHarness, connector: Connector) -> None:
        """``capabilities.batch_size`` changes at once (up to 1,000 here) are all applied."""
        self.require(connector, "client_keys")
        size = min(connector.capabilities.batch_size, 1000)
        table = self.make_items(harness)
        inserts = [
            Change(ChangeKind.INSERT, f"K{i:04d}", {"label": f"l{i}", "qty": i})
            for i in range(size)
        ]
        self.assert_ok(connector.write(table, inserts), inserts)
        updates = [Change(ChangeKind.UPDATE, c.key, {"qty": -i}) for i, c in enumerate(inserts)]
        self.assert_ok(connector.write(table, updates), updates)
        found = self.records(connector, table, batch_size=size)
        assert [r.values["qty"] for r in found.values()] == [-i for i in range(size)]

    def test_update_writes_only_given_fields(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        rows = [item(1, note="keep me"), item(2)]
        table = self.make_items(harness, rows)
        changes = [Change(ChangeKind.UPDATE, "K0001", {"qty": 42, "note": None})]
        self.assert_ok(connector.write(table, changes), changes)
        found = self.records(connector, table)
        expected = {**rows[0], "qty": 42, "note": None, "modified_at": found["K0001"].version}
        assert found["K0001"].values == expected
        assert found["K0002"].values == rows[1]
        assert found["K0002"].version == rows[1]["modified_at"]

    def test_version_is_the_stored_modified_value(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        self.require(connector, "client_keys")
        table = self.make_items(harness, [item(1)])
        changes = [
            Change(ChangeKind.UPDATE, "K0001", {"name": "first"}),
            Change(ChangeKind.INSERT, "K0002", {"label": "new"}),
        ]
        first = connector.write(table, changes)
        self.assert_ok(first, changes)
        found = self.records(connector, table)
        for result in first:
            assert isinstance(result.version, datetime) and result.version.tzinfo is None
            assert found[result.key].version == result.version
            assert found[result.key].values[MODIFIED] == result.version
        assert first[0].version is not None and first[0].version > item(1)["modified_at"]
        versions = {r.key: r.version for r in first}
        for attempt in range(3):
            again = [
                Change(ChangeKind.UPDATE, "K0001", {"qty": attempt}),
                Change(ChangeKind.UPDATE, "K0002", {"qty": attempt}),
            ]
            results = connector.write(table, again)
            self.assert_ok(results, again)
            found = self.records(connector, table)
            for result in results:
                previous = versions[result.key]
                assert result.version is not None and previous is not None
                assert result.version > previous, "a new version must be later than the last"
                assert found[result.key].version == result.version
                versions[result.key] = result.version

    def test_update_of_missing_record_fails_alone(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        self.require(connector, "client_keys")
        table = self.make_items(harness, [item(1), item(2)])
        changes = [
            Change(ChangeKind.UPDATE, "K0001", {"name": "one"}),
            Change(ChangeKind.UPDATE, "K0404", {"name": "ghost"}),
            Change(ChangeKind.INSERT, "K0003", {"label": "three"}),
            Change(ChangeKind.UPDATE, "K0002", {"name": "two"}),
        ]
        results = connector.write(table, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        assert [r.ok for r in results] == [True, False, True, True]
        assert results[1].error and results[1].version is None
        found = self.records(connector, table)
        assert list(found) == ["K0001", "K0002", "K0003"]
        assert [found[k].values["name"] for k in ("K0001", "K0002")] == ["one", "two"]

    VIOLATIONS: Mapping[str, tuple[Change, str | None]] = {
        "duplicate key": (Change(ChangeKind.INSERT, "K0002", {"label": "again"}), None),
        "insert null into not null": (
            Change(ChangeKind.INSERT, "K0050", {"label": None, "name": "x"}),
            "label",
        ),
        "update not null to null": (Change(ChangeKind.UPDATE, "K0002", {"label": None}), "label"),
        "insert too long": (
            Change(ChangeKind.INSERT, "K0050", {"label": "l", "name": "twelve chars"}),
            "name",
        ),
        "update too long": (Change(ChangeKind.UPDATE, "K0002", {"name": "x" * 11}), "name"),
        "key too long": (Change(ChangeKind.INSERT, "K0000000050", {"label": "l"}), "code"),
        "unknown field": (Change(ChangeKind.UPDATE, "K0002", {"nope": 1}), "nope"),
    }

    @pytest.mark.parametrize("violation", list(VIOLATIONS))
    def test_violation_fails_alone(
        self, harness: SuiteHarness, connector: Connector, violation: str
    ) -> None:
        self.require(connector, "client_keys")
        bad, field = self.VIOLATIONS[violation]
        rows = [item(1), item(2), item(3)]
        table = self.make_items(harness, rows)
        changes = [
            Change(ChangeKind.UPDATE, "K0001", {"name": "before"}),
            Change(ChangeKind.INSERT, "K0010", {"label": "before"}),
            Change(bad.kind, bad.key, dict(bad.values)),
            Change(ChangeKind.INSERT, "K0011", {"label": "after"}),
            Change(ChangeKind.UPDATE, "K0003", {"name": "after"}),
        ]
        results = connector.write(table, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        assert [r.ok for r in results] == [True, True, False, True, True], results
        reason = results[2].error
        assert isinstance(reason, str) and reason.strip(), "a failure needs a reason"
        assert "\n" not in reason.strip(), f"the reason should be one line: {reason!r}"
        if field is not None:
            assert field in reason, f"the reason should name the field {field!r}: {reason!r}"
        found = self.records(connector, table)
        assert list(found) == ["K0001", "K0002", "K0003", "K0010", "K0011"]
        assert found["K0002"].values == rows[1], "the failed change must not be applied"
        assert found["K0001"].values["name"] == "before"
        assert found["K0003"].values["name"] == "after"

    def test_duplicate_key_within_one_batch(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        self.require(connector, "client_keys")
        table = self.make_items(harness, [item(1)])
        changes = [
            Change(ChangeKind.INSERT, "K0005", {"label": "first"}),
            Change(ChangeKind.INSERT, "K0005", {"label": "second"}),
            Change(ChangeKind.UPDATE, "K0001", {"label": "updated"}),
        ]
        results = connector.write(table, changes)
        assert [r.ok for r in results] == [True, False, True]
        assert results[1].error
        found = self.records(connector, table)
        assert found["K0005"].values["label"] == "first"
        assert found["K0001"].values["label"] == "updated"

    def test_delete(self, harness: SuiteHarness, connector: Connector) -> None:
        self.require(connector, "delete")
        table = self.make_items(harness, [item(1), item(2), item(3)])
        changes = [
            Change(ChangeKind.DELETE, "K0002"),
            Change(ChangeKind.DELETE, "K0404"),
            Change(ChangeKind.DELETE, "K0003"),
            Change(ChangeKind.DELETE, "K0003"),
        ]
        results = connector.write(table, changes)
        self.assert_ok(results, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        assert list(self.records(connector, table)) == ["K0001"]
        assert connector.count(table) == 1

    # -- conditional updates (optimistic concurrency) ---------------------------------------
    @staticmethod
    def expecting(record: Record, change: Change) -> Change:
        """``change`` made conditional on ``record`` as read: its version and the values of
        the fields the change writes."""
        values = {f: record.values[f] for f in change.values}
        change.expected = Expected(record.version, values)
        return change

    def test_conditional_update_of_unchanged_record_applies(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        self.require(connector, "optimistic_concurrency")
        table = self.make_items(harness, [item(1, note=None), item(2)])
        read = self.records(connector, table)
        changes = [
            self.expecting(read["K0001"], Change(ChangeKind.UPDATE, "K0001", {"name": "new"})),
            # a blank read is a condition too (NULL IS NOT DISTINCT FROM NULL)
            self.expecting(read["K0001"], Change(ChangeKind.UPDATE, "K0001", {"note": "x"})),
        ]
        first = connector.write(table, changes[:1])
        self.assert_ok(first, changes[:1])
        assert not first[0].stale
        again = self.records(connector, table)
        second = self.expecting(again["K0001"], Change(ChangeKind.UPDATE, "K0001", {"note": "x"}))
        self.assert_ok(connector.write(table, [second]), [second])
        found = self.records(connector, table)["K0001"].values
        assert (found["name"], found["note"]) == ("new", "x")

    def test_conditional_update_of_changed_record_is_stale(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        """Changed since read (a new version, or other values under the same version, as a
        coarse clock gives): nothing written, reported ``stale``; the rest of the batch goes."""
        self.require(connector, "optimistic_concurrency", "client_keys")
        table = self.make_items(harness, [item(i) for i in range(1, 6)])
        read = self.records(connector, table)
        # Another writer edits K0001 after the engine's read (a new version).
        edit = [Change(ChangeKind.UPDATE, "K0001", {"note": "their edit"})]
        self.assert_ok(connector.write(table, edit), edit)
        before = self.records(connector, table)
        wrong_value = self.expecting(read["K0002"], Change(ChangeKind.UPDATE, "K0002", {"qty": 9}))
        assert wrong_value.expected is not None
        wrong_value.expected = Expected(read["K0002"].version, {"qty": 12345})  # not what it holds
        changes = [
            self.expecting(read["K0001"], Change(ChangeKind.UPDATE, "K0001", {"note": "ours"})),
            wrong_value,
            self.expecting(read["K0003"], Change(ChangeKind.UPDATE, "K0003", {"name": "fresh"})),
            Change(ChangeKind.UPDATE, "K0404", {"name": "ghost"}, expected=Expected(None, {})),
            Change(ChangeKind.UPDATE, "K0004", {"name": "plain"}),  # unconditional
            Change(ChangeKind.INSERT, "K0006", {"label": "new"}),
        ]
        results = connector.write(table, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        outcome = [(r.ok, r.stale) for r in results]
        assert outcome == [
            (False, True),
            (False, True),
            (True, False),
            (False, False),
            (True, False),
            (True, False),
        ], results
        assert results[0].error and results[1].error and results[3].error
        after = self.records(connector, table)
        assert after["K0001"].values == before["K0001"].values, "a stale update wrote"
        assert after["K0002"].values == before["K0002"].values, "a stale update wrote"
        assert after["K0003"].values["name"] == "fresh"
        assert after["K0004"].values["name"] == "plain"
        assert "K0006" in after

    def test_conditional_updates_in_bulk(self, harness: SuiteHarness, connector: Connector) -> None:
        """A batch of conditional updates where a few are stale, and one refused for its
        value (the batch then goes record by record): each gets its own outcome."""
        self.require(connector, "optimistic_concurrency")
        size = min(connector.capabilities.batch_size, 60)
        table = self.make_items(harness, [item(i) for i in range(size)])
        read = self.records(connector, table)
        edited = {f"K{i:04d}" for i in range(0, size, 7)}
        edits = [Change(ChangeKind.UPDATE, k, {"qty": -1}) for k in sorted(edited)]
        self.assert_ok(connector.write(table, edits), edits)
        changes = [
            self.expecting(read[k], Change(ChangeKind.UPDATE, k, {"qty": 1000 + i}))
            for i, k in enumerate(sorted(read))
        ]
        changes[1].values = {"name": "x" * 11}  # too long: refused alone
        changes[1].expected = Expected(
            read["K0001"].version, {"name": read["K0001"].values["name"]}
        )
        results = connector.write(table, changes)
        after = self.records(connector, table, batch_size=size)
        for change, result in zip(changes, results, strict=True):
            if change.key in edited:
                assert (result.ok, result.stale) == (False, True), result
                assert after[change.key].values["qty"] == -1
            elif change.key == "K0001":
                assert not result.ok and not result.stale and "name" in result.error
            else:
                assert result.ok, result
                assert after[change.key].values["qty"] == change.values["qty"]

    # -- max_key --------------------------------------------------------------------------
    def test_max_key(self, harness: SuiteHarness, connector: Connector) -> None:
        keys = ["C0001", "C0002", "C0010", "C0009", "CX", "D0001", "c0099", "A%1", "A%2"]
        keys += ["A_1", "AB9", "A/9", "AZ"]
        table = self.make_items(harness, [item(i, code=k) for i, k in enumerate(keys)])
        expected = {
            "C": "CX",
            "C0": "C0010",  # not c0099: the prefix is case-sensitive
            "C00": "C0010",
            "C001": "C0010",
            "D": "D0001",
            "E": None,
            "": "c0099",  # the greatest by code point
            "A%": "A%2",  # wildcards and the escape character are literal
            "A_": "A_1",
            "A/": "A/9",
        }
        found = {prefix: connector.max_key(table, prefix) for prefix in expected}
        assert found == expected

    def test_max_key_of_empty_table(self, harness: SuiteHarness, connector: Connector) -> None:
        assert connector.max_key(self.make_items(harness), "C") is None

    # -- values ---------------------------------------------------------------------------
    ROUND_TRIP: Mapping[str, Mapping[str, Any]] = {
        "decimal": {"price": Decimal("1234.56")},
        "negative decimal": {"price": Decimal("-0.01")},
        "large decimal": {"price": Decimal("98765432109.1234")},
        "zero decimal": {"price": Decimal(0)},
        "datetime": {"due": datetime(2024, 2, 29, 23, 59, 59, 999999)},
        "old datetime": {"due": datetime(1901, 1, 1)},
        "true": {"active": True},
        "false": {"active": False},
        "small integer": {"qty": -(2**31)},
        "big integer": {"qty": 2**31 - 1},
        "nulls": {f.name: None for f in ITEM_FIELDS if f.nullable and f.name != MODIFIED},
        "unicode": {"name": "Zürich ✓", "note": "Ωmega — 東京 😀"},
        "quotes": {"name": "a'b\"c\\d", "note": "'; DROP TABLE x; --"},
        "long text": {"note": "x" * 5000},
        "full length": {"name": "0123456789"},
    }
    """Values each written by an insert and by an update, then read back equal and same-typed."""

    def test_round_trip(self, harness: SuiteHarness, connector: Connector) -> None:
        self.require(connector, "client_keys")
        cases = list(self.ROUND_TRIP.items())
        table = self.make_items(harness, [item(i) for i in range(len(cases))])
        changes = []
        for i, (_, values) in enumerate(cases):
            changes.append(Change(ChangeKind.UPDATE, f"K{i:04d}", dict(values)))
            changes.append(Change(ChangeKind.INSERT, f"K{i + 100:04d}", {"label": "l", **values}))
        self.assert_ok(connector.write(table, changes), changes)
        found = self.records(connector, table)
        failures = []
        for i, (case, values) in enumerate(cases):
            for key in (f"K{i:04d}", f"K{i + 100:04d}"):
                stored = found[key].values
                for name, value in values.items():
                    if stored[name] != value or type(stored[name]) is not type(value):
                        failures.append(f"{case}: wrote {name}={value!r}, read {stored[name]!r}")
        assert not failures, "\n".join(failures)

    def test_seeded_value_types(self, harness: SuiteHarness, connector: Connector) -> None:
        row = item(1, price=Decimal("1234.56"), due=datetime(2024, 3, 4, 5, 6, 7, 8))
        table = self.make_items(harness, [row, item(2, active=None, qty=None, price=None)])
        found = self.records(connector, table)
        values = found["K0001"].values
        assert values == row
        types = {name: type(value) for name, value in values.items()}
        assert types == {
            "code": str,
            "name": str,
            "label": str,
            "note": type(None),
            "qty": int,
            "price": Decimal,
            "active": bool,
            "due": datetime,
            "modified_at": datetime,
        }
        assert values["due"].tzinfo is None and values["modified_at"].tzinfo is None
        assert found["K0002"].values["active"] is None
