"""Change tracking: what changed in a table since a delta token (``Prefer: odata.track-changes``).

A tracked read without a token returns every row and ends with ``@odata.deltaLink``; following
a delta link returns the rows written since and ``$deletedEntity`` entries for the rows
deleted since, then a new delta link. Dataverse refuses ``$filter``, ``$orderby``, ``$top`` and
``$expand`` there, so the filter is checked here on each row (its fields are selected too).
Only the ``$deltatoken`` is kept, not the link: the next read selects the fields it needs then.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from accord.connectors.base import ChangeBatch
from accord.connectors.dataverse.odata import server_filter
from accord.connectors.dataverse.reads import Query
from accord.connectors.dataverse.values import loads
from accord.errors import ChangeTokenExpired, FatalConnectorError

if TYPE_CHECKING:
    from accord.connectors.dataverse.connector import DataverseConnector
    from accord.filters import Filter

DELETED = "/$deletedEntity"
"""How a deleted row's ``@odata.context`` ends."""


def track(connector: DataverseConnector, table: str) -> str:
    """A token marking now: a tracked read of the primary ids only, paged to its delta link.

    Dataverse dates the token at the start of the read, so nothing changed during the
    paging is missed (it comes again in the token's feed).
    """
    entity = connector.entity(table)
    doing = f"taking a change-tracking token of table '{table}'"
    url = f"{entity.entity_set}?$select={entity.primary_id}"
    headers = {"Prefer": f"odata.track-changes,odata.maxpagesize={connector.page_size}"}
    document = connector.http.get(url, doing, headers=headers)
    while "@odata.deltaLink" not in document:
        link = document.get("@odata.nextLink")
        if not link:
            raise FatalConnectorError(
                f"system '{connector.name}': {doing} failed: the answer holds no delta link "
                "(is change tracking enabled on the table?)"
            )
        document = connector.http.get(link, doing, headers=headers)
    return token_of(connector, str(document["@odata.deltaLink"]), doing)


def token_of(connector: DataverseConnector, link: str, doing: str) -> str:
    tokens = parse_qs(urlsplit(link).query).get("$deltatoken")
    if not tokens:
        raise FatalConnectorError(
            f"system '{connector.name}': {doing} failed: the delta link holds no $deltatoken"
        )
    return tokens[0]


class DeltaFeed:
    """The changes since a token, page by page (the first page is asked for at once, so an
    expired token is known before the pass reads anything).

    Without a token it is the *initial* tracked read: every row (the filter checked here, as
    Dataverse takes no ``$filter`` with change tracking), then the delta link, whose token
    marks the start of the read. One read gives a full pass its records and the next pass's
    token, instead of a full read and a second paging through every id (:func:`track`).
    """

    def __init__(
        self,
        connector: DataverseConnector,
        table: str,
        token: str | None,
        *,
        filter: Filter | None,
        fields: Sequence[str] | None,
        batch_size: int,
    ) -> None:
        self.connector = connector
        self.token: str | None = None
        self.size = max(1, batch_size)
        query = connector._query(table, None, None, fields)
        if filter is not None:
            server_filter(filter.root, query.entity, filter.text)  # unknown fields fail here
            hidden = sorted(f for f in filter.fields if f not in query.names)
            query = Query(
                connector, query.entity, query.schema, query.names, hidden, [], [], filter
            )
        self.query = query
        self.doing = f"reading the changes of table '{table}'"
        self.headers = {"Prefer": "odata.track-changes," + connector.prefer(query)}
        selected = ",".join(dict.fromkeys(a.wire_name for a in query.attributes))
        url = f"{query.entity.entity_set}?$select={quote(selected, safe=',')}"
        if token is None:  # the full read: every row, and its delta link on the last page
            self.doing = f"reading table '{table}' with change tracking"
        else:
            url += f"&$deltatoken={quote(token, safe='')}"
        response = connector.http.send("GET", url, headers=self.headers)
        if token is not None and response.status_code in (400, 404, 410):
            error = connector.failure(response, self.doing)
            raise ChangeTokenExpired(
                f"system '{connector.name}': the change-tracking token of table '{table}' was "
                f"refused ({error}); changes are read by modified-on time instead"
            )
        if response.status_code >= 400:
            raise connector.failure(response, self.doing)
        self._first: Any = loads(response.content)

    def __iter__(self) -> Iterator[ChangeBatch]:
        document, self._first = self._first, None
        records, deleted = [], []
        while document is not None:
            for row in document.get("value") or []:
                if str(row.get("@odata.context", "")).endswith(DELETED):
                    deleted.append(str(row.get("id", "")).lower())
                    continue
                record = self.query.record(row)
                if record is not None:
                    records.append(record)
            while len(records) >= self.size:
                yield ChangeBatch(records[: self.size], [])
                records = records[self.size :]
            if deleted:
                yield ChangeBatch(records, deleted)
                records, deleted = [], []
            delta = document.get("@odata.deltaLink")
            if delta:
                if records:
                    yield ChangeBatch(records, [])
                self.token = token_of(self.connector, str(delta), self.doing)
                return
            link = document.get("@odata.nextLink")
            if not link:
                raise FatalConnectorError(
                    f"system '{self.connector.name}': {self.doing} failed: a page holds neither "
                    "a next link nor a delta link"
                )
            document = self.connector.http.get(link, self.doing, headers=self.headers)
