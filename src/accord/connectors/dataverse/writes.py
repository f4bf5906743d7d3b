"""Writes to one Dataverse table: bulk creates and updates, conditional updates, deletes.

* Creates carry the GUID the engine chose and go by ``CreateMultiple``; updates without a
  condition by ``UpdateMultiple``. Both are all-or-nothing on standard tables, so a batch the
  service refuses is split in halves until only the bad records fail, each with Dataverse's
  own message and code.
* A create whose answer was lost (or came from a gateway: 502, 503, 504) may have been
  applied: the ids it carried are read back, a record found with the values sent counts as
  created, and only the others are sent again, so a lost answer never makes a duplicate.
* A conditional update (``Change.expected``) is a ``PATCH`` with ``If-Match`` on the ETag
  read with the version the engine expects; the row is read first (one read for the batch)
  when the engine names the values it expects, or no such ETag is known, and a record that
  holds other values is stale without a PATCH. 412 means someone edited the record since: a
  *stale* result, nothing written.
* Deletes are ``DELETE``; a record already gone counts as deleted.
* ``CreateMultiple`` answers only ids, and the engine needs each created record's version
  (``modifiedon``) to tell its own writes from later edits, so the versions are read back.
  A write of more creates than one bulk request takes (``bulk_size``) reads each request's
  versions in a second thread while the next request is sent: two requests at once at most,
  far under Dataverse's limit of concurrent requests (52).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from accord.connectors.dataverse import batch as odata_batch
from accord.connectors.dataverse.batch import MAX_PARTS, Part
from accord.connectors.dataverse.http import ResponseLost, service_error
from accord.connectors.dataverse.metadata import Attribute, Entity
from accord.connectors.dataverse.odata import key_literal, query_string, record_path
from accord.connectors.dataverse.values import from_wire, loads, to_wire
from accord.errors import ConfigError, RecordError, RetriableConnectorError
from accord.model import STALE, Change, ChangeKind, FieldInfo, WriteResult
from accord.model.values import coerce, same

if TYPE_CHECKING:
    from accord.connectors.dataverse.connector import DataverseConnector

NOT_FOUND = "0x80040217"
UNKNOWN_OUTCOME = frozenset({502, 503, 504})
"""Answers of a gateway or a busy server after which a create may or may not be applied."""
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
        self._guid_keys = self.entity.guid_keys
        self._infos: dict[str, FieldInfo] = {}
        """Each attribute's field info, made once per write call (not once per value)."""
        self.results: dict[int, WriteResult] = {}
        self.written: list[int] = []
        """Positions written without a version yet (read back at the end)."""
        self._beside: ThreadPoolExecutor | None = None
        """The thread reading created records' versions beside the next create (if any)."""
        self._reading: list[tuple[list[int], Future[dict[str, datetime | None]]]] = []
        """Positions whose versions are being read, and the read."""

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
                pipelined = len(run) > self.connector.bulk_size and self.schema.modified
                if pipelined:
                    self._beside = ThreadPoolExecutor(1, thread_name_prefix="accord-dv-versions")
                try:
                    self._create(run, lost=0, changes=changes)
                except BaseException:
                    self._collect(changes, failing=True)  # the first failure is the one raised
                    raise
                self._collect(changes)
            elif kind is ChangeKind.UPDATE:
                plain = [i for i in run if i.change.expected is None]
                size = self.connector.bulk_size
                for start in range(0, len(plain), size):
                    self._update_many(plain[start : start + size])
                self._update_if_unchanged([i for i in run if i.change.expected is not None])
            else:
                self._delete(run)
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
        entity = self.entity
        primary_id = entity.primary_id
        attributes = entity.attributes
        inserting = change.kind is ChangeKind.INSERT
        if inserting:
            body[primary_id] = change.key.lower() if self._guid_keys else change.key
        for name, value in change.values.items():
            if name == primary_id:
                continue
            attribute = attributes.get(name)
            if attribute is None:
                return f"field '{name}': table '{self.table}' has no such column"
            if attribute.type_of is not None:
                continue  # the target of its lookup's bind (below), not a value of its own
            allowed = attribute.creatable if inserting else attribute.updatable
            if not allowed:
                return f"field '{name}' cannot be set by a {change.kind} in Dataverse"
            if not change.checked:
                if value is None and not attribute.nullable:
                    return f"field '{name}' is required and cannot be null"
                info = self._infos.get(name)
                if info is None:
                    info = self._infos[name] = attribute.info()
                try:
                    # None goes as null, as the engine asked: coercing it would make a
                    # boolean False
                    value = None if value is None else coerce(value, info)
                except RecordError as exc:
                    return str(exc)
            if attribute.is_lookup:
                hint = change.values.get(f"{name}type")
                if isinstance(value, str) and isinstance(hint, str) and hint and ":" not in value:
                    value = f"{hint}:{value}"
                try:
                    body.update(self._bind(attribute, value))
                except RecordError as exc:
                    return str(exc)
            else:
                body[name] = to_wire(value, attribute)
        return None

    def _check_key(self, key: str) -> str | None:
        if not self._guid_keys:
            return None
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
        known = self.connector.lookup_tables.get(guid.lower())
        if known in targets:
            return known
        for target in targets:
            try:
                entity = self.connector.entity(target)
            except ConfigError:
                continue  # a target this environment does not have (a team, say)
            path = f"{record_path(entity, guid)}?$select={entity.primary_id}"
            if self.http.send("GET", path).status_code == 200:
                self.connector.remember_table_of(guid.lower(), target)
                return target
        raise RecordError(f"field '{attribute.name}': no {' or '.join(targets)} has id {guid!r}")

    # -- creates --------------------------------------------------------------------------
    def _create(
        self, items: list[_Item], *, lost: int, changes: Sequence[Change] | None = None
    ) -> None:
        size = self.connector.bulk_size
        for start in range(0, len(items), size):
            mark = len(self.written)
            self._create_some(items[start : start + size], lost=lost)
            if self._beside is not None and changes is not None and len(self.written) > mark:
                # this request's versions are read while the next one is sent
                fresh = self.written[mark:]
                del self.written[mark:]
                keys = [changes[p].key for p in fresh]
                self._reading.append((fresh, self._beside.submit(self._versions, keys)))

    def _collect(self, changes: Sequence[Change], *, failing: bool = False) -> None:
        """Wait for the versions read beside the creates; the first failure is raised
        (``failing``: the creates failed, the reads are only waited for)."""
        beside, self._beside = self._beside, None
        if beside is None:
            return
        reading, self._reading = self._reading, []
        try:
            for positions, future in reading:
                if failing:
                    future.exception()
                else:
                    self._settle_versions(changes, positions, future.result())
        finally:
            beside.shutdown(wait=True, cancel_futures=True)

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
        if response.status_code in UNKNOWN_OUTCOME:  # a gateway's answer: applied or not?
            why = str(service_error(response))
            if lost + 1 >= LOST_ANSWERS:
                raise RetriableConnectorError(
                    f"system '{self.connector.name}': creating records in table "
                    f"'{self.table}' failed {LOST_ANSWERS} times: {why}"
                )
            self._settle_lost_creates(items, lost=lost + 1, why=why)
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
                    if n in record.values and not same(self._as_read(n, v), record.values[n])
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

    def _as_read(self, name: str, value: Any) -> Any:
        """A value written as it reads back: a lookup's ``table:id`` as the id, lower-case."""
        attribute = self.entity.attributes.get(name)
        if attribute is not None and attribute.is_lookup and isinstance(value, str):
            return value.rpartition(":")[2].lower()
        return value

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

    def _update_if_unchanged(self, items: list[_Item]) -> None:
        """PATCH each with If-Match on the ETag of the version the engine read."""
        if not items:
            return
        etags = self._etags_if_unchanged(items)
        modified = self.schema.modified
        select = f"?{query_string({'$select': modified})}" if modified else ""
        parts: list[tuple[_Item, Part]] = []
        for item in items:
            etag = etags.get(item.position)
            if etag is None:
                continue  # settled already: gone or stale
            path = record_path(self.entity, item.change.key) + select
            headers = {"If-Match": etag, "Prefer": "return=representation"}
            parts.append((item, Part("PATCH", path, item.body, headers)))
        self._send_each(parts, self._settle_update)

    def _etags_if_unchanged(self, items: list[_Item]) -> dict[int, str]:
        """The ETag to send per position; records changed since the engine read are stale."""
        etags: dict[int, str] = {}
        unknown: list[_Item] = []
        for item in items:
            expected = item.change.expected
            assert expected is not None
            # the ETag read with the version the engine read: If-Match then fails on any
            # edit made since, values included (ETags change with every write). Where the
            # engine names values too, they are checked against the record as it is now:
            # the ETag remembered may be of a later read than the engine's, made after an
            # edit in the same second (a whole-second stamp does not tell them apart).
            known = self.connector.etags.get((self.table, self._key(item)))
            if known is not None and known[1] == expected.version and not expected.values:
                etags[item.position] = known[0]
            else:
                unknown.append(item)
        if not unknown:
            return etags
        names = sorted(
            {
                n
                for i in unknown
                for n in (i.change.expected.values if i.change.expected else ())
                if n in self.entity.attributes
            }
        )
        found: dict[str, Any] = {}
        for batch in self.connector.read(
            self.table, keys=[i.change.key for i in unknown], fields=names
        ):
            found.update({r.key: r for r in batch})
        for item in unknown:
            expected = item.change.expected
            assert expected is not None
            record = found.get(self._key(item))
            known = self.connector.etags.get((self.table, self._key(item)))
            if record is None:
                self._failed(item, "record not found")
            elif record.version != expected.version or not _holds(record.values, expected.values):
                self._stale(item)
            elif known is None:
                self._failed(item, "Dataverse sent no ETag for the record")
            else:
                etags[item.position] = known[0]
        return etags

    def _settle_update(self, item: _Item, status: int, body: bytes, error: str) -> None:
        modified = self.schema.modified
        if status == 412:
            self._stale(item)
        elif status == 404:
            self._failed(item, "record not found")
        elif status >= 400:
            self._failed(item, error)
        elif status == 200 and modified and body:
            row = loads(body)
            version = from_wire(row.get(modified), self.entity.attributes[modified])
            etag = row.get("@odata.etag")
            if isinstance(etag, str):
                self.connector.remember_etag(self.table, self._key(item), etag, version)
            self.results[item.position] = WriteResult(item.change.key, True, version)
        else:
            self._succeeded(item)

    # -- deletes --------------------------------------------------------------------------
    def _delete(self, items: list[_Item]) -> None:
        parts = [(i, Part("DELETE", record_path(self.entity, i.change.key))) for i in items]
        self._send_each(parts, self._settle_delete)

    def _settle_delete(self, item: _Item, status: int, body: bytes, error: str) -> None:
        if status < 300 or status == 404:  # 404: gone already
            self.connector.etags.pop((self.table, self._key(item)), None)
            self.results[item.position] = WriteResult(item.change.key, True)
        else:
            self._failed(item, error)

    # -- one request per record, in $batch ------------------------------------------------
    def _send_each(self, parts: list[tuple[_Item, Part]], settle: Any) -> None:
        """Send single-record requests, up to 1,000 per ``$batch`` (one by one if the
        service takes no batches), and settle each item with its own answer."""
        if len(parts) == 1 or not self.connector.batches:
            for item, part in parts:
                response = self.http.send(
                    part.method, part.path, body=part.body, headers=part.headers
                )
                error = str(service_error(response)) if response.status_code >= 400 else ""
                settle(item, response.status_code, response.content, error)
            return
        for start in range(0, len(parts), MAX_PARTS):
            chunk = parts[start : start + MAX_PARTS]
            answers = odata_batch.send(
                self.http, [p for _, p in chunk], f"writing table '{self.table}'"
            )
            if answers is None:
                self.connector.batches = False  # not understood: one request each from now on
                self._send_each(chunk, settle)
                continue
            for (item, _), answer in zip(chunk, answers, strict=True):
                error = str(odata_batch.answer_error(answer)) if answer.status >= 400 else ""
                settle(item, answer.status, answer.body, error)

    def _key(self, item: _Item) -> str:
        return item.change.key.lower() if self.entity.guid_keys else item.change.key

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
        self._settle_versions(changes, self.written, self._versions(keys))

    def _versions(self, keys: list[str]) -> dict[str, datetime | None]:
        versions: dict[str, datetime | None] = {}
        for batch in self.connector.read(self.table, keys=keys, fields=[]):
            versions.update({r.key: r.version for r in batch})
        return versions

    def _settle_versions(
        self,
        changes: Sequence[Change],
        positions: list[int],
        versions: Mapping[str, datetime | None],
    ) -> None:
        for position in positions:
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
