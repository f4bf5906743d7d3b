"""Restore: re-create the missing record of broken couplings and couple them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from accord.engine.options import PassOptions
from accord.engine.plan import PlannedChange
from accord.engine.progress import NoProgress
from accord.engine.repair.common import (
    PASSES,
    abort,
    check_selection,
    coupling_states,
    finish,
    in_order,
    job_errors,
    outcome,
    record,
    selection,
    why_not_broken,
)
from accord.engine.repair.results import Outcome, RepairOutcome, RepairResult
from accord.engine.results import RunResult
from accord.engine.sync import _run_pass, new_job
from accord.errors import ConnectorError
from accord.model import Action, Coupling, Direction, JobType, TableMapping, source_side

if TYPE_CHECKING:
    from accord.engine.workspace import Workspace


def restore(
    project: Workspace, mapping_name: str, keys: Sequence[str] | None, *, all_: bool
) -> RepairResult:
    """Re-create the missing record of each broken coupling from the survivor, and couple them.

    The broken coupling is deleted, then the survivor is synchronized as an uncoupled record
    with creation on: the same path a full sync takes, so the new record gets its key and a
    pending coupling before it is written. Both records present: "not broken", nothing done.
    Both gone: reported, the coupling stays (uncouple it).
    """
    check_selection(keys, all_, "restore")
    project.check()
    mapping = project.config.mapping(mapping_name)
    ctx = project.context(mapping.name)
    store = project.store
    selected = selection(project, mapping.name, keys, all_, "restored")
    run = RunResult(str(uuid.uuid4()))
    job = new_job(mapping.name, JobType.SYNC, None)
    job.message = "restore"
    store.start_job(job, run.run_id)
    try:
        states = coupling_states(project, ctx, selected)
    except ConnectorError as exc:
        abort(project, job, exc)
        raise
    outcomes: list[RepairOutcome] = []
    create: dict[Direction, list[Coupling]] = {d: [] for d in PASSES}
    for c, local, integration in states:
        if c.pending or (local and integration):
            outcomes.append(outcome(c, Outcome.NOT_BROKEN, why_not_broken(c)))
        elif not local and not integration:
            outcomes.append(outcome(c, Outcome.FAILED, "both records no longer exist; uncouple it"))
        else:
            direction = Direction.TO_INTEGRATION if local else Direction.FROM_INTEGRATION
            if mapping.direction.includes(direction):
                create[direction].append(c)
            else:
                missing = ctx.destination(direction)
                outcomes.append(
                    outcome(
                        c,
                        Outcome.FAILED,
                        f"mapping {mapping.name} is {mapping.direction.value}: it never creates "
                        f"records in {missing.table_ref}",
                    )
                )
    job.counters.add(Action.UNCHANGED, sum(o.outcome is Outcome.NOT_BROKEN for o in outcomes))
    job.counters.add(Action.FAIL, sum(not o.ok for o in outcomes))
    removed = create[Direction.TO_INTEGRATION] + create[Direction.FROM_INTEGRATION]
    with store.transaction() as tx:
        tx.add_errors(job_errors(job, outcomes))
        tx.delete_couplings(mapping.name, [c.local_key for c in removed])
        job.counters.add(Action.UNCOUPLE, len(removed))
        tx.save_job(job)
    if project.recorder.active:
        for c in removed:
            project.recorder.record(
                PlannedChange(
                    mapping.name,
                    Action.UNCOUPLE,
                    c.local_key,
                    c.integration_key,
                    reason="restore: the broken coupling is replaced",
                )
            )
    record(project, outcomes, {})
    for direction, group in create.items():
        if group:
            outcomes += _recreate(project, mapping, direction, group, run)
    restored = sum(o.outcome is Outcome.RESTORED for o in outcomes)
    job.message = f"restore: {restored:,} record(s) re-created and coupled"
    finish(project, job)
    return RepairResult([job, *run.jobs], in_order(outcomes, keys))


def _recreate(
    project: Workspace,
    mapping: TableMapping,
    direction: Direction,
    group: list[Coupling],
    run: RunResult,
) -> list[RepairOutcome]:
    keys = tuple(c.key_on_source(direction) for c in group)
    options = PassOptions(keys=keys, create_uncoupled=True, batch_size=project.batch_size)
    passed = _run_pass(project, mapping, direction, options, NoProgress(), run)
    job, settle = passed.job, passed.settle
    if (
        settle
        and direction is Direction.FROM_INTEGRATION
        and mapping.direction.includes(Direction.TO_INTEGRATION)
    ):
        # as a sync does: send back the fields the local side owns (its new number)
        back = PassOptions(keys=tuple(settle), batch_size=project.batch_size, known=passed.known)
        _run_pass(project, mapping, Direction.TO_INTEGRATION, back, NoProgress(), run)
    created = project.store.couplings_by(mapping.name, source_side(direction), keys)
    detail = project.store.job(job.id)
    reasons = {e.source_key: e.message for e in (detail.errors if detail else [])}
    where = project.context(mapping.name).destination(direction)
    out = []
    for c, key in zip(group, keys, strict=True):
        new = created.get(key)
        if new is not None and not new.pending:
            out.append(
                RepairOutcome(
                    mapping.name,
                    new.local_key,
                    new.integration_key,
                    Outcome.RESTORED,
                    f"re-created in {where.table_ref}",
                    new.key_on_destination(direction),
                )
            )
        else:
            why = reasons.get(key) or job.message or "the record could not be created"
            out.append(outcome(c, Outcome.FAILED, f"{why}; the record is now uncoupled"))
    return out
