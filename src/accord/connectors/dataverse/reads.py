"""One read's query text, and how the rows it returns become records.

A :class:`Query` holds what a read asked for (fields, the server's part of the filter, the
modified-on bound, the order) and turns each row into a :class:`Record`: values converted to
the attributes' kinds, a lookup's type taken from its annotation, the filter checked here when
the server's condition was not exact, and the row's ETag remembered for conditional updates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from accord.connectors.dataverse.metadata import Entity
from accord.connectors.dataverse.odata import query_string
from accord.connectors.dataverse.values import Unconvertible, from_wire
from accord.model import Record, TableSchema

if TYPE_CHECKING:
    from accord.filters import Filter


class EtagMemory(Protocol):
    """Where a read leaves the ETag of each row (the connector, for conditional updates)."""

    def remember_etag(self, table: str, key: str, etag: str, version: datetime | None) -> None: ...


class Query:
    """One read's ``$select``/``$filter``/``$orderby`` and how its rows become records."""

    def __init__(
        self,
        connector: EtagMemory,
        entity: Entity,
        schema: TableSchema,
        names: list[str],
        hidden: list[str],
        conditions: list[str],
        order: list[str],
        check: Filter | None,
    ) -> None:
        self.connector = connector
        self.entity = entity
        self.schema = schema
        self.names = names
        self.hidden = hidden
        self.conditions = conditions
        self.order = order
        self.check = check
        self.attributes = [entity.attributes[n] for n in [*names, *hidden]]
        self._columns = [(a.name, a.wire_name, a.annotation, a) for a in self.attributes]
        """Per attribute: its name, the property it is read from, its annotation (computed
        once per read, not once per row)."""
        self.doing = f"reading table '{entity.logical}'"

    def url(self, condition: str | None) -> str:
        conditions = [*self.conditions, *([condition] if condition else [])]
        selected = dict.fromkeys(a.wire_name for a in self.attributes)
        options = {"$select": ",".join(selected)}
        if conditions:
            options["$filter"] = (
                conditions[0]
                if len(conditions) == 1
                else " and ".join(f"({c})" for c in conditions)
            )
        wire = {a.name: a.wire_name for a in self.attributes}
        options["$orderby"] = ",".join(f"{wire[n]} asc" for n in self.order)
        return f"{self.entity.entity_set}?{query_string(options)}"

    def record(self, row: Mapping[str, Any]) -> Record | None:
        values: dict[str, Any] = {}
        errors: list[str] = []
        for name, wire_name, annotation, attribute in self._columns:
            try:
                raw = row.get(wire_name)
                if annotation is not None and raw is not None:
                    raw = row.get(annotation)
                values[name] = from_wire(raw, attribute)
            except Unconvertible as exc:
                values[name] = None
                errors.append(str(exc))
        if self.check is not None and not self.check.matches(values):
            return None
        for name in self.hidden:
            del values[name]
        key = str(values[self.schema.key])
        version = values.get(self.schema.modified) if self.schema.modified else None
        etag = row.get("@odata.etag")
        if isinstance(etag, str):
            self.connector.remember_etag(self.entity.logical, key, etag, version)
        return Record(key, values, version, "; ".join(errors))


def rebatch(pages: Iterator[list[Record]], size: int) -> Iterator[list[Record]]:
    """Pages as batches of at most ``size`` records (a page may be larger or smaller)."""
    pending: list[Record] = []
    for page in pages:
        pending.extend(page)
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending
