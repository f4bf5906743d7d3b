"""Listing failed and skipped couplings, and finding couplings to a deleted record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from accord.engine.plan import PlannedChange
from accord.engine.repair.common import PASSES, abort, existing, finish
from accord.engine.repair.results import CouplingProblem
from accord.engine.sync import new_job
from accord.errors import ConnectorError
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
    from accord.engine.project import Project
    from accord.state import StateStore


# -- listing ------------------------------------------------------------------------------
def list_problems(
    project: Project, mappings: Sequence[TableMapping], limit: int | None
) -> list[CouplingProblem]:
    """Failed and skipped couplings of ``mappings`` (in that order), one line per failure."""
    out: list[CouplingProblem] = []
    for mapping in mappings:
        remaining = None if limit is None else limit - len(out)
        if remaining is not None and remaining <= 0:
            break
        for c in project.store.problem_couplings(mapping.name, limit=remaining):
            out.extend(_problems_of(c))
    if limit is not None:
        out = out[:limit]
    started = project.store.job_started(p.job_id for p in out if p.job_id)
    return [replace(p, at=started.get(p.job_id)) if p.job_id else p for p in out]


def _problems_of(c: Coupling) -> list[CouplingProblem]:
    state = "skipped" if c.skipped else "failed"
    failed = [d for d in PASSES if c.result(d) is SyncResult.FAILURE]
    if not failed:
        return [
            CouplingProblem(
                c.mapping, c.local_key, c.integration_key, None, state, c.repeats, "", None
            )
        ]
    return [
        CouplingProblem(
            c.mapping,
            c.local_key,
            c.integration_key,
            d,
            state,
            c.repeats,
            c.error(d),
            c.job_to if d is Direction.TO_INTEGRATION else c.job_from,
        )
        for d in failed
    ]


# -- find deleted -------------------------------------------------------------------------
def deleted_message(side: SideContext, key: str) -> str:
    """The text a pass fails a coupling with when its counterpart is gone (``Pass``)."""
    return (
        f"coupled to a deleted record: {side.table_ref} {key!r} no longer exists "
        "(uncouple it, or set deletion_conflict to restore or uncouple)"
    )


def find_deleted(project: Project, mapping_name: str) -> Job:
    """Mark couplings whose local or integration record is gone as failed; returns the job.

    Couplings are streamed in batches; each batch costs one keys-only read per side. A
    record missing on the integration side fails the to-integration direction (the pass that
    would notice it), one missing on the local side fails from-integration. The message is
    the one a pass gives, so a pass meeting the same coupling counts a repeat.
    """
    mapping = project.config.mapping(mapping_name)
    ctx = project.context(mapping.name)
    store = project.store
    job = new_job(mapping.name, JobType.CHECK, None)
    store.start_job(job, job.id)
    try:
        for batch in store.iter_couplings(mapping.name, project.batch_size):
            mark_deleted(ctx, store, job, batch, project.batch_size, project.recorder)
    except ConnectorError as exc:
        abort(project, job, exc)
        raise
    found = job.counters.failed
    job.message = f"{found:,} coupling(s) to a deleted record" if found else "none found"
    finish(project, job)
    return job


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
