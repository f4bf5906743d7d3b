"""Failed, skipped and broken couplings: list them, find them, retry, restore or delete them.

The reference's "Coupled Data Synchronization Errors" page (§2.7, §2.8):

- :func:`list_problems` lists failed and skipped couplings with their last message;
- :func:`find_deleted` scans a mapping's couplings for records deleted on either side and
  marks them failed in the direction that would notice it ("Find for Deleted", both sides);
- :func:`retry` clears the quarantine (``skipped``, ``repeats``) so the next sync processes
  them, and can synchronize them right away;
- :func:`restore` re-creates the missing record of a broken coupling from the survivor and
  couples the two ("Restore Records"), through the pass that creates records in a sync;
- :func:`delete` deletes the survivor of a broken coupling and the coupling ("Delete Records").

Every action logs a job with counters and one job error per record it could not handle, and
tells the project's recorder each record's outcome. Writes go through connectors' ``write``
and the state store's transactions only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from accord.engine.pass_ import PassOptions
from accord.engine.plan import PlannedChange
from accord.engine.progress import NoProgress
from accord.engine.results import RunResult
from accord.engine.sync import _run_pass, new_job
from accord.errors import ConnectorError, UsageError
from accord.model import (
    Action,
    Change,
    ChangeKind,
    Coupling,
    Direction,
    Job,
    JobError,
    JobStatus,
    JobType,
    Side,
    SyncResult,
    TableMapping,
    source_side,
)
from accord.state.store import utcnow

if TYPE_CHECKING:
    from accord.engine.context import MappingContext, SideContext
    from accord.engine.project import Project

PASSES = (Direction.TO_INTEGRATION, Direction.FROM_INTEGRATION)


# -- results ------------------------------------------------------------------------------
@dataclass(frozen=True)
class CouplingProblem:
    """One line of the errors page: a coupling that failed (in one direction) or is skipped."""

    mapping: str
    local_key: str
    integration_key: str
    direction: Direction | None  # the pass that failed (None: skipped with no failure left)
    state: str  # "failed" or "skipped"
    repeats: int  # how many times in a row the same error happened
    message: str
    job_id: str | None
    at: datetime | None = None  # when the job that failed started


class Outcome(StrEnum):
    """What ``retry``, ``restore`` or ``delete`` did with one record."""

    RETRIED = "retried"  # quarantine cleared
    NOTHING = "nothing to retry"  # neither skipped nor failed
    RESTORED = "restored"  # the missing record was re-created and coupled
    DELETED = "deleted"  # the survivor and the coupling were deleted
    UNCOUPLED = "uncoupled"  # both records were gone: only the coupling was removed
    NOT_BROKEN = "not broken"  # both records exist (or the coupling is pending): nothing done
    NOT_COUPLED = "not coupled"  # the key names no coupling of the mapping
    FAILED = "failed"  # could not be handled; the message says why


@dataclass(frozen=True)
class RepairOutcome:
    mapping: str
    local_key: str
    integration_key: str
    outcome: Outcome
    message: str = ""
    created_key: str = ""  # restore: the key of the re-created record

    @property
    def ok(self) -> bool:
        return self.outcome not in (Outcome.NOT_COUPLED, Outcome.FAILED)


@dataclass
class RepairResult:
    """The jobs one ``retry``/``restore``/``delete`` logged and each record's outcome."""

    jobs: list[Job] = field(default_factory=list)
    outcomes: list[RepairOutcome] = field(default_factory=list)
    sync: RunResult | None = None  # retry --sync

    @property
    def ok(self) -> bool:
        return (
            all(o.ok for o in self.outcomes)
            and all(j.status is JobStatus.OK for j in self.jobs)
            and (self.sync is None or self.sync.ok)
        )

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome is outcome)


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
    store, recorder = project.store, project.recorder
    job = new_job(mapping.name, JobType.CHECK, None)
    store.start_job(job, job.id)
    try:
        for batch in store.iter_couplings(mapping.name, project.batch_size):
            batch = [c for c in batch if not c.pending]  # being created: not deleted
            has_local = _existing(ctx.local, [c.local_key for c in batch], project.batch_size)
            has_integration = _existing(
                ctx.integration, [c.integration_key for c in batch], project.batch_size
            )
            save: list[Coupling] = []
            errors: list[JobError] = []
            for c in batch:
                local, integration = c.local_key in has_local, c.integration_key in has_integration
                if local and integration:
                    job.counters.unchanged += 1
                    continue
                direction, message = _broken(ctx, mapping, c, local, integration)
                if not (
                    c.result(direction) is SyncResult.FAILURE and c.error(direction) == message
                ):
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
                        PlannedChange(
                            mapping.name, Action.FAIL, source, dest, direction, reason=message
                        )
                    )
            with store.transaction() as tx:
                tx.update_couplings(save)
                tx.add_errors(errors)
                tx.save_job(job)
    except ConnectorError as exc:
        _abort(project, job, exc)
        raise
    found = job.counters.failed
    job.message = f"{found:,} coupling(s) to a deleted record" if found else "none found"
    _finish(project, job)
    return job


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


# -- retry --------------------------------------------------------------------------------
def retry(
    project: Project,
    mapping_name: str | None,
    keys: Sequence[str] | None,
    *,
    all_: bool,
    sync: bool,
) -> RepairResult:
    """Clear ``skipped`` and ``repeats`` so the next sync processes these couplings again."""
    check_selection(keys, all_, "retry")
    if mapping_name is None and not all_:
        raise UsageError("name the mapping of these records")
    mappings = project.ordered([mapping_name] if mapping_name else None)
    store = project.store
    result = RepairResult()
    to_sync: dict[tuple[str, Direction], list[str]] = {}
    for mapping in mappings:
        unknown: list[str] = []
        if all_:
            selected = store.problem_couplings(mapping.name)
            if mapping_name is None and not selected:
                continue  # every mapping: log jobs only where there is something to retry
        else:
            assert keys is not None
            selected, unknown = _select(project, mapping.name, keys)
        job = new_job(mapping.name, JobType.RETRY, None)
        store.start_job(job, job.id)
        changed = [c for c in selected if c.skipped or c.repeats]
        outcomes = [
            RepairOutcome(
                mapping.name,
                c.local_key,
                c.integration_key,
                Outcome.RETRIED if c.skipped or c.repeats else Outcome.NOTHING,
                "quarantine cleared" if c.skipped else "",
            )
            for c in selected
        ]
        outcomes += [_not_coupled(mapping.name, k) for k in unknown]
        with store.transaction() as tx:
            tx.clear_skipped(mapping.name, [c.local_key for c in changed])
            job.counters.add(Action.MODIFY, len(changed))
            job.counters.add(Action.UNCHANGED, len(selected) - len(changed))
            job.counters.add(Action.FAIL, len(unknown))
            tx.add_errors(_job_errors(job, outcomes))
            job.message = f"{len(changed):,} coupling(s) will be retried by the next sync"
            _close(job)
            tx.save_job(job)
        _record(project, outcomes, {Outcome.RETRIED: Action.MODIFY})
        result.jobs.append(job)
        result.outcomes += outcomes
        for c in selected:
            failed = [
                d
                for d in PASSES
                if c.result(d) is SyncResult.FAILURE and mapping.direction.includes(d)
            ]
            if c.skipped and not failed:
                failed = list(mapping.direction.passes)
            for d in failed:
                to_sync.setdefault((mapping.name, d), []).append(c.local_key)
    if sync:
        run = RunResult(str(uuid.uuid4()))
        for (name, direction), local_keys in to_sync.items():
            done = project.sync([name], records=local_keys, direction=direction)
            run.jobs += done.jobs
            run.not_run.update(done.not_run)
        result.sync = run
    return result


# -- restore ------------------------------------------------------------------------------
def restore(
    project: Project, mapping_name: str, keys: Sequence[str] | None, *, all_: bool
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
    run = RunResult(str(uuid.uuid4()))
    job = new_job(mapping.name, JobType.SYNC, None)
    job.message = "restore"
    store.start_job(job, run.run_id)
    try:
        selected, unknown = _selection(project, mapping.name, keys, all_)
        states = _states(project, ctx, selected)
    except ConnectorError as exc:
        _abort(project, job, exc)
        raise
    outcomes = [_not_coupled(mapping.name, k) for k in unknown]
    create: dict[Direction, list[Coupling]] = {d: [] for d in PASSES}
    for c, local, integration in states:
        if c.pending or (local and integration):
            outcomes.append(_outcome(c, Outcome.NOT_BROKEN, _why_not_broken(c)))
        elif not local and not integration:
            outcomes.append(
                _outcome(c, Outcome.FAILED, "both records no longer exist; uncouple it")
            )
        else:
            direction = Direction.TO_INTEGRATION if local else Direction.FROM_INTEGRATION
            if mapping.direction.includes(direction):
                create[direction].append(c)
            else:
                missing = ctx.destination(direction)
                outcomes.append(
                    _outcome(
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
        tx.add_errors(_job_errors(job, outcomes))
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
    _record(project, outcomes, {})
    for direction, group in create.items():
        if group:
            outcomes += _recreate(project, mapping, direction, group, run)
    restored = sum(o.outcome is Outcome.RESTORED for o in outcomes)
    job.message = f"restore: {restored:,} record(s) re-created and coupled"
    _finish(project, job)
    return RepairResult([job, *run.jobs], _in_order(outcomes, keys))


def _recreate(
    project: Project,
    mapping: TableMapping,
    direction: Direction,
    group: list[Coupling],
    run: RunResult,
) -> list[RepairOutcome]:
    keys = tuple(c.key_on_source(direction) for c in group)
    options = PassOptions(keys=keys, create_uncoupled=True, batch_size=project.batch_size)
    job, settle = _run_pass(project, mapping, direction, options, NoProgress(), run)
    if (
        settle
        and direction is Direction.FROM_INTEGRATION
        and mapping.direction.includes(Direction.TO_INTEGRATION)
    ):
        # as a sync does: send back the fields the local side owns (its new number)
        back = PassOptions(keys=tuple(settle), batch_size=project.batch_size)
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
            out.append(_outcome(c, Outcome.FAILED, f"{why}; the record is now uncoupled"))
    return out


# -- delete -------------------------------------------------------------------------------
def delete(
    project: Project, mapping_name: str, keys: Sequence[str] | None, *, all_: bool
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
    job = new_job(mapping.name, JobType.DELETE, None)
    store.start_job(job, job.id)
    outcomes: list[RepairOutcome] = []
    try:
        selected, unknown = _selection(project, mapping.name, keys, all_)
        states = _states(project, ctx, selected)
        outcomes += [_not_coupled(mapping.name, k) for k in unknown]
        survivors: dict[Side, list[Coupling]] = {Side.LOCAL: [], Side.INTEGRATION: []}
        gone: list[Coupling] = []
        for c, local, integration in states:
            if c.pending or (local and integration):
                outcomes.append(_outcome(c, Outcome.NOT_BROKEN, _why_not_broken(c)))
            elif local or integration:
                survivors[Side.LOCAL if local else Side.INTEGRATION].append(c)
            else:
                gone.append(c)
                outcomes.append(
                    _outcome(c, Outcome.UNCOUPLED, "both records were gone: coupling removed")
                )
        job.counters.add(Action.UNCHANGED, sum(o.outcome is Outcome.NOT_BROKEN for o in outcomes))
        job.counters.add(Action.FAIL, len(unknown))
        with store.transaction() as tx:
            tx.delete_couplings(mapping.name, [c.local_key for c in gone])
            job.counters.add(Action.UNCOUPLE, len(gone))
            tx.add_errors(_job_errors(job, outcomes))
            tx.save_job(job)
        _record(project, outcomes, {Outcome.UNCOUPLED: Action.UNCOUPLE})
        for side, group in survivors.items():
            outcomes += _delete_survivors(project, ctx.side(side), ctx, job, group)
    except ConnectorError as exc:
        _abort(project, job, exc)
        raise
    deleted = job.counters.deleted
    job.message = f"{deleted:,} surviving record(s) of broken couplings deleted"
    _finish(project, job)
    return RepairResult([job], _in_order(outcomes, keys))


def _delete_survivors(
    project: Project, side: SideContext, ctx: MappingContext, job: Job, group: list[Coupling]
) -> list[RepairOutcome]:
    mapping = ctx.mapping.name
    other = ctx.side(side.side.other)
    out: list[RepairOutcome] = []
    if not group:
        return out
    if not side.connector.capabilities.delete:
        out = [
            _outcome(c, Outcome.FAILED, f"system {side.connector.name} cannot delete records")
            for c in group
        ]
        job.counters.add(Action.FAIL, len(out))
        with project.store.transaction() as tx:
            tx.add_errors(_job_errors(job, out, side.side))
            tx.save_job(job)
        _record(project, out, {}, side.side)
        return out
    size = max(1, side.connector.capabilities.batch_size)
    for start in range(0, len(group), size):
        chunk = group[start : start + size]
        changes = [Change(ChangeKind.DELETE, c.key(side.side), {}) for c in chunk]
        results = side.connector.write(side.table, changes)
        done, chunk_out = [], []
        for c, written in zip(chunk, results, strict=True):
            if written.ok:
                done.append(c)
                message = f"{side.table_ref} record deleted ({other.table_ref} record was gone)"
                chunk_out.append(_outcome(c, Outcome.DELETED, message))
            else:
                reason = written.error or "rejected"
                message = f"cannot delete {side.table_ref} {c.key(side.side)!r}: {reason}"
                chunk_out.append(_outcome(c, Outcome.FAILED, message))
        job.counters.add(Action.DELETE, len(done))
        job.counters.add(Action.UNCOUPLE, len(done))
        job.counters.add(Action.FAIL, len(chunk) - len(done))
        with project.store.transaction() as tx:  # a crash after the write: both gone next time
            tx.delete_couplings(mapping, [c.local_key for c in done])
            tx.add_errors(_job_errors(job, chunk_out, side.side))
            tx.save_job(job)
        _record(project, chunk_out, {Outcome.DELETED: Action.DELETE}, side.side)
        out += chunk_out
    return out


# -- shared -------------------------------------------------------------------------------
def check_selection(keys: Sequence[str] | None, all_: bool, verb: str) -> None:
    if keys and all_:
        raise UsageError(f"name the records to {verb}, or use --all, not both")
    if not keys and not all_:
        raise UsageError(f"name the records to {verb}, or use --all")


def _select(
    project: Project, mapping: str, keys: Sequence[str]
) -> tuple[list[Coupling], list[str]]:
    """Couplings named by either side's key (each once), and the keys that name none."""
    by_local = project.store.couplings_by(mapping, Side.LOCAL, keys)
    by_integration = project.store.couplings_by(mapping, Side.INTEGRATION, keys)
    found: dict[str, Coupling] = {}
    unknown = []
    for key in dict.fromkeys(keys):
        c = by_local.get(key) or by_integration.get(key)
        if c is None:
            unknown.append(key)
        else:
            found.setdefault(c.local_key, c)
    return list(found.values()), unknown


def _selection(
    project: Project, mapping: str, keys: Sequence[str] | None, all_: bool
) -> tuple[list[Coupling], list[str]]:
    """``--all`` selects the couplings on the errors page (failed or skipped)."""
    if all_:
        return project.store.problem_couplings(mapping), []
    assert keys is not None
    return _select(project, mapping, keys)


def _in_order(outcomes: list[RepairOutcome], keys: Sequence[str] | None) -> list[RepairOutcome]:
    """Outcomes in the order the keys were named (by local key for ``--all``)."""
    if not keys:
        return sorted(outcomes, key=lambda o: o.local_key)
    position = {k: i for i, k in reversed(list(enumerate(keys)))}
    last = len(position)
    return sorted(
        outcomes,
        key=lambda o: min(position.get(o.local_key, last), position.get(o.integration_key, last)),
    )


def _existing(side: SideContext, keys: Sequence[str], batch_size: int) -> set[str]:
    """Which of ``keys`` exist on ``side``: one keys-only read per batch of keys."""
    found: set[str] = set()
    size = max(1, batch_size)
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        for batch in side.connector.read(side.table, keys=chunk, fields=[], batch_size=size):
            found.update(r.key for r in batch)
    return found


def _states(
    project: Project, ctx: MappingContext, selected: list[Coupling]
) -> list[tuple[Coupling, bool, bool]]:
    """Each coupling with whether its local and its integration record exist."""
    local = _existing(ctx.local, [c.local_key for c in selected], project.batch_size)
    integration = _existing(
        ctx.integration, [c.integration_key for c in selected], project.batch_size
    )
    return [(c, c.local_key in local, c.integration_key in integration) for c in selected]


def _why_not_broken(c: Coupling) -> str:
    if c.pending:
        return "its record is being created; the next sync completes it"
    return "both records exist"


def _outcome(c: Coupling, outcome: Outcome, message: str = "") -> RepairOutcome:
    return RepairOutcome(c.mapping, c.local_key, c.integration_key, outcome, message)


def _not_coupled(mapping: str, key: str) -> RepairOutcome:
    return RepairOutcome(mapping, key, "", Outcome.NOT_COUPLED, "not coupled")


def _job_errors(
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


def _record(
    project: Project,
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


def _close(job: Job) -> None:
    job.status = JobStatus.FAILED if job.counters.failed else JobStatus.OK
    job.finished_at = utcnow()


def _finish(project: Project, job: Job) -> None:
    _close(job)
    with project.store.transaction() as tx:
        tx.save_job(job)


def _abort(project: Project, job: Job, exc: ConnectorError) -> None:
    job.status, job.message, job.finished_at = JobStatus.ERROR, str(exc), utcnow()
    with project.store.transaction() as tx:
        tx.save_job(job)
