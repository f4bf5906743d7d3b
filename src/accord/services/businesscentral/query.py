"""GET on an entity set: ``$filter $select $orderby $top $skip $count $expand``, and paging.

Server-driven paging is keyset paging: the ``$skiptoken`` of a next link holds the sort
values of the last row sent (the id breaks ties), so rows written between pages neither
repeat nor vanish. BC sends at most 20,000 entities a page; ``Prefer: odata.maxpagesize``
asks for fewer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from accord.services.businesscentral.errors import bad_request
from accord.services.businesscentral.filter import compile_filter
from accord.services.businesscentral.records import Records
from accord.services.businesscentral.schema import EMPTY_GUID, EntitySet, Schema

__all__ = ["MAX_PAGE_SIZE", "CollectionQuery", "page_size", "parse_expand", "parse_select"]

MAX_PAGE_SIZE = 20_000
KNOWN_OPTIONS = {
    "$filter",
    "$select",
    "$orderby",
    "$top",
    "$skip",
    "$count",
    "$expand",
    "$skiptoken",
    "$format",
}
LINK_SAFE = ",()='$:"
"""Characters left as they are in next links."""
_PAGE_PREFERENCE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


def page_size(prefer: str | None) -> tuple[int, bool]:
    """The page size asked for by ``Prefer`` (capped at BC's), and whether one was asked."""
    match = _PAGE_PREFERENCE.search(prefer or "")
    if not match:
        return MAX_PAGE_SIZE, False
    return max(1, min(int(match.group(1)), MAX_PAGE_SIZE)), True


def parse_select(entity_set: EntitySet, text: str | None) -> list[str] | None:
    if text is None or not text.strip():
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in entity_set.fields:
            raise bad_request(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.NAV.{entity_set.entity}'."
            )
    return names


@dataclass
class Expand:
    name: str
    target: EntitySet
    field: str
    select: list[str] | None = None


def parse_expand(schema: Schema, entity_set: EntitySet, text: str | None) -> list[Expand]:
    """``currency`` or ``currency($select=code,displayName)``, comma-separated."""
    if not text or not text.strip():
        return []
    expands: list[Expand] = []
    for match in re.finditer(r"\s*([A-Za-z]\w*)\s*(?:\(([^)]*)\))?\s*(?:,|$)", text):
        name, options = match.group(1), match.group(2)
        nav = entity_set.navigations.get(name)
        if nav is None:
            raise bad_request(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.NAV.{entity_set.entity}'."
            )
        target = schema.apis[entity_set.api][nav.target]
        select = None
        if options:
            for option in options.split(";"):
                key, _, value = option.partition("=")
                if key.strip() != "$select":
                    raise bad_request(
                        f"The query option '{key.strip()}' is not supported in $expand."
                    )
                select = parse_select(target, value)
        expands.append(Expand(name, target, nav.field, select))
    return expands


def _integer(params: Mapping[str, str], name: str) -> int | None:
    text = params.get(name)
    if text is None:
        return None
    if not text.strip().isdigit():
        raise bad_request(f"Invalid value '{text}' for the query option '{name}'.")
    return int(text)


@dataclass
class CollectionQuery:
    """One page of a collection read, and the next link if rows remain."""

    records: Records
    schema: Schema
    entity_set: EntitySet
    company: str
    params: Mapping[str, str]
    max_page: int = MAX_PAGE_SIZE
    headers: dict[str, str] = field(default_factory=dict)

    def where(self) -> tuple[str, tuple[Any, ...]]:
        where, params = "company = ?", (self.company,)
        text = self.params.get("$filter")
        if text is not None and text.strip():
            condition, more = compile_filter(text, self.entity_set)
            where, params = f"{where} AND {condition}", params + more
        return where, params

    def order(self) -> list[tuple[str, bool]]:
        """(column, descending) pairs, ending with the id that makes the order total."""
        text = self.params.get("$orderby", "")
        order: list[tuple[str, bool]] = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            words = part.split()
            name = words[0]
            if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
                raise bad_request(f"Syntax error in the $orderby clause '{text}'.")
            if name not in self.entity_set.fields:
                raise bad_request(
                    f"Could not find a property named '{name}' on type "
                    f"'Microsoft.NAV.{self.entity_set.entity}'."
                )
            column = "modified" if name == "lastModifiedDateTime" else name
            order.append((column, len(words) == 2 and words[1].lower() == "desc"))
        if not order and self.entity_set.key:
            order.append((self.entity_set.key, False))  # BC reads in primary-key order
        if "id" not in (c for c, _ in order):
            order.append(("id", False))
        return order

    def run(self, link_base: str) -> dict[str, Any]:
        for name in self.params:
            if name.startswith("$") and name not in KNOWN_OPTIONS:
                raise bad_request(f"The query parameter '{name}' is not supported.")
        select = parse_select(self.entity_set, self.params.get("$select"))
        expands = parse_expand(self.schema, self.entity_set, self.params.get("$expand"))
        where, params = self.where()
        order = self.order()
        top = _integer(self.params, "$top")
        skip = _integer(self.params, "$skip") or 0
        token = self.params.get("$skiptoken")
        result: dict[str, Any] = {}
        if self.params.get("$count", "").lower() == "true":
            sql = f'SELECT COUNT(*) FROM "{self.entity_set.table}" WHERE {where}'
            result["@odata.count"] = int(self.records.store.scalar(sql, params))
        page_where, page_params = where, params
        if token is not None:
            after, top = _read_token(token, len(order))
            condition, more = _after(order, after)
            page_where, page_params = f"{where} AND {condition}", params + more
            skip = 0
        limit = self.max_page if top is None else min(self.max_page, top)
        order_sql = ", ".join(f'"{c}"{" DESC" if d else ""}' for c, d in order)
        rows = self.records.store.select(
            self.entity_set, page_where, page_params, order_sql, limit + 1, skip
        )
        more_rows = len(rows) > limit
        rows = rows[:limit]
        values = [self.records.to_json(self.entity_set, r, select) for r in rows]
        for expand in expands:
            self._expand(expand, rows, values)
        result["value"] = values
        left = None if top is None else top - len(rows)
        if more_rows and rows and (left is None or left > 0):
            last = rows[-1]
            kept = {
                k: v
                for k, v in self.params.items()
                if k not in ("$skiptoken", "$skip", "$top", "$count")
            }
            kept["$skiptoken"] = _write_token([last[c] for c, _ in order], left)
            result["@odata.nextLink"] = f"{link_base}?{urlencode(kept, safe=LINK_SAFE)}"
        return result

    def _expand(
        self, expand: Expand, rows: list[dict[str, Any]], values: list[dict[str, Any]]
    ) -> None:
        ids = sorted({r[expand.field] for r in rows if r[expand.field] not in (None, EMPTY_GUID)})
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for target in self.records.store.select(
                expand.target, f"company = ? AND id IN ({marks})", (self.company, *chunk)
            ):
                found[target["id"]] = target
        for row, value in zip(rows, values, strict=True):
            hit = found.get(row[expand.field])
            value[expand.name] = (
                None if hit is None else self.records.to_json(expand.target, hit, expand.select)
            )


def expand_one(
    records: Records,
    schema: Schema,
    entity_set: EntitySet,
    company: str,
    row: dict[str, Any],
    body: dict[str, Any],
    text: str | None,
) -> None:
    """``$expand`` on a single entity (``customers(id)?$expand=currency``)."""
    for expand in parse_expand(schema, entity_set, text):
        target_id = row[expand.field]
        target = records.store.get(expand.target, company, target_id) if target_id else None
        body[expand.name] = (
            None if target is None else records.to_json(expand.target, target, expand.select)
        )


def _after(order: list[tuple[str, bool]], values: list[Any]) -> tuple[str, tuple[Any, ...]]:
    """Rows after ``values`` in ``order``: ``a > ? OR (a = ? AND b > ?) OR …``."""
    clauses: list[str] = []
    params: list[Any] = []
    for i, (column, descending) in enumerate(order):
        parts = [f'"{c}" = ?' for c, _ in order[:i]]
        parts.append(f'"{column}" {"<" if descending else ">"} ?')
        clauses.append("(" + " AND ".join(parts) + ")")
        params.extend(values[: i + 1])
    return "(" + " OR ".join(clauses) + ")", tuple(params)


def _write_token(values: list[Any], left: int | None) -> str:
    text = json.dumps({"after": values, "left": left}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _read_token(token: str, width: int) -> tuple[list[Any], int | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        after, left = data["after"], data["left"]
        if not isinstance(after, list) or len(after) != width:
            raise ValueError
        return after, (int(left) if left is not None else None)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request(f"The skip token '{token}' is not valid.") from None
