"""Delete: delete the surviving record of broken couplings, and the couplings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from accord.engine.repair.common import (
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
from accord.engine.sync import new_job
from accord.errors import ConnectorError
from accord.model import Action, Change, ChangeKind, Coupling, Job, JobType, Side

if TYPE_CHECKING:
    from accord.engine.context import MappingContext, SideContext
    from accord.engine.workspace import Workspace


def delete(
    project: Workspace, mapping_name: str, keys: Sequence[str] | None, *, all_: bool
) -> RepairResult:
    """Delete the surviving record of each broken coupling, and the coupling.

    A record whose counterpart still exists is never deleted ("not broken"). A coupling
    whose two records are both gone is removed.
    """
    check_selection(keys, all_, "delete")
    project.check()
    mapping = project.config.mapping(mapping_name)
    ctx = project.context(mapping.name)
    store = project.store
    selected = selection(project, mapping.name, keys, all_, "deleted")
    job = new_job(mapping.name, JobType.DELETE, None)
    store.start_job(job, job.id)
    outcomes: list[RepairOutcome] = []
    try:
        states = coupling_states(project, ctx, selected)
        survivors: dict[Side, list[Coupling]] = {Side.LOCAL: [], Side.INTEGRATION: []}
        gone: list[Coupling] = []
        for c, local, integration in states:
            if c.pending or (local and integration):
                outcomes.append(outcome(c, Outcome.NOT_BROKEN, why_not_broken(c)))
            elif local or integration:
                survivors[Side.LOCAL if local else Side.INTEGRATION].append(c)
            else:
                gone.append(c)
                outcomes.append(
                    outcome(c, Outcome.UNCOUPLED, "both records were gone: coupling removed")
                )
        job.counters.add(Action.UNCHANGED, sum(o.outcome is Outcome.NOT_BROKEN for o in outcomes))
        with store.transaction() as tx:
            tx.delete_couplings(mapping.name, [c.local_key for c in gone])
            job.counters.add(Action.UNCOUPLE, len(gone))
            tx.add_errors(job_errors(job, outcomes))
            tx.save_job(job)
        record(project, outcomes, {Outcome.UNCOUPLED: Action.UNCOUPLE})
        for side, group in survivors.items():
            outcomes += _delete_survivors(project, ctx.side(side), ctx, job, group)
    except ConnectorError as exc:
        abort(project, job, exc)
        raise
    deleted = job.counters.deleted
    job.message = f"{deleted:,} surviving record(s) of broken couplings deleted"
    finish(project, job)
    return RepairResult([job], in_order(outcomes, keys))


def _delete_survivors(
    project: Workspace, side: SideContext, ctx: MappingContext, job: Job, group: list[Coupling]
) -> list[RepairOutcome]:
    mapping = ctx.mapping.name
    other = ctx.side(side.side.other)
    out: list[RepairOutcome] = []
    if not group:
        return out
    if not side.connector.capabilities.delete:
        out = [
            outcome(c, Outcome.FAILED, f"system {side.connector.name} cannot delete records")
            for c in group
        ]
        job.counters.add(Action.FAIL, len(out))
        with project.store.transaction() as tx:
            tx.add_errors(job_errors(job, out, side.side))
            tx.save_job(job)
        record(project, out, {}, side.side)
        return out
    size = max(1, side.connector.capabilities.batch_size)
    for start in range(0, len(group), size):
        chunk = group[start : start + size]
        changes = [Change(ChangeKind.DELETE, c.key(side.side), {}) for c in chunk]
        project.store.prove_leases()  # a run taken over while stalled writes nothing more
        results = side.connector.write(side.table, changes)
        done, chunk_out = [], []
        for c, written in zip(chunk, results, strict=True):
            if written.ok:
                done.append(c)
                message = f"{side.table_ref} record deleted ({other.table_ref} record was gone)"
                chunk_out.append(outcome(c, Outcome.DELETED, message))
            else:
                reason = written.error or "rejected"
                message = f"cannot delete {side.table_ref} {c.key(side.side)!r}: {reason}"
                chunk_out.append(outcome(c, Outcome.FAILED, message))
        job.counters.add(Action.DELETE, len(done))
        job.counters.add(Action.UNCOUPLE, len(done))
        job.counters.add(Action.FAIL, len(chunk) - len(done))
        with project.store.transaction() as tx:  # a crash after the write: both gone next time
            tx.delete_couplings(mapping, [c.local_key for c in done])
            tx.add_errors(job_errors(job, chunk_out, side.side))
            tx.save_job(job)
        record(project, chunk_out, {Outcome.DELETED: Action.DELETE}, side.side)
        out += chunk_out
    return out
