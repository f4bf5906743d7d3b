"""The Business Central connector: the tables of one company through the API v2.0.

* **Company.** ``options.company`` names it (its name, display name or id); the connector
  finds its id in ``companies`` at the first use. Several systems may be companies of one
  tenant: each reads and writes under its own ``companies(<id>)`` and never sees the others.
* **Keys.** A record's key is its ``number`` (``code`` for tables without one, such as
  currencies; ``id`` for a table with neither): the user-facing key, which the engine
  chooses from its number series before creating, so that a rerun after a crash finds the
  record it created rather than creating another. Business Central addresses a record by
  its ``id`` (a GUID), so every read remembers ``number → (id, ETag, version)``, and a write
  to a number not remembered reads it first (one request for many). ``id`` is a read-only
  field like any other.
* **Reads** ``$select`` the fields asked for (with ``id``), send the filter as ``$filter``
  (checking here what the server may compare otherwise), page with ``odata.maxpagesize`` and
  ``@odata.nextLink``, and order by ``(lastModifiedDateTime, number)`` or by ``number``. The
  version is ``lastModifiedDateTime``, to the millisecond.
* **Writes** are in :mod:`.writes`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from accord.connectors.base import Capabilities
from accord.connectors.businesscentral import batch
from accord.connectors.businesscentral.batch import MAX_REQUESTS, Request
from accord.connectors.businesscentral.http import BusinessCentralHttp
from accord.connectors.businesscentral.metadata import blanks_as_none, parse_metadata, wire_blank
from accord.connectors.businesscentral.odata import (
    URL_BUDGET,
    key_chunks,
    modified_condition,
    nulls_as_blanks,
)
from accord.connectors.businesscentral.tables import (
    Known,
    TableName,
    api_base,
    base_of,
    parse_table,
)
from accord.connectors.dataverse.http import ResponseLost, service_error
from accord.connectors.dataverse.metadata import Attribute, Entity, closest
from accord.connectors.dataverse.odata import ServerFilter, server_filter, starts_with
from accord.connectors.dataverse.reads import Query, rebatch
from accord.connectors.signin import check_system, token_source
from accord.errors import ConfigError, FatalConnectorError
from accord.model import Change, FieldInfo, Record, TableSchema, TableSettings, WriteResult

if TYPE_CHECKING:
    from accord.filters import Filter

log = logging.getLogger(__name__)

MAX_PAGE = 20_000
"""Business Central's largest page."""
KNOWN_KEPT = 200_000
"""Records whose id and ETag are remembered (the oldest are forgotten first)."""
KEY_FIELDS = ("number", "code", "id")
"""The key of a table, in order of preference, unless the table's settings name one."""
MODIFIED = "lastModifiedDateTime"
UNKNOWN_OUTCOME = frozenset({502, 503, 504})
"""Answers of a gateway or a busy server after which a batch may or may not be applied."""
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the company: where it is, its entity and its key attribute."""

    name: TableName
    base: str
    """The base URL of its API (``.../api/v2.0`` or ``.../api/<publisher>/<group>/<version>``)."""
    path: str
    """``companies(<id>)/<entitySet>``, relative to ``base``."""
    entity: Entity

    @property
    def key(self) -> Attribute:
        return self.entity.attributes[self.entity.primary_id]


class BusinessCentralConnector:
    """A system whose tables are one Business Central company's (``"businesscentral"``)."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        tables: Mapping[str, TableSettings],
        options: Mapping[str, Any],
    ) -> None:
        self.name = name
        check_system(
            "businesscentral",
            name,
            url,
            options,
            "the API's address, such as https://api.businesscentral.dynamics.com/v2.0/"
            "<tenant>/<environment>/api/v2.0",
        )
        self.base = api_base(url)
        self._settings = dict(tables)
        timeout = float(options.get("timeout", 120))
        parts = urlsplit(self.base)
        tokens = token_source(
            "businesscentral",
            name,
            options,
            scope_url=f"{parts.scheme}://{parts.netloc}",  # scope: the service's origin
            timeout=timeout,
        )
        self.http = BusinessCentralHttp(
            name,
            self.base,
            tokens,
            ca_bundle=options.get("ca_bundle"),
            timeout=timeout,
            max_concurrency=int(options.get("max_concurrency", 5)),
            max_wait=float(options.get("max_wait", 300)),
        )
        self.page_size = int(options.get("page_size", 5000))
        self.capabilities = Capabilities(
            client_keys=True,
            batch_size=int(options.get("batch_size", MAX_REQUESTS)),
            server_filter=True,
            optimistic_concurrency=True,
            delete=True,
        )
        self.company = str(options["company"]) if "company" in options else None
        self._company_id: str | None = None
        self._metadata: dict[str, dict[str, Entity]] = {}
        self._tables: dict[str, Table] = {}
        self._schemas: dict[str, TableSchema] = {}
        self.known: OrderedDict[tuple[str, str], Known] = OrderedDict()
        """(table, key) → id, ETag and version of the records read or written last."""

    @property
    def waited(self) -> float:
        """Seconds spent waiting because the service asked to (429 / 503 ``Retry-After``)."""
        return self.http.waited

    def close(self) -> None:
        if self.http.waited:
            log.warning(
                "system %s: waited %.0f s in all because Business Central asked to",
                self.name,
                self.http.waited,
            )
        self.http.close()

    # -- the company ----------------------------------------------------------------------
    @property
    def company_id(self) -> str:
        """The id of the company this system is, looked up by name or id once."""
        if self._company_id is None:
            self._company_id = self._find_company()
        return self._company_id

    def _find_company(self) -> str:
        document = self.http.get("companies", "listing the companies")
        companies = [c for c in document.get("value") or [] if isinstance(c, dict)]
        names = ", ".join(repr(str(c.get("name"))) for c in companies) or "none"
        wanted = self.company
        if wanted is None:
            if len(companies) == 1:
                return str(companies[0]["id"]).lower()
            raise ConfigError(
                f"system '{self.name}': options.company is not set and Business Central at "
                f"{self.base} has {len(companies)} companies ({names}); name one"
            )
        for match in (_same_id, _same_name, _same_name_any_case):
            found = [c for c in companies if match(c, wanted)]
            if len(found) == 1:
                return str(found[0]["id"]).lower()
        raise ConfigError(
            f"system '{self.name}': Business Central at {self.base} has no company {wanted!r} "
            f"(companies: {names})"
        )

    # -- schema ---------------------------------------------------------------------------
    def table(self, table: str) -> Table:
        """Where ``table`` is and what it holds (``$metadata`` is read once per API)."""
        cached = self._tables.get(table)
        if cached is not None:
            return cached
        name = parse_table(self.name, table)
        entities = self._api_metadata(name)
        entity = entities.get(name.entity_set)
        if entity is None:
            where = "the API v2.0" if not name.custom else f"the API '{name.api}'"
            raise ConfigError(
                f"system '{self.name}': Business Central has no table '{name.entity_set}' in "
                f"{where}" + closest(name.entity_set, list(entities))
            )
        key = self._key_field(table, entity)
        # a record's number cannot be blank in Business Central, whatever $metadata says
        attributes = {**entity.attributes}
        attributes[key] = dataclasses.replace(attributes[key], nullable=False)
        entity = Entity(table, entity.entity_set, key, attributes)
        base = base_of(self.base, name.api)
        path = f"companies({self.company_id})/{name.entity_set}"
        found = Table(name, base, path, entity)
        self._tables[table] = found
        return found

    def _api_metadata(self, name: TableName) -> dict[str, Entity]:
        cached = self._metadata.get(name.api)
        if cached is not None:
            return cached
        url = base_of(self.base, name.api) + "/$metadata"
        response = self.http.send("GET", url, headers={"Accept": "application/xml"})
        if response.status_code == 404 and name.custom:
            raise ConfigError(
                f"system '{self.name}': Business Central has no API '{name.api}' (a custom API "
                "is named 'publisher/group/version/entitySet' as its page declares them)"
            )
        if response.status_code >= 400:
            raise self.http.failure(response, f"reading the $metadata of API '{name.api}'")
        entities = parse_metadata(response.content, self.name)
        self._metadata[name.api] = entities
        return entities

    def _key_field(self, table: str, entity: Entity) -> str:
        settings = self._settings.get(table) or TableSettings()
        if settings.key is not None:
            attribute = entity.attributes.get(settings.key)
            if attribute is None or attribute.kind != "text":
                raise ConfigError(
                    f"table '{self.name}.{table}': key field '{settings.key}' is not a text "
                    "field of the table" + closest(settings.key, list(entity.attributes)),
                    setting="key",
                )
            return settings.key
        for name in KEY_FIELDS:
            if name in entity.attributes:
                return name
        raise ConfigError(
            f"table '{self.name}.{table}': no key field (it has no number, code or id); set "
            "key in its [tables] settings",
            setting="key",
        )

    def describe(self, table: str) -> TableSchema:
        cached = self._schemas.get(table)
        if cached is not None:
            return cached
        entity = self.table(table).entity
        settings = self._settings.get(table) or TableSettings()
        modified = settings.modified
        if modified is not None:
            attribute = entity.attributes.get(modified)
            if attribute is None or attribute.kind != "datetime":
                raise ConfigError(
                    f"table '{self.name}.{table}': modified-on field '{modified}' is not a date "
                    "and time field" + closest(modified, list(entity.attributes)),
                    setting="modified",
                )
        elif MODIFIED in entity.attributes:
            modified = MODIFIED
        fields: dict[str, FieldInfo] = {n: a.info() for n, a in entity.attributes.items()}
        schema = TableSchema(table, entity.primary_id, modified, fields)
        self._schemas[table] = schema
        return schema

    def attribute(self, entity: Entity, name: str) -> Attribute:
        attribute = entity.attributes.get(name)
        if attribute is None:
            raise ConfigError(
                f"system '{self.name}': table '{entity.logical}' has no field '{name}'"
                + closest(name, list(entity.attributes))
            )
        return attribute

    # -- what reads and writes learnt -----------------------------------------------------
    def remember_etag(self, table: str, key: str, etag: str, version: datetime | None) -> None:
        """Nothing: a read remembers id, ETag, version and values together (``_Query``)."""

    def remember(self, table: str, key: str, known: Known) -> None:
        entry = (table, key)
        self.known[entry] = known
        self.known.move_to_end(entry)
        while len(self.known) > KNOWN_KEPT:
            self.known.popitem(last=False)

    def forget(self, table: str, key: str) -> None:
        self.known.pop((table, key), None)

    # -- reading --------------------------------------------------------------------------
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
        query = self._query(table, filter, modified_after, fields)
        size = max(1, batch_size)
        if keys is None:
            yield from rebatch(self._pages(query, None), size)
            return
        key = self.table(table).key
        guid = key.type == "Uniqueidentifier"
        wanted = list(dict.fromkeys(k.lower() if guid else k for k in keys))
        if guid:
            wanted = [k for k in wanted if _GUID.fullmatch(k)]  # no other key can exist
        found: dict[str, Record] = {}
        for chunk, page in self._pages_by_keys(query, wanted):
            asked = set(chunk)
            for record in page:
                if record.key in asked:  # the server may compare keys without case
                    found[record.key] = record
        ordered = [found[k] for k in sorted(found)]
        for start in range(0, len(ordered), size):
            yield ordered[start : start + size]

    def _query(
        self,
        table: str,
        filter: Filter | None,
        modified_after: datetime | None,
        fields: Sequence[str] | None,
    ) -> _Query:
        where = self.table(table)
        entity = where.entity
        schema = self.describe(table)
        names = list(schema.fields) if fields is None else list(dict.fromkeys(fields))
        for name in names:
            self.attribute(entity, name)
        for extra in (schema.key, schema.modified):
            if extra is not None and extra not in names:
                names.append(extra)
        server = ServerFilter(None, True)
        check: Filter | None = None
        hidden: list[str] = []
        if filter is not None:
            root = nulls_as_blanks(filter.root, entity)
            server = server_filter(root, entity, filter.text, long_in=None)
            if not server.exact:
                check = filter
                hidden = sorted(f for f in filter.fields if f not in names)
        if "id" in entity.attributes and "id" not in names and "id" not in hidden:
            hidden.append("id")  # to address the record when it is written
        conditions = [server.text] if server.text else []
        order = [schema.key]
        if modified_after is not None and schema.modified is not None:
            conditions.append(modified_condition(schema.modified, modified_after))
            order = [schema.modified, schema.key]
        located = Entity(table, f"{where.base}/{where.path}", entity.primary_id, entity.attributes)
        return _Query(self, located, schema, names, hidden, conditions, order, check)

    def prefer(self) -> dict[str, str]:
        return {"Prefer": f"odata.maxpagesize={self.page_size}"}

    def _pages(self, query: Query, condition: str | None) -> Iterator[list[Record]]:
        """The records of one query, page by page (server-driven paging)."""
        document = self.http.get(query.url(condition), query.doing, headers=self.prefer())
        yield from self._follow(query, document)

    def _follow(self, query: Query, document: Any) -> Iterator[list[Record]]:
        """The records of one answer, and of the pages its next links lead to."""
        while document is not None:
            rows = document.get("value") or []
            records = [r for r in (query.record(row) for row in rows) if r is not None]
            if records:
                yield records
            link = document.get("@odata.nextLink")
            document = self.http.get(link, query.doing, headers=self.prefer()) if link else None

    def _pages_by_keys(
        self, query: _Query, keys: list[str]
    ) -> Iterator[tuple[list[str], list[Record]]]:
        """Pages of the records with ``keys``, with the keys each page's request asked for;
        more keys than one URL takes are asked for in ``$batch``es of GETs."""
        where = self.table(query.entity.logical)
        room = URL_BUDGET - len(query.url(None))
        chunks = list(key_chunks(where.key, keys, room))
        if len(chunks) <= 1:
            for chunk, condition in chunks:
                for page in self._pages(query, condition):
                    yield chunk, page
            return
        for start in range(0, len(chunks), MAX_REQUESTS):
            some = chunks[start : start + MAX_REQUESTS]
            requests = [
                Request("GET", self.relative(where, query.url(c)), headers=self.prefer())
                for _, c in some
            ]
            answers = self.send_batch(where, requests, query.doing)
            for (chunk, _), answer in zip(some, answers, strict=True):
                if answer.status >= 400:
                    raise self.http.failure_of(answer.error(), query.doing)
                for page in self._follow(query, answer.body):
                    yield chunk, page

    def relative(self, where: Table, url: str) -> str:
        """``url`` relative to its API's base, as requests inside ``$batch`` are written."""
        return url[len(where.base) + 1 :] if url.startswith(where.base + "/") else url

    def send_batch(self, where: Table, requests: Sequence[Request], doing: str) -> list[Any]:
        """One ``$batch`` to the table's API; each request's :class:`~.batch.Answer`.

        Raises:
            ResponseLost: the answer never came (the requests may have been applied).
            FatalConnectorError: the service refused the batch as a whole.
        """
        response = self.http.send(
            "POST",
            f"{where.base}/$batch",
            content=batch.encode(requests),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            idempotent=all(r.method == "GET" for r in requests),
        )
        if response.status_code in UNKNOWN_OUTCOME and not all(r.method == "GET" for r in requests):
            raise ResponseLost(
                f"system '{self.name}': {doing}: $batch answered {service_error(response)}"
            )
        if response.status_code >= 400:
            raise self.http.failure(response, doing)
        try:
            return batch.decode(response.content, len(requests))
        except ValueError as exc:
            raise FatalConnectorError(
                f"system '{self.name}': {doing}: the $batch answer is not understood ({exc})"
            ) from None

    def count(
        self, table: str, *, filter: Filter | None = None, modified_after: datetime | None = None
    ) -> int:
        query = self._query(table, filter, modified_after, [])
        if query.check is None:
            url = query.url(None) + "&$count=true"
            document = self.http.get(url, query.doing, headers={"Prefer": "odata.maxpagesize=1"})
            counted = document.get("@odata.count")
            if isinstance(counted, int) and not isinstance(counted, bool):
                return counted
        return sum(len(page) for page in self._pages(query, None))

    def max_key(self, table: str, prefix: str) -> str | None:
        # The server's startswith and order may ignore case: check and compare keys here.
        query = self._query(table, None, None, [])
        key = self.table(table).key
        if prefix and key.type != "Uniqueidentifier":
            query.conditions.append(starts_with(key.name, prefix))
        greatest: str | None = None
        for page in self._pages(query, None):
            for record in page:
                if record.key.startswith(prefix) and (greatest is None or record.key > greatest):
                    greatest = record.key
        return greatest

    def answer_reader(self, table: str) -> _Query:
        """Reads entities a write's answer carries into records, as a read of every field
        would (and remembers their ids and ETags)."""
        return self._query(table, None, None, None)

    # -- writing --------------------------------------------------------------------------
    def write(self, table: str, changes: Sequence[Change]) -> list[WriteResult]:
        from accord.connectors.businesscentral.writes import Writer

        if not changes:
            return []
        return Writer(self, table).write(changes)


class _Query(Query):
    """A read's query whose rows also tell each record's id (to address it in writes)."""

    bc: BusinessCentralConnector

    def __init__(self, connector: BusinessCentralConnector, *args: Any) -> None:
        super().__init__(connector, *args)
        self.bc = connector
        self.blanks = {
            a.name: b
            for a in self.attributes
            if (b := wire_blank(a)) is not None and a.name != self.schema.key
        }

    def record(self, row: Mapping[str, Any]) -> Record | None:
        record = super().record(blanks_as_none(row, self.blanks))
        ident, etag = row.get("id"), row.get("@odata.etag")
        if record is not None and isinstance(ident, str):
            known = Known(
                ident.lower(),
                etag if isinstance(etag, str) else None,
                record.version,
                record.values,
            )
            self.bc.remember(self.entity.logical, record.key, known)
        return record


def _same_id(company: Mapping[str, Any], wanted: str) -> bool:
    return str(company.get("id", "")).lower() == wanted.lower()


def _same_name(company: Mapping[str, Any], wanted: str) -> bool:
    return wanted in (company.get("name"), company.get("displayName"))


def _same_name_any_case(company: Mapping[str, Any], wanted: str) -> bool:
    names = (str(company.get("name") or ""), str(company.get("displayName") or ""))
    return wanted.casefold() in (n.casefold() for n in names)
