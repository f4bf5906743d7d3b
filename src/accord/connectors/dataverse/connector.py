"""The Dataverse connector: tables of one Dataverse environment through the Web API v9.2.

Reads ``$select`` only the fields asked for, send the filter as ``$filter`` (checking here
what the server compares differently, see :mod:`.odata`), page with ``odata.maxpagesize``
and ``@odata.nextLink``, and order by ``(modifiedon, id)`` or by id. Records are keyed by
their GUID (lower-case) and versioned by ``modifiedon``. Writes are in :mod:`.writes`, change
tracking (delta tokens) in :mod:`.changes`.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from accord.connectors.base import Capabilities, ChangeFeed
from accord.connectors.dataverse import batch
from accord.connectors.dataverse.batch import MAX_PARTS, Part
from accord.connectors.dataverse.http import DataverseHttp
from accord.connectors.dataverse.metadata import Attribute, Entity, closest, parse_entity
from accord.connectors.dataverse.odata import (
    URL_BUDGET,
    ServerFilter,
    key_chunks,
    modified_condition,
    server_filter,
    starts_with,
)
from accord.connectors.dataverse.reads import Query, rebatch
from accord.connectors.dataverse.values import loads
from accord.connectors.signin import check_system, token_source
from accord.errors import ConfigError, FatalConnectorError
from accord.model import Change, FieldInfo, Record, TableSchema, TableSettings, WriteResult

if TYPE_CHECKING:
    from accord.filters import Filter

log = logging.getLogger(__name__)

MAX_PAGE = 5000
"""Dataverse ignores larger ``odata.maxpagesize`` values."""
BATCH_URL_BUDGET = 60_000
"""Characters a URL inside ``$batch`` may take (Dataverse accepts 64 KB there)."""
BULK_SIZE = 1000
"""Records per bulk request (Dataverse's advice: start around 1,000)."""
WRITE_REQUESTS = 5
"""Bulk requests one write call takes at most (the version reads of one overlap the next)."""
ETAGS_KEPT = 200_000
"""ETags remembered for conditional updates (the oldest are forgotten first)."""
_LOGICAL_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class DataverseConnector:
    """A system whose tables are a Dataverse environment's (``connector = "dataverse"``)."""

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
            "dataverse",
            name,
            url,
            options,
            "the environment's address, such as https://org.crm.dynamics.com",
        )
        self.url = url.rstrip("/")
        self._settings = dict(tables)
        timeout = float(options.get("timeout", 120))
        tokens = token_source("dataverse", name, options, scope_url=self.url, timeout=timeout)
        self.http = DataverseHttp(
            name,
            self.url,
            tokens,
            ca_bundle=options.get("ca_bundle"),
            timeout=timeout,
            max_concurrency=int(options.get("max_concurrency", 16)),
            max_wait=float(options.get("max_wait", 300)),
        )
        self.page_size = min(MAX_PAGE, int(options.get("page_size", MAX_PAGE)))
        self.bulk_size = int(options.get("batch_size", BULK_SIZE))
        """Records per ``CreateMultiple`` / ``UpdateMultiple`` request (``batch_size``)."""
        self.capabilities = Capabilities(
            client_keys=True,
            batch_size=self.bulk_size * WRITE_REQUESTS,
            server_filter=True,
            optimistic_concurrency=True,
            delete=True,
            change_tracking=bool(options.get("change_tracking", True)),
        )
        self._entities: dict[str, Entity] = {}
        self.batches = True
        """Whether the service takes ``$batch`` (cleared at the first it does not understand)."""
        self._schemas: dict[str, TableSchema] = {}
        self.lookup_tables: OrderedDict[str, str] = OrderedDict()
        """GUID → table, for ids a polymorphic lookup was pointed at (found by asking)."""
        self.etags: OrderedDict[tuple[str, str], tuple[str, datetime | None]] = OrderedDict()
        """(table, key) → (ETag, version) of the rows read last, for conditional updates."""

    @property
    def waited(self) -> float:
        """Seconds spent waiting because the service asked to (service protection)."""
        return self.http.waited

    def close(self) -> None:
        if self.http.waited:
            log.warning(
                "system %s: waited %.0f s in all because Dataverse asked to (service protection)",
                self.name,
                self.http.waited,
            )
        self.http.close()

    # -- schema ---------------------------------------------------------------------------
    def entity(self, table: str) -> Entity:
        """The metadata of ``table`` (a logical name), fetched once."""
        cached = self._entities.get(table)
        if cached is not None:
            return cached
        if not _LOGICAL_NAME.fullmatch(table):
            raise ConfigError(
                f"system '{self.name}': '{table}' is not a Dataverse table's logical name "
                "(lower-case, such as 'account')"
            )
        path = f"EntityDefinitions(LogicalName='{table}')"
        response = self.http.send("GET", path + "?$expand=Attributes,ManyToOneRelationships")
        if response.status_code == 400:  # a service that cannot expand relationships
            response = self.http.send("GET", path + "?$expand=Attributes")
        if response.status_code == 404:
            raise ConfigError(
                f"system '{self.name}': Dataverse at {self.url} has no table '{table}' "
                "(tables are named by their logical name, such as 'account')"
            )
        if response.status_code >= 400:
            raise self.failure(response, f"reading the definition of table '{table}'")
        entity = parse_entity(loads(response.content))
        self._entities[table] = entity
        return entity

    def describe(self, table: str) -> TableSchema:
        cached = self._schemas.get(table)
        if cached is not None:
            return cached
        entity = self.entity(table)
        settings = self._settings.get(table) or TableSettings()
        where = f"table '{self.name}.{table}'"
        if settings.key is not None and settings.key != entity.primary_id:
            raise ConfigError(
                f"{where}: the key is the primary id '{entity.primary_id}' in Dataverse, "
                f"not '{settings.key}'",
                setting="key",
            )
        modified = settings.modified
        if modified is not None:
            attribute = entity.attributes.get(modified)
            if attribute is None or attribute.kind != "datetime":
                raise ConfigError(
                    f"{where}: modified-on field '{modified}' is not a date and time column"
                    + closest(modified, list(entity.attributes)),
                    setting="modified",
                )
        elif "modifiedon" in entity.attributes:
            modified = "modifiedon"
        fields: dict[str, FieldInfo] = {n: a.info() for n, a in entity.attributes.items()}
        schema = TableSchema(table, entity.primary_id, modified, fields)
        self._schemas[table] = schema
        return schema

    def failure(self, response: Any, doing: str) -> Exception:
        return self.http.failure(response, doing)

    def attribute(self, entity: Entity, name: str) -> Attribute:
        attribute = entity.attributes.get(name)
        if attribute is None:
            raise ConfigError(
                f"system '{self.name}': table '{entity.logical}' has no column '{name}'"
                + closest(name, list(entity.attributes))
            )
        return attribute

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
        entity = query.entity
        wanted = list(dict.fromkeys(k.lower() if entity.guid_keys else k for k in keys))
        found: dict[str, Record] = {}
        for chunk, page in self._pages_by_keys(query, wanted):
            asked = set(chunk)
            for record in page:
                if record.key in asked:  # the server compares text keys without case
                    found[record.key] = record
        ordered = [found[k] for k in sorted(found)]
        for start in range(0, len(ordered), size):
            yield ordered[start : start + size]

    def _pages_by_keys(
        self, query: Query, keys: list[str]
    ) -> Iterator[tuple[list[str], list[Record]]]:
        """Pages of the records with ``keys``, with the keys each page's request asked for.

        Many keys need more than one URL of Dataverse's 32 KB; inside ``$batch`` a URL may
        take 64 KB and a thousand of them go as one request, so that is how they are sent
        where the service takes batches.
        """
        fixed = len(self.http.api) + len(query.url(None))
        if self.batches:
            chunks = list(key_chunks(query.entity, keys, BATCH_URL_BUDGET - fixed))
            long = bool(chunks) and len(self.http.api + query.url(chunks[0][1])) > URL_BUDGET
            if len(chunks) > 1 or long:
                documents = self._batched_gets(query, [query.url(c) for _, c in chunks])
                if documents is not None:
                    for (chunk, _), document in zip(chunks, documents, strict=True):
                        for page in self._follow(query, document):
                            yield chunk, page
                    return
        for chunk, condition in key_chunks(query.entity, keys, URL_BUDGET - fixed):
            for page in self._pages(query, condition):
                yield chunk, page

    def _batched_gets(self, query: Query, urls: list[str]) -> list[Any] | None:
        """The JSON documents of GET ``urls`` sent in ``$batch``es; None if the service
        takes no batches (then it is not asked again)."""
        documents: list[Any] = []
        doing = query.doing
        prefer = {"Prefer": self.prefer(query)}
        for start in range(0, len(urls), MAX_PARTS):
            parts = [Part("GET", url, headers=prefer) for url in urls[start : start + MAX_PARTS]]
            answers = batch.send(self.http, parts, doing)
            if answers is None:
                self.batches = False
                return None
            for answer in answers:
                if answer.status >= 400:
                    error = batch.answer_error(answer)
                    raise FatalConnectorError(f"system '{self.name}': {doing} failed: {error}")
                documents.append(loads(answer.body))
        return documents

    def prefer(self, query: Query) -> str:
        """The page size, and the one annotation a lookup's type is read from if asked for."""
        if any(a.annotation for a in query.attributes):
            return (
                f"odata.maxpagesize={self.page_size},"
                'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'
            )
        return f"odata.maxpagesize={self.page_size}"

    def _follow(self, query: Query, document: Any) -> Iterator[list[Record]]:
        """The records of one answer, and of the pages its next links lead to."""
        headers = {"Prefer": self.prefer(query)}
        while document is not None:
            rows = document.get("value") or []
            records = [r for r in (query.record(row) for row in rows) if r is not None]
            if records:
                yield records
            link = document.get("@odata.nextLink")
            document = self.http.get(link, query.doing, headers=headers) if link else None

    def _query(
        self,
        table: str,
        filter: Filter | None,
        modified_after: datetime | None,
        fields: Sequence[str] | None,
    ) -> Query:
        entity = self.entity(table)
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
            server = server_filter(filter.root, entity, filter.text)
            if not server.exact:
                check = filter
                hidden = sorted(f for f in filter.fields if f not in names)
        conditions = [server.text] if server.text else []
        order = [schema.key]
        if modified_after is not None and schema.modified is not None:
            conditions.append(modified_condition(schema.modified, modified_after))
            order = [schema.modified, schema.key]
        return Query(self, entity, schema, names, hidden, conditions, order, check)

    def _pages(self, query: Query, condition: str | None) -> Iterator[list[Record]]:
        """The records of one query, page by page (server-driven paging)."""
        headers = {"Prefer": self.prefer(query)}
        yield from self._follow(
            query, self.http.get(query.url(condition), query.doing, headers=headers)
        )

    def remember_table_of(self, guid: str, table: str) -> None:
        self.lookup_tables[guid] = table
        while len(self.lookup_tables) > ETAGS_KEPT:
            self.lookup_tables.popitem(last=False)

    def remember_etag(self, table: str, key: str, etag: str, version: datetime | None) -> None:
        entry = (table, key)
        self.etags[entry] = (etag, version)
        self.etags.move_to_end(entry)
        while len(self.etags) > ETAGS_KEPT:
            self.etags.popitem(last=False)

    def count(
        self, table: str, *, filter: Filter | None = None, modified_after: datetime | None = None
    ) -> int:
        query = self._query(table, filter, modified_after, [])
        if query.check is None:
            url = query.url(None) + "&$count=true"
            document = self.http.get(url, query.doing, headers={"Prefer": "odata.maxpagesize=1"})
            counted = document.get("@odata.count")
            if isinstance(counted, int) and counted < MAX_PAGE:  # Dataverse caps it at 5000
                return counted
        return sum(len(page) for page in self._pages(query, None))

    def max_key(self, table: str, prefix: str) -> str | None:
        # The server's startswith and ordering ignore case: check and compare keys here.
        query = self._query(table, None, None, [])
        if prefix and not query.entity.guid_keys:  # GUIDs take no startswith: all are read
            query.conditions.append(starts_with(query.schema.key, prefix))
        greatest: str | None = None
        for page in self._pages(query, None):
            for record in page:
                if record.key.startswith(prefix) and (greatest is None or record.key > greatest):
                    greatest = record.key
        return greatest

    # -- change tracking (see .changes) ---------------------------------------------------
    def tracks(self, table: str) -> bool:
        """The table's ``ChangeTrackingEnabled`` (unless ``change_tracking = false``)."""
        return self.capabilities.change_tracking and self.entity(table).change_tracking

    def track(self, table: str) -> str:
        from accord.connectors.dataverse.changes import track

        return track(self, table)

    def read_changes(
        self,
        table: str,
        token: str | None,
        *,
        filter: Filter | None = None,
        fields: Sequence[str] | None = None,
        batch_size: int = 1000,
    ) -> ChangeFeed:
        from accord.connectors.dataverse.changes import DeltaFeed

        return DeltaFeed(self, table, token, filter=filter, fields=fields, batch_size=batch_size)

    # -- writing --------------------------------------------------------------------------
    def write(self, table: str, changes: Sequence[Change]) -> list[WriteResult]:
        from accord.connectors.dataverse.writes import Writer

        if not changes:
            return []
        return Writer(self, table).write(changes)
