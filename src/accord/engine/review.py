"""The full-synchronization review: per mapping, what a first synchronization should do.

Reference §2.11: a mapping whose two tables both hold records should first couple them
(match-based coupling), one whose tables only one side fills should be fully synchronized, and
one with nothing on either side needs nothing. Counts use the mappings' filters; a side whose
records are all coupled already has nothing left to match.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from accord.engine.newstore import find_copies
from accord.engine.renamed import is_renamed
from accord.model import Direction, TableMapping

if TYPE_CHECKING:
    from accord.engine.context import SideContext
    from accord.engine.workspace import Workspace


class Recommendation(StrEnum):
    FULL_SYNC = "full synchronization"
    COUPLE = "couple records"
    NOTHING = "no records"


@dataclass(frozen=True, slots=True)
class ReviewLine:
    mapping: str
    direction: str
    depends_on: tuple[str, ...]
    local_records: int
    integration_records: int
    coupled: int
    recommendation: Recommendation
    match_on: tuple[str, ...]  # the criteria match-based coupling would use, by priority
    note: str = ""

    @property
    def matches_first(self) -> bool:
        """Whether ``sync --full`` runs match-based coupling before the full synchronization."""
        return self.recommendation is Recommendation.COUPLE and bool(self.match_on)


def review(project: Workspace, mappings: Sequence[TableMapping]) -> list[ReviewLine]:
    lines = []
    for mapping in mappings:
        ctx = project.context(mapping.name)
        local = ctx.local.connector.count(ctx.local.table, filter=ctx.local.filter)
        integration = ctx.integration.connector.count(
            ctx.integration.table, filter=ctx.integration.filter
        )
        coupled = project.store.coupling_stats(mapping.name).total
        if (local > coupled and integration > coupled) or (
            local
            and integration
            and _uncoupled_on_both_sides(project, mapping.name, local, integration)
        ):
            # uncoupled records on both sides: couple them first
            recommendation = Recommendation.COUPLE
        elif local or integration:
            recommendation = Recommendation.FULL_SYNC
        else:
            recommendation = Recommendation.NOTHING
        match_on = tuple(f.field or "" for f in mapping.match_fields())
        note = ""
        if recommendation is Recommendation.COUPLE and not match_on:
            note = (
                "no match criteria: a full synchronization creates a counterpart for every "
                "uncoupled record, duplicating those present on both sides"
            )
        renamed = _renamed(project, mapping)
        if renamed:
            held = (
                f"{renamed:,} record(s) held back as renamed keys: not created, as each looks "
                "like a coupled record whose key changed (re-couple them: see accord errors)"
            )
            note = f"{note}; {held}" if note else held
        copies = find_copies(project, mapping) if recommendation is Recommendation.COUPLE else None
        if copies is not None:
            then = (
                "sync --full couples them by the match criteria first"
                if match_on
                else "sync --full refuses to create records until they are coupled or "
                "--i-know confirms"
            )
            lost = (
                f"the state store looks new or lost: it knows nothing of this mapping, yet "
                f"{copies.copies:,} of {copies.of:,} records have an exact copy on the other "
                f"side ({then})"
            )
            note = f"{note}; {lost}" if note else lost
        lines.append(
            ReviewLine(
                mapping.name,
                mapping.direction.value,
                tuple(sorted(mapping.hard_dependencies())),
                local,
                integration,
                coupled,
                recommendation,
                match_on,
                note,
            )
        )
    return lines


def _renamed(project: Workspace, mapping: TableMapping) -> int:
    """Couplings a pass marked as the old key of a record held back (see engine.renamed)."""
    return sum(
        1
        for c in project.store.problem_couplings(mapping.name)
        if any(is_renamed(c, d) for d in Direction.BIDIRECTIONAL.passes)
    )


def _uncoupled_on_both_sides(
    project: Workspace, mapping: str, local_count: int, integration_count: int
) -> bool:
    """Whether each side holds a record (passing the filters) that is not coupled.

    The counts alone can hide them: couplings whose record was deleted, or fell outside a
    filter, still count as coupled. Creating counterparts for uncoupled records present on
    both sides would duplicate them, so this is checked record by record (keys only), the
    smaller side first and each side only until its first uncoupled record.
    """
    ctx = project.context(mapping)
    sides = [ctx.local, ctx.integration]
    if integration_count < local_count:
        sides.reverse()
    return all(_has_uncoupled(project, mapping, side) for side in sides)


def _has_uncoupled(project: Workspace, mapping: str, side: SideContext) -> bool:
    batches = side.connector.read(
        side.table, filter=side.filter, fields=[], batch_size=project.batch_size
    )
    try:
        for batch in batches:
            coupled = project.store.couplings_by(mapping, side.side, [r.key for r in batch])
            if any(r.key not in coupled for r in batch):
                return True
        return False
    finally:
        if isinstance(batches, Generator):  # stopped early: let go of its connection now
            batches.close()
