"""Directions of mappings, fields and passes."""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    """Which way data flows; ``local`` is the ERP side, ``integration`` the CRM side."""

    TO_INTEGRATION = "to-integration"
    FROM_INTEGRATION = "from-integration"
    BIDIRECTIONAL = "bidirectional"

    @property
    def passes(self) -> tuple[Direction, ...]:
        """The passes a run in this direction makes, to-integration first (reference §2.4)."""
        if self is Direction.BIDIRECTIONAL:
            return (Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION)
        return (self,)

    def includes(self, pass_direction: Direction) -> bool:
        """True when a field or mapping with this direction takes part in ``pass_direction``."""
        return self is Direction.BIDIRECTIONAL or self is pass_direction

    @property
    def opposite(self) -> Direction:
        if self is Direction.TO_INTEGRATION:
            return Direction.FROM_INTEGRATION
        if self is Direction.FROM_INTEGRATION:
            return Direction.TO_INTEGRATION
        return self


class Side(StrEnum):
    """One of the two systems of a mapping."""

    LOCAL = "local"
    INTEGRATION = "integration"

    @property
    def other(self) -> Side:
        return Side.INTEGRATION if self is Side.LOCAL else Side.LOCAL


def source_side(pass_direction: Direction) -> Side:
    """The side records are read from in a pass."""
    return Side.LOCAL if pass_direction is Direction.TO_INTEGRATION else Side.INTEGRATION
