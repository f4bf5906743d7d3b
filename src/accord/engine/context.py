"""Everything a pass needs about one mapping, resolved once: connectors, schemas, filters."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from accord.connectors.base import Connector
from accord.filters import Filter, parse_filter
from accord.model import (
    Direction,
    FieldRule,
    KeyPolicy,
    Side,
    TableMapping,
    TableSchema,
    TableSettings,
    source_side,
)


@dataclass
class SideContext:
    """One side of a mapping: its connector, table, schema, filter and key policy."""

    side: Side
    connector: Connector
    table: str
    table_ref: str
    schema: TableSchema
    filter: Filter | None
    settings: TableSettings

    @property
    def key_policy(self) -> KeyPolicy:
        return self.settings.new_keys


@dataclass
class MappingContext:
    mapping: TableMapping
    local: SideContext
    integration: SideContext

    def side(self, side: Side) -> SideContext:
        return self.local if side is Side.LOCAL else self.integration

    def source(self, direction: Direction) -> SideContext:
        return self.side(source_side(direction))

    def destination(self, direction: Direction) -> SideContext:
        return self.side(source_side(direction).other)

    @cached_property
    def _rules(self) -> dict[Direction, list[FieldRule]]:
        return {d: self.mapping.rules_for(d) for d in Direction.BIDIRECTIONAL.passes}

    def rules(self, direction: Direction) -> list[FieldRule]:
        return self._rules[direction]

    def source_fields(self, direction: Direction) -> list[str]:
        return sorted({r.source for r in self.rules(direction) if r.source})

    def destination_fields(self, direction: Direction) -> list[str]:
        return sorted({r.dest for r in self.rules(direction)})


def compile_filter(text: str) -> Filter | None:
    return parse_filter(text) if text.strip() else None
