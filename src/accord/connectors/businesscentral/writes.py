"""Writes to one Business Central table, in JSON ``$batch``es of up to 100 requests.

* **Creates** are ``POST`` with the number the engine chose; the 201 answer gives the
  record's id, ETag and ``lastModifiedDateTime`` (the result's version).
* **Updates** are ``PATCH`` on ``(<id>)`` with ``If-Match``: the ETag read with the version
  the engine expects for a conditional update (``Change.expected``; the record is read first
  when that ETag is not known), ``*`` otherwise. A 409 ``Request_EntityChanged`` means
  someone saved the record since: a *stale* result, nothing written.
* **Deletes** are ``DELETE`` with ``If-Match: *``; a record already gone counts as deleted.
* Each request has its own answer: a failing one fails its record alone, with Business
  Central's code and message. A request answered 429 or 503 is sent again after the time
  the service asks (up to ``max_wait``).
* **A batch whose answer was lost** may have been applied, wholly or partly, so it is never
  simply sent again: its records are read back by number first. A create found with the
  values sent succeeded (one found with others fails, left as it is), an update found
  holding its values succeeded, a delete whose record is gone succeeded; only the rest are
  sent again, so a lost answer never makes a duplicate.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from accord.connectors.businesscentral.batch import Answer, Request
from accord.connectors.businesscentral.metadata import wire_value
from accord.connectors.businesscentral.tables import Known
from accord.connectors.dataverse.http import ResponseLost
from accord.connectors.dataverse.values import from_wire
from accord.errors import RecordError, RetriableConnectorError
from accord.model import STALE, Change, ChangeKind, Record, WriteResult
from accord.model.values import coerce, same

if TYPE_CHECKING:
    from accord.connectors.businesscentral.connector import BusinessCentralConnector

ENTITY_CHANGED = "Request_EntityChanged"
CODE_KEYS = frozenset({"number", "code"})
"""Keys that are Code fields in Business Central, which upper-cases what is stored in them."""
LOST_ANSWERS = 3
"""Batches sent again at most this often after their answer was lost."""
BUSY = frozenset({429, 503})
"""Answers of one request that ask to send it again later (it was not applied)."""


@dataclass(slots=True)
class _Item:
    position: int
    change: Change
    body: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    etag: str = "*"


class Writer:
    """The writes of one :meth:`BusinessCentralConnector.write` call."""

    def __init__(self, connector: BusinessCentralConnector, table: str) -> None:
        self.bc = connector
        self.table = table
        self.where = connector.table(table)
        self.entity = self.where.entity
        self.key = self.where.key
        self.schema = connector.describe(table)
        self.results: dict[int, WriteResult] = {}
        self.unversioned: list[_Item] = []
        """Written without a version in the answer (read back at the end)."""
        self._answers: Any = None
        """How an answer's entity is read into a record (made on the first create)."""

    def write(self, changes: Sequence[Change]) -> list[WriteResult]:
        items: list[_Item] = []
        inserted: set[str] = set()
        for position, change in enumerate(changes):
            item = _Item(position, change)
            reason = self._prepare(item)
            if reason is None and change.kind is ChangeKind.INSERT:
                if self._key(item) in inserted:
                    reason = f"duplicate key {change.key!r}: inserted twice in one batch"
                inserted.add(self._key(item))
            if reason is not None:
                self._failed(item, reason)
            else:
                items.append(item)
        for segment in self._segments(items):
            self._locate([i for i in segment if i.change.kind is not ChangeKind.INSERT])
            self._send([i for i in segment if i.position not in self.results], lost=0)
        self._read_versions()
        return [self.results[i] for i in range(len(changes))]

    def _segments(self, items: list[_Item]) -> list[list[_Item]]:
        """The changes in runs that touch each record once: a change to a record an earlier
        change of its run touches (an update after its create) waits for the next run, so
        that its record is located after that change is applied."""
        segments: list[list[_Item]] = [[]]
        touched: set[str] = set()
        for item in items:
            key = self._key(item)
            if key in touched:
                segments.append([])
                touched.clear()
            segments[-1].append(item)
            touched.add(key)
        return segments

    # -- preparing ------------------------------------------------------------------------
    def _prepare(self, item: _Item) -> str | None:
        """Build the body of a create or update; the reason it cannot be sent, if any."""
        change = item.change
        if change.kind is ChangeKind.DELETE:
            return None
        if change.kind is ChangeKind.INSERT:
            if self.key.name in CODE_KEYS and change.key != change.key.upper():
                return (
                    f"number {change.key!r} is not upper-case: Business Central would store it "
                    f"as {change.key.upper()!r} (numbers and codes are Code fields); use an "
                    "upper-case new_keys series"
                )
            item.body[self.key.name] = self._key(item)
        for name, value in change.values.items():
            attribute = self.entity.attributes.get(name)
            if attribute is None:
                return f"field '{name}': table '{self.table}' has no such field"
            if name == self.key.name:
                if value is None or str(value) != change.key:
                    return f"field '{name}' is the key and cannot be changed (to {value!r})"
                continue
            allowed = (
                attribute.creatable if change.kind is ChangeKind.INSERT else attribute.updatable
            )
            if not allowed:
                return f"field '{name}' is read-only in Business Central"
            if not change.checked:  # a null becomes the field's blank (BC holds no nulls)
                try:
                    value = coerce(value, attribute.info())
                except RecordError as exc:
                    return str(exc)
            item.body[name] = wire_value(value, attribute)
        return None

    def _key(self, item: _Item) -> str:
        key = item.change.key
        return key.lower() if self.key.type == "Uniqueidentifier" else key

    def _locate(self, items: list[_Item]) -> None:
        """The id (and for a conditional update the ETag) each update and delete needs;
        records not remembered from a read are read, all in one go."""
        unknown: list[_Item] = []
        for item in items:
            known = self.bc.known.get((self.table, self._key(item)))
            expected = item.change.expected
            if known is None:
                unknown.append(item)
            elif expected is None:
                item.id = known.id
            elif known.version != expected.version or known.etag is None:
                unknown.append(item)
            elif known.values is None or not set(expected.values) <= set(known.values):
                unknown.append(item)  # the values expected are to be checked too
            elif _holds(known.values, expected.values):
                item.id, item.etag = known.id, known.etag
            else:
                self._stale(item)  # other values under the same version: a coarse clock
        if not unknown:
            return
        found = self._read_back(unknown)
        for item in unknown:
            record = found.get(self._key(item))
            known = self.bc.known.get((self.table, self._key(item)))
            expected = item.change.expected
            if record is None or known is None:
                if item.change.kind is ChangeKind.DELETE:
                    self.results[item.position] = WriteResult(item.change.key, True)
                else:
                    self._failed(item, "record not found")
            elif expected is None:
                item.id = known.id
            elif record.version != expected.version or not _holds(record.values, expected.values):
                self._stale(item)
            elif known.etag is None:
                self._failed(item, "Business Central sent no ETag for the record")
            else:
                item.id, item.etag = known.id, known.etag

    def _read_back(self, items: list[_Item]) -> dict[str, Record]:
        names: set[str] = set()
        for item in items:
            names.update(item.change.values)
            if item.change.expected is not None:
                names.update(item.change.expected.values)
        fields = sorted(n for n in names if n in self.entity.attributes)
        found: dict[str, Record] = {}
        keys = [i.change.key for i in items]
        for batch in self.bc.read(self.table, keys=keys, fields=fields):
            found.update({r.key: r for r in batch})
        return found

    # -- sending --------------------------------------------------------------------------
    def _request(self, item: _Item) -> Request:
        path = self.where.path
        kind = item.change.kind
        if kind is ChangeKind.INSERT:
            return Request("POST", path, item.body)
        one = f"{path}({item.id})"
        if kind is ChangeKind.UPDATE:
            return Request("PATCH", one, item.body, {"If-Match": item.etag})
        return Request("DELETE", one, headers={"If-Match": "*"})

    def _send(self, items: list[_Item], *, lost: int) -> None:
        size = min(self.bc.capabilities.batch_size, 100)
        for start in range(0, len(items), size):
            self._send_some(items[start : start + size], lost=lost)

    def _send_some(self, items: list[_Item], *, lost: int) -> None:
        waited = 0.0
        doing = f"writing table '{self.table}'"
        while items:
            try:
                answers = self.bc.send_batch(self.where, [self._request(i) for i in items], doing)
            except ResponseLost as exc:
                if lost + 1 >= LOST_ANSWERS:
                    raise
                self._settle_lost(items, lost=lost + 1, why=str(exc))
                return
            busy: list[_Item] = []
            delay = 0.0
            for item, answer in zip(items, answers, strict=True):
                if answer.status in BUSY:
                    busy.append(item)
                    delay = max(delay, _asked_wait(answer))
                else:
                    self._settle(item, answer)
            if busy:
                if waited + delay > self.bc.http.max_wait:
                    raise RetriableConnectorError(
                        f"system '{self.bc.name}': {doing}: the service kept asking to wait; "
                        f"gave up after waiting {waited:.0f} s (options.max_wait is "
                        f"{self.bc.http.max_wait:g} s)"
                    )
                waited += delay
                self.bc.http.waited += delay
                time.sleep(delay)
            items = busy

    def _settle(self, item: _Item, answer: Answer) -> None:
        kind = item.change.kind
        status = answer.status
        if status in (401, 403):  # not this record's fault: every other one would fail too
            raise self.bc.http.failure_of(answer.error(), f"writing table '{self.table}'")
        if kind is ChangeKind.DELETE:
            if status < 300 or status == 404:  # 404: gone already
                self.bc.forget(self.table, self._key(item))
                self.results[item.position] = WriteResult(item.change.key, True)
            else:
                self._failed(item, str(answer.error()))
            return
        if status < 300:
            self._written(item, answer.body)
            return
        error = answer.error()
        conditional = kind is ChangeKind.UPDATE and item.etag != "*"
        if conditional and (status == 412 or (status == 409 and error.code == ENTITY_CHANGED)):
            self._stale(item)
            return
        if kind is ChangeKind.UPDATE and status == 404:
            self.bc.forget(self.table, self._key(item))
            self._failed(item, f"record not found ({error})")
            return
        self._failed(item, str(error))

    def _written(self, item: _Item, body: Any) -> None:
        """A create or update succeeded; its answer's body gives id, ETag and version."""
        row = body if isinstance(body, Mapping) else {}
        ident, etag = row.get("id"), row.get("@odata.etag")
        modified = self.schema.modified
        version: datetime | None = None
        if modified and row.get(modified) is not None:
            version = from_wire(row.get(modified), self.entity.attributes[modified])
        values = None
        if item.change.kind is ChangeKind.INSERT and isinstance(ident, str) and version:
            # The 201 body is the entity as BC holds it: read it as a read would (which also
            # remembers its id, ETag and values), so the engine need not read it again.
            if self._answers is None:
                self._answers = self.bc.answer_reader(self.table)
            record = self._answers.record(row)
            if record is not None and record.key == self._key(item) and not record.error:
                values = record.values
        if values is None and isinstance(ident, str):
            known_etag = etag if isinstance(etag, str) else None
            self.bc.remember(self.table, self._key(item), Known(ident.lower(), known_etag, version))
        self.results[item.position] = WriteResult(item.change.key, True, version, values=values)
        if version is None and modified:
            self.unversioned.append(item)

    def _settle_lost(self, items: list[_Item], *, lost: int, why: str) -> None:
        """After a lost answer: what was applied is done, the rest is sent again."""
        found = self._read_back(items)
        again: list[_Item] = []
        for item in items:
            change = item.change
            record = found.get(self._key(item))
            known = self.bc.known.get((self.table, self._key(item)))
            if change.kind is ChangeKind.DELETE:
                if record is None:
                    self.results[item.position] = WriteResult(change.key, True)
                else:
                    again.append(item)
                continue
            if record is None:
                if change.kind is ChangeKind.INSERT:
                    again.append(item)
                else:
                    self._failed(item, "record not found")
                continue
            if _holds(record.values, change.values):
                self.results[item.position] = WriteResult(change.key, True, record.version)
            elif change.kind is ChangeKind.INSERT:
                self._failed(
                    item,
                    f"a record numbered {change.key!r} already exists with other values after "
                    f"a create whose answer was lost ({why}); left as it is",
                )
            elif item.etag != "*" and (known is None or known.etag != item.etag):
                self._stale(item)  # changed, and not by this update
            else:
                again.append(item)
        self._send(again, lost=lost)

    # -- outcomes -------------------------------------------------------------------------
    def _failed(self, item: _Item, reason: str) -> None:
        self.results[item.position] = WriteResult(item.change.key, False, error=reason)

    def _stale(self, item: _Item) -> None:
        self.results[item.position] = WriteResult(item.change.key, False, error=STALE, stale=True)

    def _read_versions(self) -> None:
        """The version of each record written whose answer gave none (one read for all)."""
        if not self.unversioned:
            return
        keys = [i.change.key for i in self.unversioned]
        versions = {
            r.key: r.version for b in self.bc.read(self.table, keys=keys, fields=[]) for r in b
        }
        for item in self.unversioned:
            version = versions.get(self._key(item))
            self.results[item.position] = WriteResult(item.change.key, True, version)


def _asked_wait(answer: Answer) -> float:
    value = answer.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    return 1.0


def _holds(values: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    return all(same(values.get(n), v) for n, v in expected.items() if n in values)
