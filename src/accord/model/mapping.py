"""Table mappings and field mappings: what is synchronized, and which way.

These objects are built by :mod:`accord.config` and are immutable; the engine projects a
mapping onto one pass direction with :meth:`TableMapping.rules_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from accord.model.direction import Direction, Side
from accord.model.keys import KeyPolicy


class UpdateConflict(StrEnum):
    """What to do when both sides changed a bidirectional field since the last sync."""

    NONE = "none"
    SEND = "send"
    GET = "get"
    MERGE = "merge"


class DeletionConflict(StrEnum):
    """What to do when a coupled record's counterpart was deleted."""

    NONE = "none"
    RESTORE = "restore"
    UNCOUPLE = "uncouple"


@dataclass(frozen=True, slots=True)
class TableRef:
    """A table of a system, written ``system.table``."""

    system: str
    table: str

    @classmethod
    def parse(cls, text: str) -> TableRef:
        system, _, table = text.partition(".")
        if not system or not table:
            raise ValueError(f"expected 'system.table', got {text!r}")
        return cls(system, table)

    def __str__(self) -> str:
        return f"{self.system}.{self.table}"


@dataclass(frozen=True, slots=True)
class TableSettings:
    """Per-table settings from ``[tables."system.table"]``; None means ask the connector."""

    key: str | None = None
    modified: str | None = None
    new_keys: KeyPolicy = field(default_factory=KeyPolicy)
    stamp_modified: bool = True
    overlap_seconds: float = 2.0
    company_field: str | None = None
    """Multi-company: the column that holds the company a row belongs to. Mappings from a
    system with a company stamp it on every row they write here and read only that
    company's rows (see :mod:`accord.engine.company`)."""
    company_includes_empty: bool = False
    """Also read rows whose company column is empty (the reference's default filter)."""


@dataclass(frozen=True, slots=True)
class Transform:
    """A value transformation applied in a field's direction (a map is inverted on the way back)."""

    kind: str  # "upper" | "lower" | "trim" | "map"
    table: Mapping[str, Any] = field(default_factory=dict)

    def apply(self, value: Any, *, inverse: bool = False) -> Any:
        if value is None:
            return None
        if self.kind == "upper":
            return str(value).upper()
        if self.kind == "lower":
            return str(value).lower()
        if self.kind == "trim":
            return str(value).strip()
        table: Mapping[Any, Any] = self.table
        if inverse:
            table = {v: k for k, v in self.table.items()}
        key = value if value in table else str(value)
        return table.get(key, value)


@dataclass(frozen=True, slots=True)
class MatchCriterion:
    """Use a field pair for match-based coupling; priority 0 is tried first."""

    priority: int = 0
    case_sensitive: bool = False


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """Pairs a local field with an integration field, or writes a constant to one side."""

    field: str | None
    integration_field: str | None
    direction: Direction
    constant: Any = None
    has_constant: bool = False
    lookup: str | None = None
    clear_on_missing: bool = False
    transform: Transform | None = None
    match: MatchCriterion | None = None
    line: int = 0

    def field_on(self, side: Side) -> str | None:
        return self.field if side is Side.LOCAL else self.integration_field

    def describe(self) -> str:
        if self.has_constant:
            return f"{self.constant!r} → {self.field or self.integration_field}"
        return f"{self.field} ↔ {self.integration_field}"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """A field mapping projected onto one pass: ``source`` (or the constant) → ``dest``."""

    source: str | None
    dest: str
    constant: Any
    has_constant: bool
    lookup: str | None
    clear_on_missing: bool
    transform: Transform | None
    inverse_transform: bool
    bidirectional: bool


@dataclass(frozen=True, slots=True)
class TableMapping:
    """Pairs a local table with an integration table, with direction, filters and policies."""

    name: str
    table: TableRef
    integration_table: TableRef
    direction: Direction
    fields: tuple[FieldMapping, ...]
    table_filter: str = ""
    integration_table_filter: str = ""
    sync_only_coupled: bool = True
    update_conflict: UpdateConflict = UpdateConflict.NONE
    deletion_conflict: DeletionConflict = DeletionConflict.NONE
    create_new_if_no_match: bool = False
    sync_after_coupling: bool = True
    depends_on: tuple[str, ...] = ()
    skip_after: int = 2
    min_priority: int | None = None
    """Match-based coupling: a group whose priority number is larger never couples alone; it
    only narrows the candidates a group of priority ``min_priority`` or less found."""
    line: int = 0

    def table_on(self, side: Side) -> TableRef:
        return self.table if side is Side.LOCAL else self.integration_table

    def filter_on(self, side: Side) -> str:
        return self.table_filter if side is Side.LOCAL else self.integration_table_filter

    def lookups(self) -> set[str]:
        """Mappings this one translates keys through."""
        return {f.lookup for f in self.fields if f.lookup}

    def hard_dependencies(self) -> set[str]:
        """Mappings that must be synchronized first.

        A lookup with ``clear_on_missing`` is soft: its record does not fail when the target is
        not coupled yet, so it does not order the mappings (and cannot make a cycle).
        """
        hard = {f.lookup for f in self.fields if f.lookup and not f.clear_on_missing}
        return hard | set(self.depends_on)

    def rules_for(self, pass_direction: Direction) -> list[FieldRule]:
        """The field mappings that take part in a pass, resolved to source → destination."""
        to_int = pass_direction is Direction.TO_INTEGRATION
        rules = []
        for fm in self.fields:
            if not fm.direction.includes(pass_direction):
                continue
            dest = fm.integration_field if to_int else fm.field
            if dest is None:
                continue
            source = None if fm.has_constant else (fm.field if to_int else fm.integration_field)
            rules.append(
                FieldRule(
                    source=source,
                    dest=dest,
                    constant=fm.constant,
                    has_constant=fm.has_constant,
                    lookup=fm.lookup,
                    clear_on_missing=fm.clear_on_missing,
                    transform=fm.transform,
                    inverse_transform=(fm.direction is Direction.BIDIRECTIONAL and not to_int),
                    bidirectional=fm.direction is Direction.BIDIRECTIONAL,
                )
            )
        return rules

    def match_fields(self) -> list[FieldMapping]:
        return sorted(
            (f for f in self.fields if f.match is not None and not f.has_constant),
            key=lambda f: f.match.priority if f.match else 0,
        )
