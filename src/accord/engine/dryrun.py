"""Dry runs: the real engine code path, with writes that land in memory instead of a system.

A dry run swaps, for its duration, the project's state store for one whose transactions are
savepoints inside a transaction that is rolled back at the end, and every connector for a
:class:`ShadowConnector`. The shadow keeps what the engine writes in an overlay and lays that
overlay over what it reads, so later passes of the same run (the opposite direction, settle
passes, dependent mappings) see the writes of earlier ones exactly as in a real run. Nothing
reaches a system or the state store.

What a dry run cannot foresee: a write the system itself would refuse for a reason the engine
does not check (a unique index on a non-key column, a trigger). Every check the engine makes
— conversion, lengths, required fields, lookups, conflicts — runs as in a real run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from accord.connectors.base import (
    Capabilities,
    ChangeBatch,
    ChangeFeed,
    ChangeTracking,
    Connector,
)
from accord.model import Change, ChangeKind, Record, TableSchema, WriteResult
from accord.model.values import blank
from accord.state.store import utcnow

if TYPE_CHECKING:
    from accord.filters import Filter

GONE = "record not found: it was deleted in the meantime"


@dataclass(slots=True)
class _Written:
    values: dict[str, Any]
    version: datetime
    inserted: bool


class ShadowConnector:
    """Reads through to a real connector; writes go to an in-memory overlay."""

    def __init__(self, inner: Connector) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities: Capabilities = inner.capabilities
        self._written: dict[str, dict[str, _Written]] = {}
        self._deleted: dict[str, set[str]] = {}
        self._schemas: dict[str, TableSchema] = {}
        self._last = utcnow()

    # -- the overlay ----------------------------------------------------------------------
    def _stamp(self) -> datetime:
        now = utcnow()
        self._last = now if now > self._last else self._last + timedelta(microseconds=1)
        return self._last

    def _exists(self, table: str, keys: Sequence[str]) -> set[str]:
        written, deleted = self._written.get(table, {}), self._deleted.get(table, set())
        ask = [k for k in keys if k not in written and k not in deleted]
        found = {r.key for batch in self.inner.read(table, keys=ask, fields=[]) for r in batch}
        return found | {k for k in keys if k in written}

    def write(self, table: str, changes: Sequence[Change]) -> list[WriteResult]:
        written = self._written.setdefault(table, {})
        deleted = self._deleted.setdefault(table, set())
        targets = [c.key for c in changes if c.kind is not ChangeKind.INSERT]
        existing = self._exists(table, targets) if targets else set()
        results = []
        for change in changes:
            key = change.key
            if change.kind is ChangeKind.INSERT:
                if key in existing or key in written:
                    results.append(WriteResult(key, False, error=f"duplicate key {key!r}"))
                    continue
                deleted.discard(key)
                written[key] = _Written(self._new_row(table, change), self._stamp(), True)
            elif key not in existing:
                results.append(WriteResult(key, False, error=GONE))
                continue
            elif change.kind is ChangeKind.DELETE:
                written.pop(key, None)
                deleted.add(key)
                existing.discard(key)
            else:
                before = written.get(key)
                values = {**(before.values if before else {}), **change.values}
                written[key] = _Written(values, self._stamp(), bool(before and before.inserted))
            results.append(WriteResult(key, True, version=self._last))
        return results

    def _new_row(self, table: str, change: Change) -> dict[str, Any]:
        """A created record as the system would hold it: blanks where nothing was given."""
        schema = self.describe(table)
        row = {name: blank(info) for name, info in schema.fields.items()}
        row[schema.key] = change.key
        row.update(change.values)
        return row

    def _overlaid(self, table: str, record: Record) -> Record | None:
        if record.key in self._deleted.get(table, ()):
            return None
        mine = self._written.get(table, {}).get(record.key)
        if mine is None:
            return record
        values = {**record.values, **{k: v for k, v in mine.values.items() if k in record.values}}
        return Record(record.key, values, mine.version)

    # -- the connector interface ----------------------------------------------------------
    def describe(self, table: str) -> TableSchema:
        if table not in self._schemas:
            self._schemas[table] = self.inner.describe(table)
        return self._schemas[table]

    def read(
        self,
        table: str,
        *,
        filter: Filter | None = None,
        modified_after: datetime | None = None,
        keys: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> Iterator[list[Record]]:
        written = self._written.get(table, {})
        seen: set[str] = set()
        for batch in self.inner.read(
            table,
            filter=filter,
            modified_after=modified_after,
            keys=keys,
            fields=fields,
            batch_size=batch_size,
        ):
            out = []
            for record in batch:
                shown = self._overlaid(table, record)
                if shown is not None:
                    seen.add(record.key)
                    out.append(shown)
            if out:
                yield out
        # What the overlay changed but the system's own read could not return: records the
        # run created, and records it updated since ``modified_after``.
        wanted = set(keys) if keys is not None else None
        extra = [k for k in written if k not in seen and (wanted is None or k in wanted)]
        yield from self._extra(table, extra, filter, modified_after, fields, batch_size)

    def _extra(
        self,
        table: str,
        keys: list[str],
        filter: Filter | None,
        modified_after: datetime | None,
        fields: Sequence[str] | None,
        batch_size: int,
    ) -> Iterator[list[Record]]:
        written = self._written.get(table, {})
        for start in range(0, len(keys), batch_size):
            chunk = keys[start : start + batch_size]
            base = {
                r.key: r.values
                for batch in self.inner.read(table, keys=chunk, batch_size=batch_size)
                for r in batch
            }
            out = []
            for key in chunk:
                mine = written[key]
                if modified_after is not None and mine.version <= modified_after:
                    continue
                values = {**base.get(key, {}), **mine.values}
                if filter is not None and not filter.matches(values):
                    continue
                if fields is not None:
                    values = {f: values.get(f) for f in fields}
                out.append(Record(key, values, mine.version))
            if out:
                yield out

    # -- change tracking: the system's feed, with the overlay laid over it -----------------
    def tracks(self, table: str) -> bool:
        return cast(ChangeTracking, self.inner).tracks(table)

    def track(self, table: str) -> str:
        return cast(ChangeTracking, self.inner).track(table)  # a read: nothing is stored

    def read_changes(
        self,
        table: str,
        token: str | None,
        *,
        filter: Filter | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> ChangeFeed:
        """The feed a real run would read: the system's changes as the overlay shows them,
        then what the overlay wrote that the system's feed cannot know (a dry run's earlier
        passes wrote nothing the system saw). The token is not stored: the store rolls back."""
        feed = cast(ChangeTracking, self.inner).read_changes(
            table, token, filter=filter, fields=fields, batch_size=batch_size
        )
        return _ShadowFeed(self, table, feed, filter, fields, batch_size)

    def count(
        self, table: str, *, filter: Filter | None = None, modified_after: datetime | None = None
    ) -> int:
        added = sum(1 for w in self._written.get(table, {}).values() if w.inserted)
        return self.inner.count(table, filter=filter, modified_after=modified_after) + added

    def max_key(self, table: str, prefix: str) -> str | None:
        mine = [k for k in self._written.get(table, {}) if k.startswith(prefix)]
        found = self.inner.max_key(table, prefix)
        candidates = [k for k in (*mine, found) if k is not None]
        return max(candidates) if candidates else None

    def close(self) -> None:
        self.inner.close()


class _ShadowFeed:
    """A system's change feed seen through a :class:`ShadowConnector`'s overlay."""

    def __init__(
        self,
        shadow: ShadowConnector,
        table: str,
        feed: ChangeFeed,
        filter: Filter | None,
        fields: Sequence[str] | None,
        batch_size: int,
    ) -> None:
        self.shadow, self.table, self.feed = shadow, table, feed
        self.filter, self.fields, self.batch_size = filter, fields, batch_size

    @property
    def token(self) -> str | None:
        return self.feed.token

    def __iter__(self) -> Iterator[ChangeBatch]:
        shadow, table = self.shadow, self.table
        deleted = shadow._deleted.get(table, set())
        seen: set[str] = set()
        for batch in self.feed:
            records = []
            for record in batch.records:
                shown = shadow._overlaid(table, record)
                if shown is not None:
                    seen.add(record.key)
                    records.append(shown)
            yield ChangeBatch(records, [k for k in batch.deleted if k not in seen])
        extra = [k for k in shadow._written.get(table, {}) if k not in seen]
        for records in shadow._extra(table, extra, self.filter, None, self.fields, self.batch_size):
            yield ChangeBatch(records, [])
        gone = sorted(deleted - seen)
        if gone:
            yield ChangeBatch([], gone)
