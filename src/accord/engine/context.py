"""Everything a pass needs about one mapping, resolved once: connectors, schemas, filters."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

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
from accord.model.checksum import Checksum


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
    stamp: tuple[tuple[str, Any], ...] = ()
    """Multi-company: fields set to a fixed value on every record a pass writes here (the
    company id column); the filter reads only the rows that carry it."""
    company: Filter | None = None
    """Multi-company: the part of ``filter`` that keeps the company's rows (None: none)."""

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
        out = {}
        for d in Direction.BIDIRECTIONAL.passes:
            rules = self.mapping.rules_for(d)
            stamp = self.destination(d).stamp
            if stamp:
                stamped = {name for name, _ in stamp}
                rules = [r for r in rules if r.dest not in stamped]
                rules += [_stamp_rule(name, value) for name, value in stamp]
            out[d] = rules
        return out

    def rules(self, direction: Direction) -> list[FieldRule]:
        return self._rules[direction]

    def source_fields(self, direction: Direction) -> list[str]:
        return sorted({r.source for r in self.rules(direction) if r.source})

    def back_constants(self, direction: Direction) -> dict[str, object] | None:
        """The values the opposite direction alone writes into this pass's source, when
        they are all constants (``{field: value}``); None when it writes anything else.

        A record this pass creates from a source that already holds them needs no pass the
        other way (see ``Pass._back_held``).
        """
        if self.mapping.direction is not Direction.BIDIRECTIONAL:
            return None
        back = [r for r in self.rules(direction.opposite) if not r.bidirectional]
        if not back or any(not r.has_constant or r.transform is not None for r in back):
            return None
        return {r.dest: r.constant for r in back}

    def read_fields(self, direction: Direction) -> list[str]:
        """What a pass reads of its source: the fields it maps, and those the opposite
        direction sets to constants (to tell whether the source holds them already)."""
        fields = set(self.source_fields(direction))
        fields.update(self.back_constants(direction) or ())
        return sorted(fields)

    def destination_fields(self, direction: Direction) -> list[str]:
        """What a pass reads of its destination: the fields it writes, and those the
        destination's checksum covers (so the checksum after the write is known)."""
        fields = {r.dest for r in self.rules(direction)}
        checksum = self.checksum(source_side(direction).other)
        if checksum is not None:
            fields.update(checksum.fields)
        return sorted(fields)

    @cached_property
    def _checksums(self) -> dict[Side, Checksum]:
        out = {}
        for d in self.mapping.direction.passes:
            side = source_side(d)
            modified = self.side(side).schema.modified
            out[side] = Checksum([f for f in self.source_fields(d) if f != modified])
        return out

    def checksum(self, side: Side) -> Checksum | None:
        """The checksum of ``side``'s records: the fields it supplies as the source of a pass
        (its modified-on field aside: the version covers it). None when the mapping never
        reads that side as a source."""
        return self._checksums.get(side)


def _stamp_rule(name: str, value: Any) -> FieldRule:
    return FieldRule(
        source=None,
        dest=name,
        constant=value,
        has_constant=True,
        lookup=None,
        clear_on_missing=False,
        transform=None,
        inverse_transform=False,
        bidirectional=False,
    )


def compile_filter(text: str) -> Filter | None:
    return parse_filter(text) if text.strip() else None
