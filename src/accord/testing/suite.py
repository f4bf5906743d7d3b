"""The connector conformance suite: the contract of :class:`~accord.connectors.base.Connector`.

Like SQLAlchemy's ``testing/suite`` and ``singer_sdk.testing``, the suite ships with the
package so that every connector, built in or third party, is held to the same contract. A
connector's tests subclass :class:`ConnectorSuite` (under a name pytest collects) and
override one fixture, ``harness``, which yields a :class:`SuiteHarness` for one test::

    import pytest

    pytest.register_assert_rewrite("accord.testing.suite")  # in conftest.py: rich asserts

    from accord.testing.suite import ConnectorSuite, SuiteHarness

    class MyHarness(SuiteHarness):
        ...  # connector, make_table (or items_table), edit; the attributes below if needed

    class TestMyConnector(ConnectorSuite):
        @pytest.fixture
        def harness(self) -> Iterator[MyHarness]:
            harness = MyHarness()
            yield harness
            harness.drop_tables()

The suite states the contract over one kind of table, the *items* table: a key field, the
data fields of :data:`DATA_FIELDS` (``name`` text of at most 10 characters, ``label``
required text of at most 40, ``note`` unbounded text, ``qty`` integer, ``price`` decimal,
``active`` boolean, ``due`` datetime) and a modified-on field that versions each record. It
assumes no SQL: the harness says how the system holds such a table.

* **The table.** :meth:`SuiteHarness.items_table` returns the name of an items table holding
  exactly the rows given, modified-on values included. The default creates a fresh table
  with :meth:`SuiteHarness.make_table` (SQL-like systems); a system with a fixed schema
  (Dataverse) empties its one items table instead. The key and modified-on fields are named
  by :attr:`~SuiteHarness.key_field` and :attr:`~SuiteHarness.modified_field`; other fields
  the system adds (system columns) are named in :attr:`~SuiteHarness.extra_fields`.
* **Keys.** :meth:`SuiteHarness.key` makes the key of record number *n* (``K0001``, or a
  GUID); keys sort as text in number order. :attr:`~SuiteHarness.text_keys` says whether
  any text may be a key (then ``max_key`` is checked with wildcards and case too), and
  :attr:`~SuiteHarness.invalid_key` is a key the table cannot hold.
* **Behind the connector's back.** :meth:`SuiteHarness.edit` changes a record as another
  writer would; the system gives it a new version.
* **Versions.** :attr:`~SuiteHarness.resolution` is the precision of the system's datetimes
  (a microsecond, or a second for Dataverse): seeded times and values are cut to it, and a
  ``modified_after`` bound that is a whole tick may also return records stamped exactly at
  the bound (a coarse stamp cannot tell them from later edits in the same tick). A system
  that stamps versions itself reports the version it stamped; a test that needs a later
  version calls :meth:`SuiteHarness.tick` first (a test clock moved on, or a wait).
  :attr:`~SuiteHarness.versions_may_be_missing` says whether a record may have no
  modified-on value at all.

Tests that need an ability the connector declares it lacks (see
:class:`~accord.connectors.base.Capabilities`) are skipped, not failed.

This module needs pytest, which is a test dependency; import it only from tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from accord.connectors.base import Connector
from accord.errors import ConfigError
from accord.filters import parse_filter
from accord.model import Change, ChangeKind, Expected, FieldInfo, Record, WriteResult

__all__ = [
    "BASE_TIME",
    "DATA_FIELDS",
    "ITEM_FIELDS",
    "KEY",
    "MODIFIED",
    "ConnectorSuite",
    "SuiteHarness",
    "item",
    "keys_of",
]

KEY = "code"
"""The key field of the tables :meth:`SuiteHarness.make_table` creates."""
MODIFIED = "modified_at"
"""The modified-on field of the tables :meth:`SuiteHarness.make_table` creates."""

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
"""The schema :meth:`SuiteHarness.make_table` creates, in column order."""

DATA_FIELDS: tuple[FieldInfo, ...] = ITEM_FIELDS[1:-1]
"""The fields of an items table besides its key and modified-on field, in order."""

BASE_TIME = datetime(2024, 1, 1, 12, 0, 0, 123456)
"""Seeded records are modified at or shortly after this (naive UTC) time, cut to the
harness's resolution."""

MICROSECOND = timedelta(microseconds=1)

BATCH = 10
"""The batch size the read tests page with."""

SIZES = (0, 1, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 7)
"""Table sizes around the batch boundary."""


class SuiteHarness:
    """What a connector's tests provide to the suite: subclass and override what differs.

    The defaults describe a SQL-like system: :meth:`make_table` creates tables of
    :data:`ITEM_FIELDS` (key ``code``, modified-on ``modified_at``, microseconds), keys are
    any text (``K0001``), and records may lack a modified-on value.
    """

    key_field: str = KEY
    """The key field of the items table."""
    modified_field: str = MODIFIED
    """The modified-on field of the items table (the records' version)."""
    extra_fields: frozenset[str] = frozenset()
    """Fields the items table has besides the suite's (system columns), read but not written."""
    resolution: timedelta = MICROSECOND
    """The precision of the system's datetimes, versions included."""
    text_keys: bool = True
    """Any text (up to 10 characters) may be a key; False: keys have the system's own shape."""
    invalid_key: str = "K0000000050"
    """A key the items table cannot hold (here: longer than the key field's 10 characters)."""
    versions_may_be_missing: bool = True
    """A record may have no modified-on value (a nullable column no one stamped)."""

    @property
    def connector(self) -> Connector:
        """The connector under test; the items tables must be visible to it."""
        raise NotImplementedError(f"{type(self).__name__} must provide 'connector'")

    def key(self, number: int) -> str:
        """The key of record ``number`` (0 to 9999); keys sort as text in number order."""
        return f"K{number:04d}"

    def items_table(self, rows: Sequence[Mapping[str, Any]]) -> str:
        """The name of an items table holding exactly ``rows``, stored as they are.

        Each row maps every field of the table (key, data fields, modified-on) to a value;
        nothing is stamped. The default creates a fresh table with :meth:`make_table`.
        """
        name = f"accord_suite_{uuid.uuid4().hex[:12]}"
        self.make_table(name, ITEM_FIELDS, key=KEY, modified=MODIFIED, rows=rows)
        return name

    def make_table(
        self,
        name: str,
        fields: Sequence[FieldInfo],
        *,
        key: str,
        modified: str,
        rows: Sequence[Mapping[str, Any]],
    ) -> object:
        """Create the table ``name`` holding ``rows`` (any return value is ignored).

        The table has exactly ``fields`` (in order), the key ``key`` (a primary key) and
        the modified-on field ``modified``; ``rows`` go in as they are, modified values
        included. Field kinds map to these column types:

        * ``text`` with a length: a bounded text column (``VARCHAR(n)``); without: unbounded.
        * ``integer``: a 32-bit or wider integer.
        * ``decimal``: an exact decimal with at least 14 integer digits and 4 decimal places.
        * ``boolean``: a boolean.
        * ``datetime``: a timestamp without time zone, with microseconds.

        A field with ``nullable=False`` is ``NOT NULL``. After the test the harness drops the
        tables it created.
        """
        raise NotImplementedError(f"{type(self).__name__} must provide make_table or items_table")

    def edit(self, table: str, key: str, values: Mapping[str, Any]) -> None:
        """Change data fields of a record as another writer would, not through the connector;
        the record gets a new version, later than any it had."""
        raise NotImplementedError(f"{type(self).__name__} must provide edit")

    def tick(self) -> None:
        """Make the next version the system stamps later than every version so far (for a
        system that stamps coarsely: a test clock moved on, or a wait). Default: nothing."""


def item(number: int, **values: Any) -> dict[str, Any]:
    """A complete row of :data:`ITEM_FIELDS`: key ``K0001`` for 1, plausible values, overrides."""
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


def cut(value: datetime, resolution: timedelta) -> datetime:
    """``value`` cut down to a whole number of ``resolution`` ticks."""
    if resolution <= MICROSECOND:
        return value
    return value - (value - datetime(2000, 1, 1)) % resolution


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

    @staticmethod
    def at(harness: SuiteHarness, seconds: float = 0, ticks: int = 0) -> datetime:
        """A time ``seconds`` plus ``ticks`` (of the harness's resolution) after the base."""
        base = cut(BASE_TIME, harness.resolution)
        return base + timedelta(seconds=seconds) + ticks * harness.resolution

    def item(self, harness: SuiteHarness, number: int, **values: Any) -> dict[str, Any]:
        """A complete row of the items table for record ``number``; ``key=`` and
        ``modified=`` override its key and modified-on value, data fields their own."""
        row: dict[str, Any] = {
            harness.key_field: values.pop("key", harness.key(number)),
            "name": f"n{number}",
            "label": f"label {number}",
            "note": None,
            "qty": number,
            "price": Decimal(number) / 4,
            "active": number % 2 == 0,
            "due": None,
            harness.modified_field: values.pop("modified", self.at(harness, number)),
        }
        unknown = set(values) - {f.name for f in DATA_FIELDS}
        if unknown:
            raise ValueError(f"not fields of the suite's table: {sorted(unknown)}")
        row.update(values)
        return row

    @staticmethod
    def suite_fields(harness: SuiteHarness) -> list[str]:
        return [harness.key_field, *(f.name for f in DATA_FIELDS), harness.modified_field]

    def make_items(self, harness: SuiteHarness, rows: Sequence[Mapping[str, Any]] = ()) -> str:
        """An items table holding ``rows`` (missing fields null); return its name."""
        names = self.suite_fields(harness)
        complete = []
        for row in rows:
            unknown = set(row) - set(names)
            assert not unknown, f"not fields of the suite's table: {sorted(unknown)}"
            complete.append({name: row.get(name) for name in names})
        return harness.items_table(complete)

    def values_of(self, harness: SuiteHarness, record: Record) -> dict[str, Any]:
        """The suite's fields of a record read with all its fields (checking the others)."""
        names = self.suite_fields(harness)
        others = set(record.values) - set(names)
        assert others <= harness.extra_fields, f"fields not in the table: {sorted(others)}"
        return {name: record.values[name] for name in names if name in record.values}

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
    def after_bound(
        harness: SuiteHarness, read: list[str], later: list[str], at_bound: list[str]
    ) -> None:
        """``read`` (in order) is what ``modified_after`` must give: the records modified
        later than the bound; a coarse system may also give those stamped at the bound."""
        allowed = [later]
        if harness.resolution > MICROSECOND:
            allowed.append(at_bound + later)
        assert read in allowed, f"read {read}; expected {' or '.join(map(str, allowed))}"

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
        assert schema.key == harness.key_field
        assert schema.modified == harness.modified_field
        names = self.suite_fields(harness)
        assert [name for name in schema.fields if name in names] == names  # in this order
        assert set(schema.fields) - set(names) == harness.extra_fields
        assert all(name == info.name for name, info in schema.fields.items())

    def test_describe_field_kinds(self, harness: SuiteHarness, connector: Connector) -> None:
        fields = connector.describe(self.make_items(harness)).fields
        names = self.suite_fields(harness)
        described = {name: (fields[name].kind, fields[name].length) for name in names[1:]}
        assert fields[harness.key_field].kind == "text"
        assert described == {
            "name": ("text", 10),
            "label": ("text", 40),
            "note": ("text", None),
            "qty": ("integer", None),
            "price": ("decimal", None),
            "active": ("boolean", None),
            "due": ("datetime", None),
            harness.modified_field: ("datetime", None),
        }

    def test_describe_nullability(self, harness: SuiteHarness, connector: Connector) -> None:
        fields = connector.describe(self.make_items(harness)).fields
        required = {n for n in self.suite_fields(harness) if not fields[n].nullable}
        assert required == {harness.key_field, "label"}

    def test_describe_unknown_table(self, connector: Connector) -> None:
        with pytest.raises(ConfigError, match="accord_suite_missing"):
            connector.describe("accord_suite_missing")

    # -- read -----------------------------------------------------------------------------
    @pytest.mark.parametrize("size", SIZES)
    def test_read_by_key_in_batches(
        self, harness: SuiteHarness, connector: Connector, size: int
    ) -> None:
        # Modified times run against the keys, so ordering by modified would show.
        rows = [self.item(harness, i, modified=self.at(harness, -i)) for i in range(1, size + 1)]
        table = self.make_items(harness, rows[::-1])
        batches = self.read_all(connector, table, batch_size=BATCH)
        assert keys_of(batches) == [row[harness.key_field] for row in rows]

    @pytest.mark.parametrize("size", SIZES)
    def test_read_modified_after_in_batches(
        self, harness: SuiteHarness, connector: Connector, size: int
    ) -> None:
        # Groups of three share a modified time, and later keys are modified earlier, so
        # keyset pagination must break ties by key across batch boundaries.
        key, modified = harness.key_field, harness.modified_field
        rows = [
            self.item(harness, i, modified=self.at(harness, (size - i) // 3))
            for i in range(1, size + 1)
        ]
        table = self.make_items(harness, rows)
        batches = self.read_all(
            connector, table, modified_after=self.at(harness, -1), batch_size=BATCH
        )
        expected = sorted(rows, key=lambda row: (row[modified], row[key]))
        assert keys_of(batches) == [row[key] for row in expected]

    def test_read_modified_after_is_strict(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        rows = [self.item(harness, i, modified=self.at(harness, ticks=i // 2)) for i in range(8)]
        table = self.make_items(harness, rows)
        cutoff = self.at(harness, ticks=2)  # records 4 and 5 have exactly this
        modified = harness.modified_field
        assert rows[4][modified] == rows[5][modified] == cutoff
        batches = self.read_all(connector, table, modified_after=cutoff, batch_size=BATCH)
        k = harness.key
        self.after_bound(harness, keys_of(batches), [k(6), k(7)], [k(4), k(5)])
        assert self.read_all(connector, table, modified_after=self.at(harness, 3 * 86400)) == []

    def test_read_records_without_modified_value(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        if not harness.versions_may_be_missing:
            pytest.skip("every record of this system has a modified-on value")
        k = harness.key
        rows = [self.item(harness, 1), self.item(harness, 2, modified=None), self.item(harness, 3)]
        table = self.make_items(harness, rows)
        found = self.records(connector, table)
        assert list(found) == [k(1), k(2), k(3)]
        assert found[k(2)].version is None
        after = self.records(connector, table, modified_after=self.at(harness))
        assert list(after) == [k(1), k(3)]
        assert connector.count(table, modified_after=self.at(harness)) == 2

    def test_read_record_shape(self, harness: SuiteHarness, connector: Connector) -> None:
        due = cut(datetime(2024, 5, 6, 7, 8, 9, 10), harness.resolution)
        row = self.item(harness, 7, note="a note", due=due)
        table = self.make_items(harness, [row])
        [[record]] = self.read_all(connector, table)
        assert record.key == harness.key(7)
        assert record.version == row[harness.modified_field]
        assert set(record.values) == set(row) | harness.extra_fields
        assert self.values_of(harness, record) == row

    def test_read_keys(self, harness: SuiteHarness, connector: Connector) -> None:
        k = harness.key
        table = self.make_items(harness, [self.item(harness, i) for i in range(1, 21)])
        wanted = [k(15), k(3), "missing", k(3), k(20), k(99), k(1)]
        batches = self.read_all(connector, table, keys=wanted, batch_size=BATCH)
        assert keys_of(batches) == [k(1), k(3), k(15), k(20)]
        assert self.read_all(connector, table, keys=[]) == []
        assert self.read_all(connector, table, keys=["missing"]) == []

    def test_read_many_keys(self, harness: SuiteHarness, connector: Connector) -> None:
        odd = range(1, 1201, 2)
        table = self.make_items(harness, [self.item(harness, i) for i in odd])
        wanted = [harness.key(i) for i in range(1200, 0, -1)]  # 1,200 keys, half missing
        batches = self.read_all(connector, table, keys=wanted, batch_size=100)
        assert keys_of(batches) == [harness.key(i) for i in odd]

    def test_read_keys_with_filter_and_modified_after(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        k = harness.key
        table = self.make_items(harness, [self.item(harness, i) for i in range(1, 11)])
        found = self.records(
            connector,
            table,
            keys=[k(2), k(4), k(5), k(8), k(9)],
            filter=parse_filter("qty gt 2"),
            modified_after=self.at(harness, 4),  # record 4 was modified exactly then
        )
        self.after_bound(harness, sorted(found), [k(5), k(8), k(9)], [k(4)])

    @pytest.mark.parametrize(
        "fields", [["name"], ["price", "name"], [], ["<key>", "<modified>", "qty"]], ids=repr
    )
    def test_read_fields(
        self, harness: SuiteHarness, connector: Connector, fields: list[str]
    ) -> None:
        named = {"<key>": harness.key_field, "<modified>": harness.modified_field}
        fields = [named.get(f, f) for f in fields]
        always = {harness.key_field, harness.modified_field}
        row = self.item(harness, 3)
        table = self.make_items(harness, [row, self.item(harness, 4)])
        found = self.records(connector, table, fields=fields)
        record = found[harness.key(3)]
        assert set(record.values) == {*fields, *always}
        assert record.values == {name: row[name] for name in record.values}
        assert record.version == row[harness.modified_field]
        keyed = self.records(connector, table, fields=fields, keys=[harness.key(4)])
        assert set(keyed[harness.key(4)].values) == {*fields, *always}

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
    """Notes of the records the filter tests select from (record 1, 2, ...)."""

    def check_filters(
        self, harness: SuiteHarness, connector: Connector, cases: Sequence[tuple[str, list[int]]]
    ) -> None:
        """Read and count with each filter; report every mismatch at once."""
        rows = [self.item(harness, i, note=note) for i, note in self.FILTER_ROWS]
        table = self.make_items(harness, rows)
        failures = []
        for text, numbers in cases:
            condition = parse_filter(text)
            expected = [harness.key(i) for i in numbers]
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
        table = self.make_items(harness, [self.item(harness, i) for i in range(1, 24)])
        options: dict[str, Any] = {
            "filter": None if filter_text is None else parse_filter(filter_text),
            "modified_after": None if after_seconds is None else self.at(harness, after_seconds),
        }
        read = keys_of(self.read_all(connector, table, batch_size=BATCH, **options))
        assert connector.count(table, **options) == len(read)

    # -- write ----------------------------------------------------------------------------
    def test_write_nothing(self, harness: SuiteHarness, connector: Connector) -> None:
        table = self.make_items(harness, [self.item(harness, 1)])
        assert connector.write(table, []) == []

    def test_write_insert_update_delete_in_one_batch(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        self.require(connector, "client_keys", "delete")
        k = harness.key
        table = self.make_items(harness, [self.item(harness, i) for i in (1, 2, 3)])
        changes = [
            Change(ChangeKind.INSERT, k(100), {"name": "new", "label": "inserted", "qty": 5}),
            Change(ChangeKind.UPDATE, k(1), {"name": "changed"}),
            Change(ChangeKind.DELETE, k(2)),
            Change(ChangeKind.INSERT, k(101), {"label": "also inserted"}),
        ]
        results = connector.write(table, changes)
        self.assert_ok(results, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        found = self.records(connector, table)
        assert list(found) == [k(1), k(3), k(100), k(101)]
        assert found[k(1)].values["name"] == "changed"
        inserted = found[k(100)].values
        assert (inserted["name"], inserted["label"], inserted["qty"]) == ("new", "inserted", 5)
        assert inserted["note"] is None and inserted["price"] is None
        assert found[k(101)].values["name"] is None

    def test_write_a_full_batch(self, harness: SuiteHarness, connector: Connector) -> None:
        """``capabilities.batch_size`` changes at once (up to 1,000 here) are all applied."""
        self.require(connector, "client_keys")
        size = min(connector.capabilities.batch_size, 1000)
        table = self.make_items(harness)
        inserts = [
            Change(ChangeKind.INSERT, harness.key(i), {"label": f"l{i}", "qty": i})
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
        k, modified = harness.key, harness.modified_field
        rows = [self.item(harness, 1, note="keep me"), self.item(harness, 2)]
        table = self.make_items(harness, rows)
        changes = [Change(ChangeKind.UPDATE, k(1), {"qty": 42, "note": None})]
        self.assert_ok(connector.write(table, changes), changes)
        found = self.records(connector, table)
        expected = {**rows[0], "qty": 42, "note": None, modified: found[k(1)].version}
        assert self.values_of(harness, found[k(1)]) == expected
        assert self.values_of(harness, found[k(2)]) == rows[1]
        assert found[k(2)].version == rows[1][modified]

    def test_version_is_the_stored_modified_value(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        """The version a write reports is the one stored (stamped by the connector or by the
        system), and each write's is later than the last."""
        self.require(connector, "client_keys")
        k, modified = harness.key, harness.modified_field
        table = self.make_items(harness, [self.item(harness, 1)])
        changes = [
            Change(ChangeKind.UPDATE, k(1), {"name": "first"}),
            Change(ChangeKind.INSERT, k(2), {"label": "new"}),
        ]
        harness.tick()
        first = connector.write(table, changes)
        self.assert_ok(first, changes)
        found = self.records(connector, table)
        for result in first:
            assert isinstance(result.version, datetime) and result.version.tzinfo is None
            assert found[result.key].version == result.version
            assert found[result.key].values[modified] == result.version
        assert first[0].version is not None and first[0].version > self.at(harness, 1)
        versions = {r.key: r.version for r in first}
        for attempt in range(3):
            again = [
                Change(ChangeKind.UPDATE, k(1), {"qty": attempt}),
                Change(ChangeKind.UPDATE, k(2), {"qty": attempt}),
            ]
            harness.tick()
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
        k = harness.key
        table = self.make_items(harness, [self.item(harness, 1), self.item(harness, 2)])
        changes = [
            Change(ChangeKind.UPDATE, k(1), {"name": "one"}),
            Change(ChangeKind.UPDATE, k(404), {"name": "ghost"}),
            Change(ChangeKind.INSERT, k(3), {"label": "three"}),
            Change(ChangeKind.UPDATE, k(2), {"name": "two"}),
        ]
        results = connector.write(table, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        assert [r.ok for r in results] == [True, False, True, True]
        assert results[1].error and results[1].version is None
        found = self.records(connector, table)
        assert list(found) == [k(1), k(2), k(3)]
        assert [found[key].values["name"] for key in (k(1), k(2))] == ["one", "two"]

    VIOLATIONS: ClassVar[tuple[str, ...]] = (
        "duplicate key",
        "insert null into not null",
        "update not null to null",
        "insert too long",
        "update too long",
        "invalid key",
        "unknown field",
    )

    @staticmethod
    def violation(harness: SuiteHarness, name: str) -> tuple[Change, tuple[str, ...]]:
        """The bad change of a violation, and the words its reason may name (any of them)."""
        k = harness.key
        cases: dict[str, tuple[Change, tuple[str, ...]]] = {
            "duplicate key": (Change(ChangeKind.INSERT, k(2), {"label": "again"}), ()),
            "insert null into not null": (
                Change(ChangeKind.INSERT, k(50), {"label": None, "name": "x"}),
                ("label",),
            ),
            "update not null to null": (
                Change(ChangeKind.UPDATE, k(2), {"label": None}),
                ("label",),
            ),
            "insert too long": (
                Change(ChangeKind.INSERT, k(50), {"label": "l", "name": "twelve chars"}),
                ("name",),
            ),
            "update too long": (Change(ChangeKind.UPDATE, k(2), {"name": "x" * 11}), ("name",)),
            "invalid key": (
                Change(ChangeKind.INSERT, harness.invalid_key, {"label": "l"}),
                (harness.key_field, harness.invalid_key),
            ),
            "unknown field": (Change(ChangeKind.UPDATE, k(2), {"nope": 1}), ("nope",)),
        }
        return cases[name]

    @pytest.mark.parametrize("violation_name", VIOLATIONS)
    def test_violation_fails_alone(
        self, harness: SuiteHarness, connector: Connector, violation_name: str
    ) -> None:
        self.require(connector, "client_keys")
        k = harness.key
        bad, words = self.violation(harness, violation_name)
        rows = [self.item(harness, i) for i in (1, 2, 3)]
        table = self.make_items(harness, rows)
        changes = [
            Change(ChangeKind.UPDATE, k(1), {"name": "before"}),
            Change(ChangeKind.INSERT, k(10), {"label": "before"}),
            bad,
            Change(ChangeKind.INSERT, k(11), {"label": "after"}),
            Change(ChangeKind.UPDATE, k(3), {"name": "after"}),
        ]
        results = connector.write(table, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        assert [r.ok for r in results] == [True, True, False, True, True], results
        reason = results[2].error
        assert isinstance(reason, str) and reason.strip(), "a failure needs a reason"
        assert "\n" not in reason.strip(), f"the reason should be one line: {reason!r}"
        if words:
            assert any(w in reason for w in words), f"the reason should name {words}: {reason!r}"
        found = self.records(connector, table)
        assert list(found) == [k(1), k(2), k(3), k(10), k(11)]
        assert self.values_of(harness, found[k(2)]) == rows[1], "the failed change was applied"
        assert found[k(1)].values["name"] == "before"
        assert found[k(3)].values["name"] == "after"

    def test_duplicate_key_within_one_batch(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        self.require(connector, "client_keys")
        k = harness.key
        table = self.make_items(harness, [self.item(harness, 1)])
        changes = [
            Change(ChangeKind.INSERT, k(5), {"label": "first"}),
            Change(ChangeKind.INSERT, k(5), {"label": "second"}),
            Change(ChangeKind.UPDATE, k(1), {"label": "updated"}),
        ]
        results = connector.write(table, changes)
        assert [r.ok for r in results] == [True, False, True]
        assert results[1].error
        found = self.records(connector, table)
        assert found[k(5)].values["label"] == "first"
        assert found[k(1)].values["label"] == "updated"

    def test_delete(self, harness: SuiteHarness, connector: Connector) -> None:
        self.require(connector, "delete")
        k = harness.key
        table = self.make_items(harness, [self.item(harness, i) for i in (1, 2, 3)])
        changes = [
            Change(ChangeKind.DELETE, k(2)),
            Change(ChangeKind.DELETE, k(404)),
            Change(ChangeKind.DELETE, k(3)),
            Change(ChangeKind.DELETE, k(3)),
        ]
        results = connector.write(table, changes)
        self.assert_ok(results, changes)
        assert [r.key for r in results] == [c.key for c in changes]
        assert list(self.records(connector, table)) == [k(1)]
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
        k = harness.key
        table = self.make_items(harness, [self.item(harness, 1, note=None), self.item(harness, 2)])
        read = self.records(connector, table)
        changes = [
            self.expecting(read[k(1)], Change(ChangeKind.UPDATE, k(1), {"name": "new"})),
            # a blank read is a condition too (NULL IS NOT DISTINCT FROM NULL)
            self.expecting(read[k(1)], Change(ChangeKind.UPDATE, k(1), {"note": "x"})),
        ]
        first = connector.write(table, changes[:1])
        self.assert_ok(first, changes[:1])
        assert not first[0].stale
        again = self.records(connector, table)
        second = self.expecting(again[k(1)], Change(ChangeKind.UPDATE, k(1), {"note": "x"}))
        self.assert_ok(connector.write(table, [second]), [second])
        found = self.records(connector, table)[k(1)].values
        assert (found["name"], found["note"]) == ("new", "x")

    def test_conditional_update_of_changed_record_is_stale(
        self, harness: SuiteHarness, connector: Connector
    ) -> None:
        """Changed since read (a new version, or other values under the same version, as a
        coarse clock gives): nothing written, reported ``stale``; the rest of the batch goes."""
        self.require(connector, "optimistic_concurrency", "client_keys")
        k = harness.key
        table = self.make_items(harness, [self.item(harness, i) for i in range(1, 6)])
        read = self.records(connector, table)
        # Another writer edits record 1 after the engine's read (a new version).
        harness.edit(table, k(1), {"note": "their edit"})
        before = self.records(connector, table)
        assert before[k(1)].values["note"] == "their edit"
        wrong_value = self.expecting(read[k(2)], Change(ChangeKind.UPDATE, k(2), {"qty": 9}))
        wrong_value.expected = Expected(read[k(2)].version, {"qty": 12345})  # not what it holds
        changes = [
            self.expecting(read[k(1)], Change(ChangeKind.UPDATE, k(1), {"note": "ours"})),
            wrong_value,
            self.expecting(read[k(3)], Change(ChangeKind.UPDATE, k(3), {"name": "fresh"})),
            Change(ChangeKind.UPDATE, k(404), {"name": "ghost"}, expected=Expected(None, {})),
            Change(ChangeKind.UPDATE, k(4), {"name": "plain"}),  # unconditional
            Change(ChangeKind.INSERT, k(6), {"label": "new"}),
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
        assert after[k(1)].values == before[k(1)].values, "a stale update wrote"
        assert after[k(2)].values == before[k(2)].values, "a stale update wrote"
        assert after[k(3)].values["name"] == "fresh"
        assert after[k(4)].values["name"] == "plain"
        assert k(6) in after

    def test_conditional_updates_in_bulk(self, harness: SuiteHarness, connector: Connector) -> None:
        """A batch of conditional updates where a few are stale, and one refused for its
        value (the batch then goes record by record): each gets its own outcome."""
        self.require(connector, "optimistic_concurrency")
        k = harness.key
        size = min(connector.capabilities.batch_size, 60)
        table = self.make_items(harness, [self.item(harness, i) for i in range(size)])
        read = self.records(connector, table)
        edited = {k(i) for i in range(0, size, 7)}
        edits = [Change(ChangeKind.UPDATE, key, {"qty": -1}) for key in sorted(edited)]
        self.assert_ok(connector.write(table, edits), edits)
        changes = [
            self.expecting(read[key], Change(ChangeKind.UPDATE, key, {"qty": 1000 + i}))
            for i, key in enumerate(sorted(read))
        ]
        changes[1].values = {"name": "x" * 11}  # too long: refused alone
        changes[1].expected = Expected(read[k(1)].version, {"name": read[k(1)].values["name"]})
        results = connector.write(table, changes)
        after = self.records(connector, table, batch_size=size)
        for change, result in zip(changes, results, strict=True):
            if change.key in edited:
                assert (result.ok, result.stale) == (False, True), result
                assert after[change.key].values["qty"] == -1
            elif change.key == k(1):
                assert not result.ok and not result.stale and "name" in result.error
            else:
                assert result.ok, result
                assert after[change.key].values["qty"] == change.values["qty"]

    # -- max_key --------------------------------------------------------------------------
    def test_max_key(self, harness: SuiteHarness, connector: Connector) -> None:
        """The greatest key by code point among those with a prefix (of the system's keys)."""
        keys = [harness.key(n) for n in (1, 2, 9, 10, 11, 300, 1234)]
        table = self.make_items(
            harness, [self.item(harness, i, key=key) for i, key in enumerate(keys)]
        )
        prefixes = {"", *(key[:cut] for key in keys for cut in (1, len(key) // 2, len(key)))}
        prefixes |= {keys[0] + "x", "~"}  # longer than any key; after every character used
        expected = {
            p: max((key for key in keys if key.startswith(p)), default=None) for p in prefixes
        }
        found = {prefix: connector.max_key(table, prefix) for prefix in expected}
        assert found == expected

    def test_max_key_of_text_keys(self, harness: SuiteHarness, connector: Connector) -> None:
        if not harness.text_keys:
            pytest.skip("keys have the system's own shape")
        keys = ["C0001", "C0002", "C0010", "C0009", "CX", "D0001", "c0099", "A%1", "A%2"]
        keys += ["A_1", "AB9", "A/9", "AZ"]
        table = self.make_items(harness, [self.item(harness, i, key=k) for i, k in enumerate(keys)])
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
        assert connector.max_key(self.make_items(harness), harness.key(1)[:1]) is None

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
        "nulls": {f.name: None for f in DATA_FIELDS if f.nullable},
        "unicode": {"name": "Zürich ✓", "note": "Ωmega — 東京 😀"},
        "quotes": {"name": "a'b\"c\\d", "note": "'; DROP TABLE x; --"},
        "long text": {"note": "x" * 5000},
        "full length": {"name": "0123456789"},
    }
    """Values each written by an insert and by an update, then read back equal and same-typed
    (datetimes cut to the harness's resolution first)."""

    def test_round_trip(self, harness: SuiteHarness, connector: Connector) -> None:
        self.require(connector, "client_keys")
        k = harness.key
        cases = [
            (
                case,
                {
                    n: cut(v, harness.resolution) if isinstance(v, datetime) else v
                    for n, v in values.items()
                },
            )
            for case, values in self.ROUND_TRIP.items()
        ]
        table = self.make_items(harness, [self.item(harness, i) for i in range(len(cases))])
        changes = []
        for i, (_, values) in enumerate(cases):
            changes.append(Change(ChangeKind.UPDATE, k(i), dict(values)))
            changes.append(Change(ChangeKind.INSERT, k(i + 100), {"label": "l", **values}))
        self.assert_ok(connector.write(table, changes), changes)
        found = self.records(connector, table)
        failures = []
        for i, (case, values) in enumerate(cases):
            for key in (k(i), k(i + 100)):
                stored = found[key].values
                for name, value in values.items():
                    if stored[name] != value or type(stored[name]) is not type(value):
                        failures.append(f"{case}: wrote {name}={value!r}, read {stored[name]!r}")
        assert not failures, "\n".join(failures)

    def test_seeded_value_types(self, harness: SuiteHarness, connector: Connector) -> None:
        due = cut(datetime(2024, 3, 4, 5, 6, 7, 8), harness.resolution)
        row = self.item(harness, 1, price=Decimal("1234.56"), due=due)
        blank = self.item(harness, 2, active=None, qty=None, price=None)
        table = self.make_items(harness, [row, blank])
        found = self.records(connector, table)
        values = self.values_of(harness, found[harness.key(1)])
        assert values == row
        types = {name: type(value) for name, value in values.items()}
        assert types == {
            harness.key_field: str,
            "name": str,
            "label": str,
            "note": type(None),
            "qty": int,
            "price": Decimal,
            "active": bool,
            "due": datetime,
            harness.modified_field: datetime,
        }
        assert values["due"].tzinfo is None and values[harness.modified_field].tzinfo is None
        assert found[harness.key(2)].values["active"] is None
