"""GET on an entity set: query options, server-driven paging, change tracking.

Paging is keyset paging, not offsets: the ``$skiptoken`` cookie holds the sort values of the
last row sent, so rows inserted or deleted between pages neither repeat nor vanish. Change
tracking numbers every write with the organization's version counter: a delta token is the
version up to which a client has seen changes; following it returns the rows written since
and the tombstones of rows deleted since, up to the version current when the delta started.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from accord.services.dataverse.errors import DataverseError, bad_query
from accord.services.dataverse.filter import compile_filter
from accord.services.dataverse.records import Records
from accord.services.dataverse.schema import Attribute, Collection, Navigation, Schema, Table

__all__ = [
    "MAX_PAGE_SIZE",
    "Prefer",
    "QueryResult",
    "apply_expand",
    "parse_expand",
    "query_collection",
    "select_attributes",
]

MAX_PAGE_SIZE = 5000
"""Dataverse's largest page (and the default); a larger odata.maxpagesize is ignored."""
COUNT_LIMIT = 5000
KNOWN_OPTIONS = {
    "$select",
    "$filter",
    "$orderby",
    "$top",
    "$count",
    "$expand",
    "$skiptoken",
    "$deltatoken",
}
_PREFERENCE = re.compile(r'\s*([^=,\s]+)\s*(?:=\s*("[^"]*"|[^,]*))?\s*(?:,|$)')
"""One preference of a Prefer header; a quoted value may hold commas."""
LINK_SAFE = ",()='$"
"""Characters left as they are in next and delta links (as Dataverse writes them)."""
STAMP = "%m/%d/%Y %H:%M:%S"
"""How a delta token dates itself (after the version and a ``!``), as Dataverse's do."""
_COOKIE = re.compile(r'pagingcookie="([^"]*)"')


@dataclass
class Prefer:
    """The ``Prefer`` header's preferences that Dataverse honours."""

    max_page_size: int | None = None
    annotations: str | None = None
    track_changes: bool = False
    return_representation: bool = False
    continue_on_error: bool = False

    @classmethod
    def parse(cls, header: str | None) -> Prefer:
        prefer = cls()
        for match in _PREFERENCE.finditer(header or ""):
            key, value = match.group(1).lower(), (match.group(2) or "").strip().strip('"')
            if key == "odata.maxpagesize" and value.isdigit():
                prefer.max_page_size = int(value)
            elif key == "odata.include-annotations":
                prefer.annotations = value
            elif key == "odata.track-changes":
                prefer.track_changes = True
            elif key == "return" and value == "representation":
                prefer.return_representation = True
            elif key == "odata.continue-on-error":
                prefer.continue_on_error = True
        return prefer


@dataclass
class QueryResult:
    body: dict[str, Any]
    applied: list[str] = field(default_factory=list)


def select_attributes(table: Table, text: str | None) -> list[Attribute]:
    """The attributes of ``$select`` (all when absent), the primary id always among them."""
    if not text:
        return list(table.attributes.values())
    chosen: list[Attribute] = []
    for name in (n.strip() for n in text.split(",")):
        attribute = table.by_web_name(name)
        if attribute is None:
            raise bad_query(
                f"Could not find a property named '{name}' on type '{table.type_name}'."
            )
        if attribute not in chosen:
            chosen.append(attribute)
    primary = table.attributes[table.primary_id]
    if primary not in chosen:
        chosen.append(primary)
    return chosen


def _orderby(table: Table, text: str | None) -> list[tuple[Attribute, bool]]:
    order: list[tuple[Attribute, bool]] = []
    for item in (text or "").split(","):
        words = item.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise bad_query(f"Syntax error in $orderby '{text}'.")
        attribute = table.by_web_name(words[0])
        if attribute is None:
            raise bad_query(
                f"Could not find a property named '{words[0]}' on type '{table.type_name}'."
            )
        order.append((attribute, len(words) == 2 and words[1] == "desc"))
    if not any(a.name == table.primary_id for a, _ in order):
        order.append((table.attributes[table.primary_id], False))
    return order


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses (``a($select=x,y),b``)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


Expansion = tuple[Navigation | Collection, Table, str | None]
"""What to expand: a navigation property, the table it reaches, its ``$select``."""


def parse_expand(schema: Schema, table: Table, text: str | None) -> list[Expansion]:
    result: list[Expansion] = []
    for item in _split_top(text or ""):
        name, _, rest = item.partition("(")
        navigation: Navigation | Collection | None = table.navigations.get(name.strip())
        navigation = navigation or table.collections.get(name.strip())
        if navigation is None:
            raise bad_query(
                f"Could not find a property named '{name.strip()}' on type '{table.type_name}'."
            )
        select = None
        for option in _split_top(rest[:-1]) if rest.endswith(")") else []:
            for sub in option.split(";"):
                key, _, value = sub.partition("=")
                if key.strip() == "$select":
                    select = value
                elif key.strip():
                    raise bad_query(f"The option '{key.strip()}' of $expand is not supported.")
        if isinstance(navigation, Collection):
            result.append((navigation, navigation.source, select))
        else:
            result.append((navigation, schema.tables[navigation.target], select))
    return result


def _encode_cookie(payload: Mapping[str, Any], page: int) -> str:
    data = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    return f'<cookie pagenumber="{page}" pagingcookie="{data}" istracking="False" />'


def _decode_cookie(token: str) -> tuple[dict[str, Any], int]:
    match = _COOKIE.search(token)
    page = re.search(r'pagenumber="(\d+)"', token)
    try:
        if match is None or page is None:
            raise ValueError(token)
        payload = json.loads(base64.urlsafe_b64decode(match.group(1).encode()))
        if not isinstance(payload, dict):
            raise ValueError(token)
        return payload, int(page.group(1))
    except (ValueError, binascii.Error):
        raise bad_query("The $skiptoken is not a valid paging cookie.") from None


def _after(order: Sequence[tuple[Attribute, bool]], last: Sequence[Any]) -> tuple[str, list[Any]]:
    """SQL for "sorts after the row with values ``last``" (NULLs first ascending, as SQLite)."""
    alternatives: list[str] = []
    params: list[Any] = []
    equal: list[str] = []
    equal_params: list[Any] = []
    for (attribute, desc), value in zip(order, last, strict=True):
        column = f'"{attribute.name}"'
        if value is None:
            beyond = "0" if desc else f"{column} IS NOT NULL"
            beyond_params: list[Any] = []
            same, same_params = f"{column} IS NULL", []
        else:
            beyond = f"({column} < ? OR {column} IS NULL)" if desc else f"{column} > ?"
            beyond_params = [value]
            same, same_params = f"{column} = ?", [value]
        alternatives.append(" AND ".join([*equal, beyond]))
        params.extend(equal_params + beyond_params)
        equal.append(same)
        equal_params.extend(same_params)
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")", params


def _link(base: str, table: Table, params: Mapping[str, str]) -> str:
    query = "&".join(f"{k}={quote(v, safe=LINK_SAFE)}" for k, v in params.items())
    return f"{base}{table.entity_set}?{query}"


def _context(base: str, table: Table, params: Mapping[str, str]) -> str:
    select = params.get("$select")
    return f"{base}$metadata#{table.entity_set}" + (f"({select})" if select else "")


def _columns(
    table: Table, attributes: Sequence[Attribute], order: Sequence[tuple[Attribute, bool]]
) -> str:
    """The columns a page's JSON is made of (the selected ones, the id, the ETag's version,
    the sort keys and lookups' target types): a read of a thousand ids for their
    ``modifiedon`` then fetches two columns of each row, not all of them."""
    names = {table.primary_id, "versionnumber", *(a.name for a in attributes)}
    names.update(a.name for a, _ in order)
    names.update(
        f"{a.name}type" for a in attributes if a.is_lookup and f"{a.name}type" in table.attributes
    )
    return ", ".join(f'"{n}"' for n in sorted(names))


def query_collection(
    records: Records, table: Table, params: Mapping[str, str], prefer: Prefer, base: str
) -> QueryResult:
    """The JSON answer to ``GET <set>?params``."""
    for key in params:
        if key.startswith("$") and key not in KNOWN_OPTIONS:
            raise bad_query(f"The query parameter {key} is not supported.")
    attributes = select_attributes(table, params.get("$select"))
    page_size = min(prefer.max_page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    applied: list[str] = []
    if prefer.max_page_size:
        applied.append(f"odata.maxpagesize={page_size}")
    annotations = prefer.annotations
    if annotations is not None:
        applied.append(f'odata.include-annotations="{prefer.annotations}"')
    if "$deltatoken" in params and not table.change_tracking:
        raise bad_query(f"Change tracking is not enabled for the entity '{table.logical_name}'.")
    if (prefer.track_changes or "$deltatoken" in params) and table.change_tracking:
        for option in ("$filter", "$orderby", "$expand", "$top"):
            if option in params:
                raise bad_query(f"The query option {option} is not supported with change tracking.")
        if prefer.track_changes:
            applied.append("odata.track-changes")
        delta = _delta(records, table, params, attributes, page_size, base, annotations)
        return QueryResult(delta, applied)
    where: str = "1 = 1"
    where_params: tuple[Any, ...] = ()
    if params.get("$filter"):
        where, where_params = compile_filter(params["$filter"], table)
    order = _orderby(table, params.get("$orderby"))
    expand = parse_expand(records.schema, table, params.get("$expand"))
    top: int | None = None
    if "$top" in params:
        if not params["$top"].isdigit():
            raise bad_query(f"Invalid value '{params['$top']}' for $top.")
        top = int(params["$top"])
    limit = min(top, MAX_PAGE_SIZE) if top is not None else page_size
    sql_where: str = where
    sql_params: list[Any] = list(where_params)
    page = 1
    if "$skiptoken" in params:
        cookie, page = _decode_cookie(params["$skiptoken"])
        last = cookie.get("last")
        if not isinstance(last, list) or len(last) != len(order):
            raise bad_query("The $skiptoken does not belong to this query.")
        after, after_params = _after(order, last)
        sql_where, sql_params = f"({where}) AND {after}", [*sql_params, *after_params]
    order_sql = ", ".join(f'"{a.name}"{" DESC" if d else ""}' for a, d in order)
    columns = "*" if expand else _columns(table, attributes, order)
    rows = records.store.select(
        f'SELECT {columns} FROM "{table.logical_name}" WHERE {sql_where} '
        f"ORDER BY {order_sql} LIMIT ?",
        [*sql_params, limit + 1],
    )
    more = len(rows) > limit and top is None
    rows = rows[:limit]
    value = [records.to_json(table, r, attributes, annotations=annotations) for r in rows]
    if expand:
        apply_expand(records, rows, value, expand, annotations)
    body: dict[str, Any] = {"@odata.context": _context(base, table, params)}
    if params.get("$count") == "true":
        total = records.store.scalar(
            f'SELECT COUNT(*) FROM "{table.logical_name}" WHERE {where}', where_params
        )
        body["@odata.count"] = min(total, COUNT_LIMIT)
        body["@Microsoft.Dynamics.CRM.totalrecordcount"] = -1
        body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = total > COUNT_LIMIT
    body["value"] = value
    if more:
        last_row = rows[-1]
        cookie_text = _encode_cookie({"last": [last_row[a.name] for a, _ in order]}, page + 1)
        link_params = {k: v for k, v in params.items() if k != "$skiptoken"}
        link_params["$skiptoken"] = cookie_text
        body["@odata.nextLink"] = _link(base, table, link_params)
    return QueryResult(body, applied)


def apply_expand(
    records: Records,
    rows: Sequence[Mapping[str, Any]],
    value: list[dict[str, Any]],
    expand: Sequence[Expansion],
    annotations: str | None,
) -> None:
    for navigation, target, select in expand:
        attributes = select_attributes(target, select)
        if isinstance(navigation, Collection):
            _expand_collection(records, rows, value, navigation, attributes, annotations)
            continue
        column = navigation.attribute.name
        kind_column = f"{column}type"
        ids = sorted({r[column] for r in rows if r.get(column)})
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for row in records.store.select(
                f'SELECT * FROM "{target.logical_name}" WHERE "{target.primary_id}" IN ({marks})',
                chunk,
            ):
                found[row[target.primary_id]] = records.to_json(
                    target, row, attributes, annotations=annotations
                )
        for source, out in zip(rows, value, strict=True):
            kind = source.get(kind_column)
            matches = kind is None or kind == target.logical_name
            out[navigation.name] = found.get(source.get(column) or "") if matches else None


def _expand_collection(
    records: Records,
    rows: Sequence[Mapping[str, Any]],
    value: list[dict[str, Any]],
    collection: Collection,
    attributes: Sequence[Attribute],
    annotations: str | None,
) -> None:
    """Each row's referencing rows, as a list (``[]`` when none)."""
    source, column = collection.source, collection.navigation.attribute.name
    here = collection.navigation.target
    polymorphic = f"{column}type" in source.attributes
    primary = records.schema.tables[here].primary_id
    ids = sorted({r[primary] for r in rows})
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        marks = ",".join("?" * len(chunk))
        kind = f' AND "{column}type" = ?' if polymorphic else ""
        for referencing in records.store.select(
            f'SELECT * FROM "{source.logical_name}" WHERE "{column}" IN ({marks}){kind} '
            f'ORDER BY "{source.primary_id}"',
            [*chunk, here] if polymorphic else chunk,
        ):
            found[referencing[column]].append(
                records.to_json(source, referencing, attributes, annotations=annotations)
            )
    for row, out in zip(rows, value, strict=True):
        out[collection.name] = found[row[primary]]


def _delta(
    records: Records,
    table: Table,
    params: Mapping[str, str],
    attributes: Sequence[Attribute],
    page_size: int,
    base: str,
    annotations: str | None,
) -> dict[str, Any]:
    """Initial change-tracking read (all rows) or a delta since ``$deltatoken``."""
    store = records.store
    token = params.get("$deltatoken")
    since = 0
    if token is not None:
        head, _, stamp = token.partition("!")
        if not head.isdigit() or _expired(records, int(head), stamp):
            raise DataverseError(
                400, "0x80044352", f"The delta token '{token}' is not valid or has expired."
            )
        since = int(head)
    if "$skiptoken" in params:
        cookie, page = _decode_cookie(params["$skiptoken"])
        upto, phase, last_id = int(cookie["upto"]), str(cookie["phase"]), str(cookie["last"])
    else:
        upto, phase, last_id, page = store.version, "rows", "", 1
    entries: list[dict[str, Any]] = []
    if phase == "rows":
        rows = store.select(
            f'SELECT * FROM "{table.logical_name}" WHERE versionnumber > ? AND versionnumber <= ? '
            f'AND "{table.primary_id}" > ? ORDER BY "{table.primary_id}" LIMIT ?',
            [since, upto, last_id, page_size + 1],
        )
        entries = [records.to_json(table, r, attributes, annotations=annotations) for r in rows]
        if len(rows) > page_size:
            entries = entries[:page_size]
            last_id = rows[page_size - 1][table.primary_id]
        else:
            phase, last_id = ("deleted" if token is not None else "done"), ""
    if phase == "deleted" and len(entries) < page_size:
        room = page_size - len(entries)
        ids = store.tombstones(table, since, upto, last_id, room + 1)
        context = f"{base}$metadata#{table.entity_set}/$deletedEntity"
        entries.extend(
            {"@odata.context": context, "id": i, "reason": "deleted"} for i in ids[:room]
        )
        if len(ids) > room:
            last_id = ids[room - 1]
        else:
            phase = "done"
    suffix = "/$delta" if token is not None else ""
    body: dict[str, Any] = {"@odata.context": _context(base, table, params) + suffix}
    body["value"] = entries
    link_params = {k: v for k, v in params.items() if k not in ("$skiptoken", "$deltatoken")}
    if phase == "done":
        stamp = time.strftime(STAMP, time.gmtime(records.clock()))
        link_params["$deltatoken"] = f"{upto}!{stamp}"
        body["@odata.deltaLink"] = _link(base, table, link_params)
    else:
        if token is not None:
            link_params["$deltatoken"] = token
        cookie = {"upto": upto, "phase": phase, "last": last_id}
        link_params["$skiptoken"] = _encode_cookie(cookie, page + 1)
        body["@odata.nextLink"] = _link(base, table, link_params)
    return body


def _expired(records: Records, version: int, stamp: str) -> bool:
    """A token older than ``records.change_days`` or below ``records.delta_floor``."""
    if version < records.delta_floor:
        return True
    try:
        taken = calendar.timegm(time.strptime(stamp, STAMP))
    except ValueError:
        return False  # an undated token (written by hand): its version alone decides
    return records.clock() - taken > records.change_days * 86400
