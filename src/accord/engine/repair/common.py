"""What the repair actions share: selecting couplings, checking records, logging outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from accord.engine.deleted import existing
from accord.engine.plan import PlannedChange
from accord.engine.repair.results import Outcome, RepairOutcome
from accord.errors import ConnectorError, UsageError
from accord.model import Action, Coupling, Direction, Job, JobError, JobStatus, Side
from accord.state.store import utcnow

if TYPE_CHECKING:
    from accord.engine.context import MappingContext
    from accord.engine.workspace import Workspace

PASSES = (Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION)


def check_selection(keys: Sequence[str] | None, all_: bool, verb: str) -> None:
    if keys and all_:
        raise UsageError(f"name the records to {verb}, or use --all, not both")
    if not keys and not all_:
        raise UsageError(f"name the records to {verb}, or use --all")


def select(project: Workspace, mapping: str, keys: Sequence[str], verb: str) -> list[Coupling]:
    """Couplings named by either side's key, each once however many of its keys are named.

    A key that names no coupling is a usage error (exit code 2) and nothing is done: the
    same rule as ``accord couple`` naming a record that does not exist.
    """
    named = project.store.couplings_named(mapping, keys)
    found: dict[str, Coupling] = {}
    for key in dict.fromkeys(keys):
        c = named.get(key)
        if c is not None:
            found.setdefault(c.local_key, c)
    unknown = [k for k in dict.fromkeys(keys) if k not in named]
    if unknown:
        raise UsageError(not_coupled_message(mapping, unknown, verb))
    return list(found.values())


def not_coupled_message(mapping: str, keys: Sequence[str], verb: str) -> str:
    """``mapping CUSTOMER has no coupling for 'NOPE': nothing was uncoupled``."""
    shown = ", ".join(repr(k) for k in keys[:5]) + (
        f" and {len(keys) - 5} more" if len(keys) > 5 else ""
    )
    return f"mapping {mapping} has no coupling for {shown}: nothing was {verb}"


def selection(
    project: Workspace, mapping: str, keys: Sequence[str] | None, all_: bool, verb: str
) -> list[Coupling]:
    """``--all`` selects the couplings on the errors page (failed or skipped)."""
    if all_:
        return project.store.problem_couplings(mapping)
    assert keys is not None
    return select(project, mapping, keys, verb)


def in_order(outcomes: list[RepairOutcome], keys: Sequence[str] | None) -> list[RepairOutcome]:
    """Outcomes in the order the keys were named (by local key for ``--all``)."""
    if not keys:
        return sorted(outcomes, key=lambda o: o.local_key)
    position = {k: i for i, k in reversed(list(enumerate(keys)))}
    last = len(position)
    return sorted(
        outcomes,
        key=lambda o: min(position.get(o.local_key, last), position.get(o.integration_key, last)),
    )


def coupling_states(
    project: Workspace, ctx: MappingContext, selected: list[Coupling]
) -> list[tuple[Coupling, bool, bool]]:
    """Each coupling with whether its local and its integration record exist."""
    local = existing(ctx.local, [c.local_key for c in selected], project.batch_size)
    integration = existing(
        ctx.integration, [c.integration_key for c in selected], project.batch_size
    )
    return [(c, c.local_key in local, c.integration_key in integration) for c in selected]


def why_not_broken(c: Coupling) -> str:
    if c.pending:
        return "its record is being created; the next sync completes it"
    return "both records exist"


def outcome(c: Coupling, outcome: Outcome, message: str = "") -> RepairOutcome:
    return RepairOutcome(c.mapping, c.local_key, c.integration_key, outcome, message)


def job_errors(
    job: Job, outcomes: Sequence[RepairOutcome], side: Side = Side.LOCAL
) -> list[JobError]:
    """One job error per record that could not be handled (source: the side acted on)."""
    errors = []
    for o in outcomes:
        if not o.ok:
            source, dest = (
                (o.local_key, o.integration_key)
                if side is Side.LOCAL
                else (o.integration_key, o.local_key)
            )
            errors.append(JobError(job.id, source, dest, o.message))
    return errors


def record(
    project: Workspace,
    outcomes: Sequence[RepairOutcome],
    actions: dict[Outcome, Action],
    side: Side = Side.LOCAL,
) -> None:
    """Tell the recorder each outcome (failures as FAIL, records left alone as UNCHANGED)."""
    recorder = project.recorder
    if not recorder.active:
        return
    for o in outcomes:
        action = actions.get(o.outcome) or (Action.FAIL if not o.ok else Action.UNCHANGED)
        key, target = (
            (o.local_key, o.integration_key)
            if side is Side.LOCAL
            else (o.integration_key, o.local_key)
        )
        reason = "" if action in (Action.DELETE, Action.MODIFY) else o.message
        recorder.record(PlannedChange(o.mapping, action, key, target, reason=reason))


def close(job: Job) -> None:
    job.status = JobStatus.FAILED if job.counters.failed else JobStatus.OK
    job.finished_at = utcnow()


def finish(project: Workspace, job: Job) -> None:
    close(job)
    with project.store.transaction() as tx:
        tx.save_job(job)


def abort(project: Workspace, job: Job, exc: ConnectorError) -> None:
    job.status, job.message, job.finished_at = JobStatus.ERROR, str(exc), utcnow()
    with project.store.transaction() as tx:
        tx.save_job(job)
