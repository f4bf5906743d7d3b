"""Couplings whose record was deleted: finding them and marking them failed.

A pass meets them when a change-tracking feed reports a source record deleted; the repair
action ``find_deleted`` scans every coupling of a mapping for them. Both mark the coupling
failed in the direction that would notice it, with the same message, so a repeat counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from accord.engine.plan import PlannedChange
from accord.model import (
    Action,
    Coupling,
    Direction,
    Job,
    JobError,
    JobType,
    SyncResult,
    TableMapping,
)

if TYPE_CHECKING:
    from accord.engine.context import MappingContext, SideContext
    from accord.engine.plan import Recorder
    from accord.state import StateStore


def deleted_message(side: SideContext, key: str) -> str:
    """The text a pass fails a coupling with when its counterpart is gone (``Pass``)."""
    return (
        f"coupled to a deleted record: {side.table_ref} {key!r} no longer exists "
        "(uncouple it, or set deletion_conflict to restore or uncouple)"
    )


def existing(side: SideContext, keys: Sequence[str], batch_size: int) -> set[str]:
    """Which of ``keys`` exist on ``side``: one keys-only read per batch of keys."""
    found: set[str] = set()
    size = max(1, batch_size)
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        for batch in side.connector.read(side.table, keys=chunk, fields=[], batch_size=size):
            found.update(r.key for r in batch)
    return found


def mark_deleted(
    ctx: MappingContext,
    store: StateStore,
    job: Job,
    batch: Sequence[Coupling],
    batch_size: int,
    recorder: Recorder,
) -> int:
    """Check whether both records of each coupling still exist (one keys-only read per side)
    and mark those whose record is gone as failed, in one transaction; returns how many.

    Used by :func:`find_deleted` on every coupling, and by a pass on the couplings whose
    source record a change-tracking feed reported deleted.
    """
    mapping = ctx.mapping
    batch = [c for c in batch if not c.pending]  # being created: not deleted
    if not batch:
        return 0
    has_local = existing(ctx.local, [c.local_key for c in batch], batch_size)
    has_integration = existing(ctx.integration, [c.integration_key for c in batch], batch_size)
    save: list[Coupling] = []
    errors: list[JobError] = []
    for c in batch:
        local, integration = c.local_key in has_local, c.integration_key in has_integration
        if local and integration:
            if job.type is JobType.CHECK:
                job.counters.unchanged += 1
            continue
        direction, message = _broken(ctx, mapping, c, local, integration)
        if not (c.result(direction) is SyncResult.FAILURE and c.error(direction) == message):
            c.repeats = 1  # a new failure; marking the same one again is no repeat
            if c.repeats >= mapping.skip_after:
                c.skipped = True
            c.set_result(direction, SyncResult.FAILURE, job.id, message)
            save.append(c)
        source, dest = c.key_on_source(direction), c.key_on_destination(direction)
        errors.append(JobError(job.id, source, dest, message))
        job.counters.add(Action.FAIL)
        if recorder.active:
            recorder.record(
                PlannedChange(mapping.name, Action.FAIL, source, dest, direction, reason=message)
            )
    with store.transaction() as tx:
        tx.update_couplings(save)
        tx.add_errors(errors)
        tx.save_job(job)
    return len(errors)


def _broken(
    ctx: MappingContext, mapping: TableMapping, c: Coupling, local: bool, integration: bool
) -> tuple[Direction, str]:
    if local:  # the integration record is gone: the to-integration pass meets it
        return Direction.TO_INTEGRATION, deleted_message(ctx.integration, c.integration_key)
    if integration:
        return Direction.FROM_INTEGRATION, deleted_message(ctx.local, c.local_key)
    return mapping.direction.passes[0], (
        f"both records no longer exist: {ctx.local.table_ref} {c.local_key!r} and "
        f"{ctx.integration.table_ref} {c.integration_key!r} (uncouple it)"
    )
