"""Accord's filter tree as a Dataverse ``$filter``, and the other query texts reads send.

Dataverse compares text without regard to case (and, being SQL Server, ignores trailing
spaces), while an Accord filter compares text exactly, as :meth:`Filter.matches` does. So a
filter is sent as the narrowest condition that still selects *at least* every record the
filter selects (``name eq 'abc'`` stays, since it also returns ``'ABC'``; ``name ne 'abc'``
cannot be sent, since it would drop ``'ABC'``), and the connector checks each record read
against the filter itself unless the server's condition is known to be exact.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote

from accord.connectors.dataverse.metadata import Attribute, Entity
from accord.connectors.dataverse.values import format_datetime
from accord.errors import FilterError
from accord.filters.ast import (
    And,
    Call,
    Comparison,
    ComparisonOperator,
    Field,
    In,
    Literal,
    Node,
    Not,
    Or,
)
from accord.filters.render import render_literal

URL_BUDGET = 24_000
"""Characters a query URL may take (Dataverse accepts 32 KB outside ``$batch``)."""

LONG_IN = 10
"""An ``in`` list longer than this is sent as ``Microsoft.Dynamics.CRM.In``."""
_IN_GROUPS = frozenset({"text", "guid", "integer", "decimal"})
"""Kinds whose values ``Microsoft.Dynamics.CRM.In`` takes as strings."""

_DESCRIPTIONS = {
    "text": "text",
    "guid": "GUIDs",
    "integer": "numbers",
    "decimal": "numbers",
    "float": "numbers",
    "boolean": "booleans",
    "datetime": "datetimes",
    "date": "dates",
}


class _ClientSide(Exception):
    """A term only the connector can check (it is dropped from the server's filter)."""


@dataclass(frozen=True, slots=True)
class ServerFilter:
    """What to send as ``$filter`` (None: no condition) and whether it is the whole filter."""

    text: str | None
    exact: bool


def server_filter(
    node: Node, entity: Entity, source: str = "", *, long_in: int | None = LONG_IN
) -> ServerFilter:
    """The server's part of ``node`` (see the module docstring).

    ``long_in``: an ``in`` list longer than this goes as ``Microsoft.Dynamics.CRM.In``; None
    for a service without that function (Business Central), which gets ``or`` chains.

    Raises:
        FilterError: a field the table does not have, or a literal its type cannot match.
    """
    text, exact = _Renderer(entity, source, long_in).node(node)
    return ServerFilter(text, exact)


class _Renderer:
    def __init__(self, entity: Entity, source: str, long_in: int | None) -> None:
        self.entity = entity
        self.source = source
        self.long_in = long_in

    def node(self, node: Node) -> tuple[str | None, bool]:
        try:
            return self._node(node)
        except _ClientSide:
            return None, False

    def _node(self, node: Node) -> tuple[str | None, bool]:
        if isinstance(node, Comparison):
            return self._comparison(node)
        if isinstance(node, In):
            attribute = self._attribute(node.field)
            literals = [self._literal(attribute, v) for v in node.values]
            long = self.long_in is not None and len(literals) > self.long_in
            if long and _group(attribute) in _IN_GROUPS:
                # one function call rather than an 'or' chain the server nests deeply
                quoted = ",".join(lit if lit.startswith("'") else f"'{lit}'" for lit in literals)
                text = (
                    f"Microsoft.Dynamics.CRM.In(PropertyName='{attribute.name}',"
                    f"PropertyValues=[{quoted}])"
                )
            else:
                terms = [f"{attribute.wire_name} eq {literal}" for literal in literals]
                text = terms[0] if len(terms) == 1 else "(" + " or ".join(terms) + ")"
            return text, not _case_blind(attribute)
        if isinstance(node, Call):
            attribute = self._attribute(node.field)
            if attribute.kind != "text" or _is_guid(attribute):
                raise FilterError(
                    f"{node.function}() needs a text field, but '{attribute.name}' holds "
                    f"{_DESCRIPTIONS[_group(attribute)]}",
                    text=self.source,
                    position=node.field.position,
                )
            part = str(node.value.value)
            if "[" in part:  # a LIKE bracket expression on the server: check it here only
                return None, False
            quoted = "'" + part.replace("'", "''") + "'"
            return f"{node.function.value}({attribute.wire_name},{quoted})", False
        if isinstance(node, Not):
            inner, exact = self.node(node.operand)
            if inner is None or not exact:
                return None, False
            return f"not ({inner})", False  # the server's 'not' may keep nulls: check here too
        parts = [self.node(operand) for operand in node.operands]
        if isinstance(node, And):
            kept = [text for text, _ in parts if text is not None]
            exact = all(text is not None and ok for text, ok in parts)
            if not kept:
                return None, False
            return (kept[0] if len(kept) == 1 else " and ".join(f"({t})" for t in kept)), exact
        assert isinstance(node, Or)
        if any(text is None for text, _ in parts):
            return None, False
        return " or ".join(f"({text})" for text, _ in parts), all(ok for _, ok in parts)

    def _attribute(self, field: Field) -> Attribute:
        attribute = self.entity.attributes.get(field.name)
        if attribute is None:
            raise FilterError(
                f"unknown field '{field.name}' (table '{self.entity.logical}' has no such column)",
                text=self.source,
                position=field.position,
            )
        if attribute.type_of is not None:
            raise _ClientSide  # an annotation, not a column: the server cannot filter by it
        return attribute

    def _comparison(self, node: Comparison) -> tuple[str | None, bool]:
        attribute = self._attribute(node.field)
        name = attribute.wire_name
        if node.value.value is None:
            return f"{name} {node.op.value} null", True
        literal = self._literal(attribute, node.value)
        if _case_blind(attribute):
            if node.op is ComparisonOperator.EQ:
                return f"{name} eq {literal}", False  # also returns other cases: check here
            return None, False
        # 'ne' may or may not keep nulls on the server: send it, check it here
        return f"{name} {node.op.value} {literal}", node.op is not ComparisonOperator.NE

    def _literal(self, attribute: Attribute, literal: Literal) -> str:
        """The literal in the form the attribute's type takes; refuse an impossible pair."""
        value = literal.value
        group = _group(attribute)
        text = _typed_literal(group, value)
        if text is None:
            raise FilterError(
                f"field '{attribute.name}' holds {_DESCRIPTIONS.get(group, group)}, so it "
                f"cannot be compared with {render_literal(literal)}",
                text=self.source,
                position=literal.position,
            )
        return text


def _typed_literal(group: str, value: object) -> str | None:
    if group == "guid":
        if isinstance(value, str) and _looks_like_guid(value):
            return value.lower()
        return None
    if group == "text":
        return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else None
    if group in ("integer", "decimal", "float"):
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            return None
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    if group == "boolean":
        return ("true" if value else "false") if isinstance(value, bool) else None
    if group == "datetime" and isinstance(value, dt.date):
        if not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        return format_datetime(value)
    if group == "date" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return None


def _group(attribute: Attribute) -> str:
    return "guid" if _is_guid(attribute) else attribute.kind


def _is_guid(attribute: Attribute) -> bool:
    return attribute.type == "Uniqueidentifier" or attribute.is_lookup


def _case_blind(attribute: Attribute) -> bool:
    """Text the server compares without regard to case."""
    return attribute.kind == "text" and not _is_guid(attribute)


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _looks_like_guid(text: str) -> bool:
    return _GUID.fullmatch(text) is not None


def key_literal(entity: Entity, key: str) -> str | None:
    """A key as a ``$filter`` literal; None for a key the table cannot hold (not a GUID)."""
    attribute = entity.attributes.get(entity.primary_id)
    if entity.guid_keys or attribute is None:
        return key.lower() if _looks_like_guid(key) else None
    return "'" + key.replace("'", "''") + "'"


def record_path(entity: Entity, key: str) -> str:
    """The URL path of one record: ``accounts(<guid>)``, or ``t(code='K1')`` for a text key."""
    if entity.guid_keys:
        return f"{entity.entity_set}({key.lower()})"
    quoted = quote(key.replace("'", "''"), safe="")
    return f"{entity.entity_set}({entity.primary_id}='{quoted}')"


def key_chunks(entity: Entity, keys: Sequence[str], room: int) -> Iterator[tuple[list[str], str]]:
    """``(keys, condition)`` pairs selecting ``keys`` by id with ``Microsoft.Dynamics.CRM.In``
    (a long ``or`` chain is no shorter and nests deeply), each condition short enough that
    its URL-encoded form takes at most ``room`` characters (and at least one key)."""
    head = f"Microsoft.Dynamics.CRM.In(PropertyName='{entity.primary_id}',PropertyValues=["
    chunk: list[str] = []
    values: list[str] = []
    used = len(quote(head, safe="")) + 6
    start = used
    for key in keys:
        if key_literal(entity, key) is None:
            continue
        value = "'" + (key.lower() if entity.guid_keys else key).replace("'", "''") + "'"
        cost = len(quote(value, safe="")) + 3
        if chunk and used + cost > room:
            yield chunk, head + ",".join(values) + "])"
            chunk, values, used = [], [], start
        chunk.append(key)
        values.append(value)
        used += cost
    if chunk:
        yield chunk, head + ",".join(values) + "])"


def modified_condition(name: str, after: dt.datetime) -> str:
    """Records modified after ``after``, safe for whole-second stamps.

    Dataverse shows ``modifiedon`` in whole seconds: a record changed in the second a
    watermark names may show exactly that time while being newer, so a whole-second bound is
    read again (``ge``; the engine tells a record it has seen by its version and checksum).
    A bound with a fraction is only met by finer stamps, and compared strictly.
    """
    op = "ge" if after.microsecond == 0 else "gt"
    return f"{name} {op} {format_datetime(after)}"


def starts_with(name: str, prefix: str) -> str:
    return f"startswith({name},'" + prefix.replace("'", "''") + "')"


def query_string(options: dict[str, str]) -> str:
    """``$select=a,b&$filter=...``: the names keep their ``$``, the values are encoded."""
    return "&".join(f"{k}={quote(v, safe=',()/:=@')}" for k, v in options.items())
