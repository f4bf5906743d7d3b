"""The query texts Business Central reads send, beyond the shared filter rendering.

Filters go through :func:`accord.connectors.dataverse.odata.server_filter`, which sends the
narrowest condition selecting at least the filter's records and has the connector check the
rest: Business Central's comparisons of text follow its database's collation, which may
ignore case as Dataverse's does. Business Central has no ``Microsoft.Dynamics.CRM.In``, so a
list of keys is an ``or`` chain, cut into chunks that keep each URL under :data:`URL_BUDGET`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from urllib.parse import quote

from accord.connectors.businesscentral.metadata import EMPTY_GUID
from accord.connectors.dataverse.metadata import Attribute, Entity
from accord.filters.ast import And, Comparison, Guid, Literal, Node, Not, Or, Value

URL_BUDGET = 4_000
"""Characters one query URL may take: well under the 8 KB request line front ends allow."""


def format_millis(value: dt.datetime) -> str:
    """``2024-05-01T10:00:00.123Z``: UTC to the millisecond, as Business Central stamps."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def modified_condition(name: str, after: dt.datetime) -> str:
    """Records modified at or after the millisecond of ``after``.

    ``lastModifiedDateTime`` has milliseconds: a record saved in the millisecond a watermark
    names may carry exactly that stamp while being newer than the read that set it, so that
    millisecond is read again (``ge``); the engine recognises what it has seen by version and
    checksum.
    """
    return f"{name} ge {format_millis(after)}"


def key_literal(attribute: Attribute, key: str) -> str:
    """A key as a ``$filter`` literal: a GUID bare, text quoted."""
    if attribute.type == "Uniqueidentifier":
        return key.lower()
    return "'" + key.replace("'", "''") + "'"


def key_chunks(
    attribute: Attribute, keys: Sequence[str], room: int
) -> Iterator[tuple[list[str], str]]:
    """``(keys, condition)`` pairs selecting ``keys`` with ``key eq a or key eq b ...``, each
    condition's URL-encoded form at most ``room`` characters long (and at least one key)."""
    chunk: list[str] = []
    terms: list[str] = []
    used = 0
    for key in keys:
        term = f"{attribute.name} eq {key_literal(attribute, key)}"
        cost = len(quote(term, safe="")) + 8  # and ' or ' between terms
        if chunk and used + cost > room:
            yield chunk, " or ".join(terms)
            chunk, terms, used = [], [], 0
        chunk.append(key)
        terms.append(term)
        used += cost
    if chunk:
        yield chunk, " or ".join(terms)


def nulls_as_blanks(node: Node, entity: Entity) -> Node:
    """``x eq null`` as Business Central can answer it: ``x eq ''`` for text, the empty GUID,
    ``0001-01-01`` for a date (the blanks the connector reads as None; BC holds no nulls)."""
    if isinstance(node, Comparison):
        attribute = entity.attributes.get(node.field.name)
        if node.value.value is None and attribute is not None:
            blank = _BLANKS.get("guid" if attribute.type == "Uniqueidentifier" else attribute.kind)
            if blank is not None:
                return dataclasses.replace(node, value=Literal(blank, node.value.position))
        return node
    if isinstance(node, Not):
        return dataclasses.replace(node, operand=nulls_as_blanks(node.operand, entity))
    if isinstance(node, And | Or):
        operands = tuple(nulls_as_blanks(o, entity) for o in node.operands)
        return dataclasses.replace(node, operands=operands)
    return node


_BLANKS: dict[str, Value] = {
    "text": "",
    "guid": Guid(EMPTY_GUID),
    "date": dt.date(1, 1, 1),
    "datetime": dt.datetime(1, 1, 1),
}
