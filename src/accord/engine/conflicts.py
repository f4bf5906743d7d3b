"""Open update conflicts, side by side, and settling one by choosing a side."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from accord.engine.lookups import resolve_lookups
from accord.engine.results import RunResult
from accord.engine.sync import sync_records
from accord.engine.transfer import TransferPlan, differences
from accord.errors import RecordError, UsageError
from accord.model import Coupling, Direction, Record, Side, SyncResult, TableMapping

if TYPE_CHECKING:
    from accord.engine.context import MappingContext, SideContext
    from accord.engine.progress import Progress
    from accord.engine.workspace import Workspace

CONFLICT = "update conflict"
BATCH = 500


@dataclass(frozen=True, slots=True)
class FieldConflict:
    """One bidirectional field pair whose two values differ."""

    field: str
    integration_field: str
    local: Any
    integration: Any
    at_last_sync: Any = None  # the local value both sides agreed on (merge policy keeps it)
    known_base: bool = False


@dataclass(slots=True)
class OpenConflict:
    """A coupled pair whose last synchronization failed because both sides changed."""

    mapping: str
    local_key: str
    integration_key: str
    message: str
    skipped: bool
    fields: list[FieldConflict] = field(default_factory=list)


def is_conflict(c: Coupling) -> bool:
    return any(
        c.result(d) is SyncResult.FAILURE and c.error(d).startswith(CONFLICT)
        for d in (Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION)
    )


def open_conflicts(project: Workspace, mappings: Sequence[TableMapping]) -> list[OpenConflict]:
    """Every open conflict of these mappings, with the differing fields read from both sides."""
    out: list[OpenConflict] = []
    for mapping in mappings:
        if mapping.direction is not Direction.BIDIRECTIONAL:
            continue
        found = [c for c in project.store.attention(mapping.name) if is_conflict(c)]
        ctx = project.context(mapping.name)
        for start in range(0, len(found), BATCH):
            out.extend(_describe(project, ctx, found[start : start + BATCH]))
    return out


def _describe(
    project: Workspace, ctx: MappingContext, couplings: list[Coupling]
) -> list[OpenConflict]:
    rules = [r for r in ctx.rules(Direction.TO_INTEGRATION) if r.bidirectional and r.source]
    local = _read(ctx.local, [c.local_key for c in couplings])
    integration = _read(ctx.integration, [c.integration_key for c in couplings])
    resolved = resolve_lookups(
        project.store,
        rules,
        Direction.TO_INTEGRATION,
        (r.values for r in local.values()),
        project.mapping_names,
    )
    plan = TransferPlan(rules, ctx.integration.schema)
    out = []
    for c in couplings:
        message = c.error_to if c.error_to.startswith(CONFLICT) else c.error_from
        item = OpenConflict(ctx.mapping.name, c.local_key, c.integration_key, message, c.skipped)
        out.append(item)
        lrec, irec = local.get(c.local_key), integration.get(c.integration_key)
        if lrec is None or irec is None:
            continue  # a record was deleted since: the errors list shows it
        try:
            differing = differences(plan.apply(lrec.values, resolved).values, irec.values)
        except RecordError:
            differing = {r.dest: None for r in rules}
        base = (c.last_values or {}).get(Side.LOCAL.value, {})
        for rule in rules:
            if rule.dest in differing and rule.source:
                item.fields.append(
                    FieldConflict(
                        rule.source,
                        rule.dest,
                        lrec.values.get(rule.source),
                        irec.values.get(rule.dest),
                        base.get(rule.source),
                        rule.source in base,
                    )
                )
    return out


def _read(side: SideContext, keys: list[str]) -> dict[str, Record]:
    return {r.key: r for batch in side.connector.read(side.table, keys=keys) for r in batch}


def resolve_conflicts(
    project: Workspace,
    mapping_name: str,
    keys: Sequence[str] | None,
    winner: Direction,
    progress: Progress,
) -> RunResult:
    """Settle conflicts: the winner's values go over, then the other side's own fields back.

    Records are named by either side's key; ``keys=None`` settles every open conflict of the
    mapping. A quarantined (skipped) coupling is released first: choosing a side is the
    decision quarantine was waiting for.
    """
    mapping = project.config.mapping(mapping_name)
    if mapping.direction is not Direction.BIDIRECTIONAL:
        raise UsageError(f"mapping {mapping.name} is {mapping.direction.value}: no conflicts")
    if winner is Direction.BIDIRECTIONAL:
        raise UsageError("resolve sends one side's values: --send or --get")
    store = project.store
    if keys is None:
        chosen = [c for c in store.attention(mapping.name) if is_conflict(c)]
    else:
        named = store.couplings_named(mapping.name, keys)
        chosen = []
        for key in keys:
            c = named.get(key)
            if c is None:
                raise UsageError(f"{key!r} is not coupled in mapping {mapping.name}")
            chosen.append(c)
    if not chosen:
        return RunResult(str(uuid.uuid4()))
    released = [c for c in chosen if c.skipped]
    for c in released:
        c.skipped, c.repeats = False, 0
    if released:
        with store.transaction() as tx:
            tx.update_couplings(released)
    local_keys = [c.local_key for c in chosen]
    run = sync_records(project, mapping, local_keys, winner, progress)
    back = sync_records(project, mapping, local_keys, winner.opposite, progress)
    run.jobs.extend(back.jobs)
    run.not_run.update(back.not_run)
    return run
