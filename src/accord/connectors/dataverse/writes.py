"""Writes to one Dataverse table: bulk creates and updates, conditional updates, deletes.

* Creates carry the GUID the engine chose and go by ``CreateMultiple``; updates without a
  condition by ``UpdateMultiple``. Both are all-or-nothing on standard tables, so a batch the
  service refuses is split in halves until only the bad records fail, each with Dataverse's
  own message and code.
* A create whose answer was lost may have been applied: the ids it carried are read back, a
  record found with the values sent counts as created, and only the others are sent again,
  so a lost answer never makes a duplicate.
* A conditional update (``Change.expected``) is a ``PATCH`` with ``If-Match`` on the ETag
  read with the version the engine expects (the row is read first when no such ETag is
  known); 412 means someone edited the record since: a *stale* result, nothing written.
* Deletes are ``DELETE``; a record already gone counts as deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from accord.connectors.dataverse.http import ResponseLost, service_error
from accord.connectors.dataverse.metadata import Attribute, Entity
from accord.connectors.dataverse.odata import query_string, record_path
from accord.connectors.dataverse.values import from_wire, loads, to_wire
from accord.errors import RecordError
from accord.model import STALE, Change, ChangeKind, WriteResult
from accord.model.values import coerce, same

if TYPE_CHECKING:
    from accord.connectors.dataverse.connector import DataverseConnector

DUPLICATE = "0x80040237"
NOT_FOUND = "0x80040217"
LOST_ANSWERS = 3
"""Creates sent again at most this often after their answer was lost."""


@dataclass(slots=True)
class _Item:
    position: int
    change: Change
    body: dict[str, Any] = field(default_factory=dict)


class Writer:
    """The writes of one :meth:`DataverseConnector.write` call."""

    def __init__(self, connector: DataverseConnector, table: str) -> None:
        self.connector = connector
        self.http = connector.http
        self.table = table
        self.entity: Entity = connector.entity(table)
        self.schema = connector.describe(table)
        self.results: dict[int, WriteResult] = {}
        self.written: list[int] = []
        """Positions written without a version yet (read back at the end)."""

    def write(self, changes: Sequence[Change]) -> list[WriteResult]:
        items: list[_Item] = []
        inserted: set[str] = set()
        for position, change in enumerate(changes):
            item = _Item(position, change)
            reason = self._prepare(item)
            if reason is None and change.kind is ChangeKind.INSERT:
                key = change.key.lower()
                if key in inserted:
                    reason = f"duplicate key {change.key!r}: inserted twice in one batch"
                inserted.add(key)
            if reason is not None:
                self.results[position] = WriteResult(change.key, False, error=reason)
            else:
                items.append(item)
        for run in _runs(items):
            kind = run[0].change.kind
            if kind is ChangeKind.INSERT:
                self._create(run, lost=0)
            elif kind is ChangeKind.UPDATE:
                plain = [i for i in run if i.change.expected is None]
                for start in range(0, len(plain), self.connector.capabilities.batch_size):
                    self._update_many(plain[start : start + self.connector.capabilities.batch_size])
                for item in run:
                    if item.change.expected is not None:
                        self._update_if_unchanged(item)
            else:
                for item in run:
                    self._delete(item)
        self._read_versions(changes)
        return [self.results[i] for i in range(len(changes))]

    # -- preparing bodies -----------------------------------------------------------------
    def _prepare(self, item: _Item) -> str | None:
        """Build the body of a create or update; the reason it cannot be sent, if any."""
        change = item.change
        if change.kind is ChangeKind.DELETE:
            return self._check_key(change.key)
        reason = self._check_key(change.key)
        if reason is not None:
            return reason
        body = item.body
        if change.kind is ChangeKind.INSERT:
            body[self.entity.primary_id] = (
                change.key.lower() if self.entity.guid_keys else change.key
            )
        for name, value in change.values.items():
            if name == self.entity.primary_id:
                continue
            attribute = self.entity.attributes.get(name)
            if attribute is None:
                return f"field '{name}': table '{self.table}' has no such column"
            allowed = (
                attribute.creatable if change.kind is ChangeKind.INSERT else attribute.updatable
            )
            if not allowed:
                return f"field '{name}' cannot be set by a {change.kind} in Dataverse"
            if not change.checked:
                if value is None and not attribute.nullable:
                    return f"field '{name}' is required and cannot be null"
                try:
                    value = coerce(value, attribute.info())
                except RecordError as exc:
                    return str(exc)
            if attribute.is_lookup:
                try:
                    body.update(self._bind(attribute, value))
                except RecordError as exc:
                    return str(exc)
            else:
                body[name] = to_wire(value, attribute)
        return None

    def _check_key(self, key: str) -> str | None:
        if not self.entity.guid_keys:
            return None
        from accord.connectors.dataverse.odata import key_literal

        if key_literal(self.entity, key) is None:
            return f"key {key!r} is not a GUID (Dataverse identifies records by GUID)"
        return None

    def _bind(self, attribute: Attribute, value: Any) -> dict[str, Any]:
        """``{"nav@odata.bind": "/<set>(<id>)"}`` for a lookup's new value."""
        if not attribute.navigation:
            raise RecordError(f"field '{attribute.name}': lookup with no known target table")
        if value is None or value == "":
            first = next(iter(attribute.navigation.values()))
            return {f"{first}@odata.bind": None}
        text = str(value)
        target, _, guid = text.rpartition(":")
        if not target:
            target = self._target_of(attribute, guid)
        navigation = attribute.navigation.get(target)
        if navigation is None:
            raise RecordError(
                f"field '{attribute.name}': cannot point to a '{target}' (it takes "
                f"{', '.join(attribute.navigation)})"
            )
        target_set = self.connector.entity(target).entity_set
        return {f"{navigation}@odata.bind": f"/{target_set}({guid.lower()})"}

    def _target_of(self, attribute: Attribute, guid: str) -> str:
        """The table a polymorphic lookup's GUID is in (the only one, or the one holding it)."""
        targets = list(attribute.navigation)
        if len(targets) == 1:
            return targets[0]
        for target in targets:
            entity = self.connector.entity(target)
            path = f"{record_path(entity, guid)}?$select={entity.primary_id}"
            if self.http.send("GET", path).status_code == 200:
                return target
        raise RecordError(f"field '{attribute.name}': no {' or '.join(targets)} has id {guid!r}")

    # -- creates --------------------------------------------------------------------------
    def _create(self, items: list[_Item], *, lost: int) -> None:
        size = self.connector.capabilities.batch_size
        for start in range(0, len(items), size):
            self._create_some(items[start : start + size], lost=lost)

    def _create_some(self, items: list[_Item], *, lost: int) -> None:
        if not items:
            return
        logical = self.entity.logical
        targets = [{**i.body, "@odata.type": f"Microsoft.Dynamics.CRM.{logical}"} for i in items]
        path = f"{self.entity.entity_set}/Microsoft.Dynamics.CRM.CreateMultiple"
        try:
            response = self.http.send("POST", path, body={"Targets": targets}, idempotent=False)
        except ResponseLost as exc:
            if lost + 1 >= LOST_ANSWERS:
                raise
            self._settle_lost_creates(items, lost=lost + 1, why=str(exc))
            return
        if response.status_code < 300:
            for item in items:
                self._succeeded(item)
            return
        self._split(items, response, lambda part: self._create_some(part, lost=lost))

    def _settle_lost_creates(self, items: list[_Item], *, lost: int, why: str) -> None:
        """After a lost answer: created records are done, the others are sent again."""
        names = sorted({n for i in items for n in i.change.values})
        found = {}
        for batch in self.connector.read(
            self.table, keys=[i.change.key for i in items], fields=names
        ):
            found.update({r.key: r for r in batch})
        again: list[_Item] = []
        for item in items:
            key = item.change.key.lower() if self.entity.guid_keys else item.change.key
            record = found.get(key)
            if record is None:
                again.append(item)
                continue
            other = next(
                (
                    n
                    for n, v in item.change.values.items()
                    if n in record.values and not same(v, record.values[n])
                ),
                None,
            )
            if other is None:
                self.results[item.position] = WriteResult(item.change.key, True, record.version)
            else:
                self._failed(
                    item,
                    f"a record with id {item.change.key!r} already exists with other values "
                    f"({other}) after a create whose answer was lost ({why}); left as it is",
                )
        self._create(again, lost=lost)

    # -- updates --------------------------------------------------------------------------
    def _update_many(self, items: list[_Item]) -> None:
        if not items:
            return
        logical = self.entity.logical
        targets = []
        for item in items:
            key = item.change.key.lower() if self.entity.guid_keys else item.change.key
            targets.append(
                {
                    **item.body,
                    self.entity.primary_id: key,
                    "@odata.type": f"Microsoft.Dynamics.CRM.{logical}",
                }
            )
        path = f"{self.entity.entity_set}/Microsoft.Dynamics.CRM.UpdateMultiple"
        response = self.http.send("POST", path, body={"Targets": targets}, idempotent=True)
        if response.status_code < 300:
            for item in items:
                self._succeeded(item)
            return
        self._split(items, response, self._update_many)

    def _update_if_unchanged(self, item: _Item) -> None:
        change = item.change
        expected = change.expected
        assert expected is not None
        key = change.key.lower() if self.entity.guid_keys else change.key
        etag = None
        known = self.connector.etags.get((self.table, key))
        if known is not None and known[1] == expected.version and _holds(known[2], expected.values):
            etag = known[0]
        if etag is None:
            etag = self._etag_if_unchanged(item)
            if etag is None:
                return
        modified = self.schema.modified
        select = f"?{query_string({'$select': modified})}" if modified else ""
        response = self.http.send(
            "PATCH",
            record_path(self.entity, key) + select,
            body=item.body,
            headers={"If-Match": etag, "Prefer": "return=representation"},
        )
        status = response.status_code
        if status == 412:
            self._stale(item)
        elif status == 404:
            self._failed(item, "record not found")
        elif status >= 400:
            self._failed(item, str(service_error(response)))
        elif status == 200 and modified:
            row = loads(response.content)
            version = from_wire(row.get(modified), self.entity.attributes[modified])
            self.results[item.position] = WriteResult(change.key, True, version)
        else:
            self._succeeded(item)

    def _etag_if_unchanged(self, item: _Item) -> str | None:
        """Read the row: its ETag if it is as the engine read it; else settle the change."""
        change = item.change
        expected = change.expected
        assert expected is not None
        names = [n for n in expected.values if n in self.entity.attributes]
        found = list(self.connector.read(self.table, keys=[change.key], fields=names))
        if not found or not found[0]:
            self._failed(item, "record not found")
            return None
        record = found[0][0]
        if record.version != expected.version or not _holds(record.values, expected.values):
            self._stale(item)
            return None
        known = self.connector.etags.get((self.table, record.key))
        if known is None:
            self._failed(item, "Dataverse sent no ETag for the record")
            return None
        return known[0]

    # -- deletes --------------------------------------------------------------------------
    def _delete(self, item: _Item) -> None:
        key = item.change.key.lower() if self.entity.guid_keys else item.change.key
        response = self.http.send("DELETE", record_path(self.entity, key))
        status = response.status_code
        if status < 300 or status == 404:
            self.connector.etags.pop((self.table, key), None)
            self.results[item.position] = WriteResult(item.change.key, True)
        else:
            self._failed(item, str(service_error(response)))

    # -- outcomes -------------------------------------------------------------------------
    def _split(self, items: list[_Item], response: Any, again: Any) -> None:
        """A bulk request was refused: alone, the record fails; else each half is tried."""
        error = service_error(response)
        if error.status in (401, 403):
            raise self.connector.failure(response, f"writing table '{self.table}'")
        if len(items) == 1:
            reason = "record not found" if error.code == NOT_FOUND else str(error)
            self._failed(items[0], reason)
            return
        middle = len(items) // 2
        again(items[:middle])
        again(items[middle:])

    def _succeeded(self, item: _Item) -> None:
        self.results[item.position] = WriteResult(item.change.key, True)
        self.written.append(item.position)

    def _failed(self, item: _Item, reason: str) -> None:
        self.results[item.position] = WriteResult(item.change.key, False, error=reason)

    def _stale(self, item: _Item) -> None:
        self.results[item.position] = WriteResult(item.change.key, False, error=STALE, stale=True)

    def _read_versions(self, changes: Sequence[Change]) -> None:
        """The new version of each record written (one read for them all)."""
        if not self.written or self.schema.modified is None:
            return
        keys = [changes[p].key for p in self.written]
        versions: dict[str, datetime | None] = {}
        for batch in self.connector.read(self.table, keys=keys, fields=[]):
            versions.update({r.key: r.version for r in batch})
        for position in self.written:
            key = changes[position].key
            lookup = key.lower() if self.entity.guid_keys else key
            self.results[position] = WriteResult(key, True, versions.get(lookup))


def _runs(items: list[_Item]) -> list[list[_Item]]:
    """Consecutive changes of one kind, in order (each run goes as few requests)."""
    runs: list[list[_Item]] = []
    for item in items:
        if runs and runs[-1][0].change.kind is item.change.kind:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _holds(values: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    return all(same(values.get(n), v) for n, v in expected.items() if n in values)
