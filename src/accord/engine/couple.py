"""Coupling one record by hand, and uncoupling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from accord.engine.lookups import resolve_lookups
from accord.engine.options import PassOptions
from accord.engine.plan import PlannedChange
from accord.engine.progress import Progress
from accord.engine.repair.common import select
from accord.engine.results import CoupleResult, RunResult
from accord.engine.sync import _run_pass, new_job, sync_records
from accord.engine.transfer import TransferPlan
from accord.errors import RecordError, UsageError
from accord.filters import Filter
from accord.model import Action, Coupling, Direction, Job, JobStatus, JobType
from accord.model.values import blank
from accord.state.store import utcnow
from accord.testing.killpoints import reached

if TYPE_CHECKING:
    from accord.engine.context import MappingContext, SideContext
    from accord.engine.workspace import Workspace


def _exists(side: SideContext, key: str, within: Filter | None = None) -> bool:
    found = side.connector.read(side.table, keys=[key], fields=[], filter=within)
    return any(batch for batch in found)


def outside_filters(project: Workspace, ctx: MappingContext, local_key: str) -> str:
    """Why a local record is outside the mapping's filters ("" when it is inside).

    A full synchronization never sends a record its ``table_filter`` leaves out (a blocked
    customer), and never sees a counterpart its ``integration_table_filter`` leaves out: a
    counterpart created by hand for either would be a record no sync keeps up to date. The
    local filter is asked of the system itself (as a pass reads); the integration filter is
    evaluated on the record the creation would write (the mapping's values, blanks
    elsewhere), unless it names a field the mapping does not write (a system default).
    """
    mapping, local, integration = ctx.mapping, ctx.local, ctx.integration
    if local.filter is not None:
        inside = local.connector.read(local.table, keys=[local_key], filter=local.filter)
        if not any(batch for batch in inside):
            return (
                f"{local.table_ref} {local_key!r} is outside the table_filter of mapping "
                f"{mapping.name} ({mapping.table_filter}): a synchronization never sends it"
            )
    if integration.filter is None:
        return ""
    records = [r for batch in local.connector.read(local.table, keys=[local_key]) for r in batch]
    if not records:
        return ""
    rules = ctx.rules(Direction.TO_INTEGRATION)
    resolved = resolve_lookups(
        project.store, rules, Direction.TO_INTEGRATION, [records[0].values], project.mapping_names
    )
    try:
        wanted = TransferPlan(rules, integration.schema).apply(records[0].values, resolved).values
    except RecordError:
        return ""  # the creation itself fails, with the field named
    if not integration.filter.fields <= set(wanted):
        return ""
    row = {name: blank(info) for name, info in integration.schema.fields.items()} | wanted
    if integration.filter.matches(row):
        return ""
    return (
        f"the {integration.table_ref} record created for {local_key!r} would be outside the "
        f"integration_table_filter of mapping {mapping.name} "
        f"({mapping.integration_table_filter}): a synchronization would never read it"
    )


def couple_record(
    project: Workspace,
    mapping_name: str,
    local_key: str,
    integration_key: str | None,
    *,
    create_new: bool,
    sync: Direction | None,
    progress: Progress,
    force: bool = False,
) -> CoupleResult:
    mapping = project.config.mapping(mapping_name)
    ctx = project.context(mapping.name)
    store = project.store
    if not _exists(ctx.local, local_key):
        raise UsageError(f"{ctx.local.table_ref} has no record {local_key!r}")
    current = store.get_coupling(mapping.name, local_key=local_key)
    if create_new:
        if integration_key is not None:
            raise UsageError("give either --to INTEGRATION_KEY or --create-new, not both")
        if not mapping.direction.includes(Direction.TO_INTEGRATION):
            raise UsageError(
                f"mapping {mapping.name} is {mapping.direction.value}: it never creates "
                f"records in {ctx.integration.table_ref}"
            )
        if current is not None and _exists(ctx.integration, current.integration_key):
            raise UsageError(
                f"{local_key!r} is already coupled to {current.integration_key!r}; "
                "uncouple it first"
            )
        if not force:
            outside = outside_filters(project, ctx, local_key)
            if outside:
                raise UsageError(f"{outside}; give --force to create its counterpart anyway")
        run = RunResult(new_job(mapping.name, JobType.SYNC, None).id)
        options = PassOptions(keys=(local_key,), create_uncoupled=True, check_renamed=not force)
        if current is not None:  # stale: its counterpart was deleted
            with store.transaction() as tx:
                tx.delete_couplings(mapping.name, [local_key])
        job = _run_pass(project, mapping, Direction.TO_INTEGRATION, options, progress, run).job
        created = store.get_coupling(mapping.name, local_key=local_key)
        if created is None or job.counters.inserted != 1:
            message = job.message or "the record could not be created"
            errors = store.job(job.id)
            if errors and errors.errors:
                message = errors.errors[0].message
            raise UsageError(f"cannot create the counterpart of {local_key!r}: {message}")
        return CoupleResult(created, replaced=current, created=True, job=job)

    if integration_key is None:
        raise UsageError("give --to INTEGRATION_KEY, or --create-new")
    if not _exists(ctx.integration, integration_key):
        raise UsageError(f"{ctx.integration.table_ref} has no record {integration_key!r}")
    for side, key in ((ctx.local, local_key), (ctx.integration, integration_key)):
        if side.company is not None and not _exists(side, key, side.company):
            raise UsageError(
                f"{side.table_ref} {key!r} belongs to another company than mapping "
                f"{mapping.name}'s ({side.company.text}): it cannot be coupled here"
            )
    other = store.get_coupling(mapping.name, integration_key=integration_key)
    replaced = None
    if current is not None and current.integration_key == integration_key:
        already = CoupleResult(current)
        if sync is not None:
            already.sync = sync_records(project, mapping, [local_key], sync, progress)
        return already
    if current is not None:
        if _exists(ctx.integration, current.integration_key):
            raise UsageError(
                f"{local_key!r} is already coupled to {current.integration_key!r}; "
                "uncouple it first"
            )
        replaced = current
    if other is not None:
        if _exists(ctx.local, other.local_key):
            raise UsageError(
                f"{integration_key!r} is already coupled to {other.local_key!r}; uncouple it first"
            )
        replaced = replaced or other
    job = new_job(mapping.name, JobType.COUPLE, None)
    run_id = job.id
    store.start_job(job, run_id)
    coupling = Coupling(mapping.name, local_key, integration_key, coupled_at=utcnow())
    for c in (current, other):
        if c is not None:
            reason = "replaced: its counterpart no longer exists"
            _note(
                project,
                PlannedChange(
                    c.mapping, Action.UNCOUPLE, c.local_key, c.integration_key, reason=reason
                ),
            )
    _note(project, PlannedChange(mapping.name, Action.COUPLE, local_key, integration_key))
    with store.transaction() as tx:
        stale = [c.local_key for c in (current, other) if c is not None]
        tx.delete_couplings(mapping.name, stale)
        tx.insert_couplings([coupling])
        job.counters.add(Action.COUPLE)
        job.counters.add(Action.UNCOUPLE, len(stale))
        job.status, job.finished_at = JobStatus.OK, utcnow()
        job.message = f"coupled {local_key} to {integration_key}"
        tx.save_job(job)
    result = CoupleResult(coupling, replaced=replaced, job=job)
    if sync is not None:
        result.sync = sync_records(project, mapping, [local_key], sync, progress)
    return result


def uncouple_records(
    project: Workspace,
    mapping_name: str,
    keys: Sequence[str] | None,
    *,
    all_: bool,
    failed: bool = False,
    skipped: bool = False,
) -> Job:
    """Remove couplings (named by either side's key, all, or the failed and/or skipped ones).

    The records themselves stay.
    """
    mapping = project.config.mapping(mapping_name)
    store = project.store
    if (failed or skipped) and (all_ or keys):
        raise UsageError("--failed and --skipped select the couplings: give no keys and no --all")
    if not all_ and not keys and not (failed or skipped):
        raise UsageError("name the records to uncouple, or use --all, --failed or --skipped")
    selected = (
        store.problem_couplings(mapping.name, failed=failed, skipped=skipped)
        if failed or skipped
        else []
    )
    if keys and not all_:
        # Each coupling once, however many of its keys are named (local and integration key
        # of one pair is one coupling); a key naming none is an error and nothing is done.
        selected = select(project, mapping.name, keys, "uncoupled")
    job = new_job(mapping.name, JobType.UNCOUPLE, None)
    store.start_job(job, job.id)
    reached("uncouple.started")
    with store.transaction() as tx:
        if all_:
            if project.recorder.active:
                for batch in store.iter_couplings(mapping.name):
                    _note_uncoupled(project, batch)
            job.counters.add(Action.UNCOUPLE, tx.delete_all_couplings(mapping.name))
            reached("uncouple.deleting")  # deleted, not committed
        else:
            tx.delete_couplings(mapping.name, [c.local_key for c in selected])
            job.counters.add(Action.UNCOUPLE, len(selected))
            _note_uncoupled(project, selected)
        job.status, job.finished_at = JobStatus.OK, utcnow()
        tx.save_job(job)
    reached("uncouple.done")
    return job


def _note(project: Workspace, change: PlannedChange) -> None:
    if project.recorder.active:
        project.recorder.record(change)


def _note_uncoupled(project: Workspace, removed: Sequence[Coupling]) -> None:
    for c in removed:
        _note(project, PlannedChange(c.mapping, Action.UNCOUPLE, c.local_key, c.integration_key))
