"""Match criteria: which field pairs match-based coupling compares, and how values compare.

Criteria come from the field rows' ``match = { priority, case_sensitive }`` or from the
command line (``--on name,city --case-sensitive email``: one priority-0 group). Values are
reduced to a hashable *normal form* so that both sides can be joined through hash indexes:
text is casefolded unless case-sensitive, numbers compare by value whatever their type,
datetimes as naive UTC, and blank values ('' and None) are no value at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from accord.config import Config
from accord.config.locate import locate
from accord.engine.context import MappingContext
from accord.errors import RecordError, UsageError
from accord.model import FieldInfo, FieldMapping, Transform
from accord.model.values import coerce, naive_utc

UNMATCHABLE: Hashable = object()
"""The normal form of a local value the integration field cannot hold (it does not convert to
the field's type): equal to nothing but itself, so it finds no candidate."""


@dataclass(frozen=True)
class Criterion:
    """One field pair compared by match-based coupling."""

    local: str
    integration: str
    priority: int
    case_sensitive: bool
    transform: Transform | None
    integration_info: FieldInfo | None  # set when the two fields' kinds differ

    def integration_normal(self, value: Any) -> Hashable | None:
        return normal(value, self.case_sensitive)

    def normalisers(self) -> tuple[Callable[[Any], Hashable | None], ...]:
        """(local, integration) normal-form functions, with a fast path for plain text."""
        plain = _exact if self.case_sensitive else _folded
        direct = self.transform is None and self.integration_info is None
        return (plain if direct else self.local_normal), plain

    def local_normal(self, value: Any) -> Hashable | None:
        """The local value as it would be written to the integration field, normalised."""
        if value is None or value == "":
            return None
        if self.transform is not None:
            value = self.transform.apply(value)
            if value is None or value == "":
                return None
        if self.integration_info is not None:
            try:
                value = coerce(value, self.integration_info)
            except RecordError:
                return UNMATCHABLE
        return normal(value, self.case_sensitive)

    def describe(self) -> str:
        return self.local + (" (case-sensitive)" if self.case_sensitive else "")


def normal(value: Any, case_sensitive: bool) -> Hashable | None:
    """A hashable form in which equal values are equal; None for a blank (no value)."""
    kind = type(value)
    if kind is str:
        text: str = value
        if not text:
            return None
        return text if case_sensitive else text.casefold()
    if value is None:
        return None
    if kind is bool:
        return ("bool", value)  # True is not the number 1 here
    if kind is int:
        number: int = value  # equal ints and Decimals hash alike
        return number
    if isinstance(value, Decimal):
        return None if value.is_nan() else value
    if isinstance(value, float):
        return None if math.isnan(value) else Decimal(repr(value))
    if isinstance(value, datetime):
        return naive_utc(value)
    if isinstance(value, str):  # a str subclass
        return normal(str(value), case_sensitive)
    return value if isinstance(value, Hashable) else repr(value)


def _folded(value: Any) -> Hashable | None:
    if type(value) is str:
        return value.casefold() if value else None
    return normal(value, False)


def _exact(value: Any) -> Hashable | None:
    if type(value) is str:
        return value if value else None
    return normal(value, True)


def describe_groups(groups: Sequence[Sequence[Criterion]]) -> str:
    """``name, city`` for one group; ``name; then city, email`` for several."""
    return "; then ".join(", ".join(c.describe() for c in g) for g in groups)


def resolve_criteria(
    config: Config,
    ctx: MappingContext,
    on: Sequence[str] | None,
    case_sensitive: Sequence[str],
) -> list[list[Criterion]]:
    """The criteria groups of a mapping, in priority order (lowest number first)."""
    mapping = ctx.mapping
    index = config.mappings.index(mapping)
    rows: list[tuple[FieldMapping, int]]
    if on is not None:
        names = [n.strip() for n in on if n.strip()]
        if not names:
            raise UsageError("--on needs at least one field")
        rows = []
        for name in names:
            fm = _row_named(ctx, name)
            if fm is None:
                raise UsageError(_unknown(ctx, name))
            if all(fm is not r for r, _ in rows):
                rows.append((fm, 0))
    else:
        rows = []
        for j, fm in enumerate(mapping.fields):
            if fm.match is None or fm.has_constant:
                continue
            if fm.lookup:
                raise config.error(
                    f"mapping {mapping.name}: field '{fm.field}' is a lookup (through "
                    f"{fm.lookup}); a lookup cannot be a match criterion",
                    locate(config.text, ("mappings", index, "fields", j)),
                )
            rows.append((fm, fm.match.priority))
        if not rows:
            raise UsageError(
                f"mapping {mapping.name} has no match criteria: mark field rows with "
                "match = { priority = 0 } in the configuration, or name the fields with --on"
            )
    sensitive: set[int] = set()
    for name in (n.strip() for n in case_sensitive):
        if not name:
            continue
        chosen = [fm for fm, _ in rows if name in (fm.field, fm.integration_field)]
        if not chosen:
            listed = ", ".join(fm.field or "" for fm, _ in rows)
            raise UsageError(
                f"--case-sensitive {name}: not one of the match criteria of mapping "
                f"{mapping.name} ({listed})"
            )
        sensitive.update(id(fm) for fm in chosen)
    criteria = [
        _criterion(
            ctx,
            fm,
            priority,
            id(fm) in sensitive or bool(fm.match and fm.match.case_sensitive),
        )
        for fm, priority in rows
    ]
    priorities = sorted({c.priority for c in criteria})
    return [[c for c in criteria if c.priority == p] for p in priorities]


def criterion(ctx: MappingContext, fm: FieldMapping, sensitive: bool) -> Criterion:
    """The criterion comparing one field row's two fields (its priority, if any, kept)."""
    return _criterion(ctx, fm, fm.match.priority if fm.match else 0, sensitive)


def _criterion(ctx: MappingContext, fm: FieldMapping, priority: int, sensitive: bool) -> Criterion:
    assert fm.field is not None and fm.integration_field is not None
    local_info = ctx.local.schema.fields.get(fm.field)
    integration_info = ctx.integration.schema.fields.get(fm.integration_field)
    differ = (
        local_info is not None
        and integration_info is not None
        and local_info.kind != integration_info.kind
        and integration_info.kind != "other"
    )
    return Criterion(
        local=fm.field,
        integration=fm.integration_field,
        priority=priority,
        case_sensitive=sensitive,
        transform=fm.transform,
        integration_info=integration_info if differ else None,
    )


def _row_named(ctx: MappingContext, name: str) -> FieldMapping | None:
    """The field row a ``--on`` name designates (its local or its integration field)."""
    mapping = ctx.mapping
    constant = [fm for fm in mapping.fields if fm.has_constant and name in _names(fm)]
    rows = [fm for fm in mapping.fields if not fm.has_constant and name in _names(fm)]
    if not rows and constant:
        raise UsageError(
            f"field '{name}' of mapping {mapping.name} is written as a constant; a constant "
            "cannot be a match criterion"
        )
    if not rows:
        return None
    by_integration = [fm for fm in rows if fm.integration_field == name]
    if len(rows) > 1:
        if len(by_integration) == 1:
            rows = by_integration
        else:
            pairs = ", ".join(fm.integration_field or "" for fm in rows)
            raise UsageError(
                f"field '{name}' is in {len(rows)} field rows of mapping {mapping.name}; "
                f"name the integration field instead ({pairs})"
            )
    fm = rows[0]
    if fm.lookup:
        raise UsageError(
            f"field '{name}' of mapping {mapping.name} is a lookup (through {fm.lookup}); "
            "a lookup cannot be a match criterion"
        )
    return fm


def _names(fm: FieldMapping) -> tuple[str | None, str | None]:
    return fm.field, fm.integration_field


def _unknown(ctx: MappingContext, name: str) -> str:
    usable = ", ".join(
        f"{fm.field}/{fm.integration_field}"
        for fm in ctx.mapping.fields
        if not fm.has_constant and not fm.lookup
    )
    return f"mapping {ctx.mapping.name} has no field row for '{name}' (fields: {usable})"
