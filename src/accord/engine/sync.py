"""Synchronization runs: mappings in dependency order, each as one or two passes."""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

from accord.engine.options import PassOptions
from accord.engine.pass_ import Pass
from accord.engine.progress import Progress
from accord.engine.results import RunResult
from accord.engine.workspace import DEFAULT_BATCH_SIZE
from accord.errors import AccordError, ConnectorError, UsageError
from accord.model import Direction, Job, JobStatus, JobType, Record, TableMapping
from accord.secrets import redact
from accord.state import StateStore
from accord.state.store import utcnow

if TYPE_CHECKING:
    from accord.connectors.base import Connector
    from accord.engine.workspace import Workspace

log = logging.getLogger(__name__)


class Prepare(Protocol):
    """What runs before a mapping's passes (see :func:`run_sync`)."""

    def __call__(
        self, project: Workspace, mapping: TableMapping, progress: Progress, result: RunResult
    ) -> dict[Direction, frozenset[str]] | None: ...


def new_job(mapping: str, type_: JobType, direction: Direction | None) -> Job:
    return Job(str(uuid.uuid4()), mapping, type_, direction, utcnow())


def parse_since(value: datetime | date | str) -> datetime:
    """The instant of ``sync --since``, as the engine compares versions: naive UTC.

    ISO 8601, a date (midnight) or a date and time; UTC unless an offset is given
    (``2026-12-01``, ``2026-12-01T08:30``, ``2026-12-01 08:30:00+01:00``, ``…Z``).
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"--since {value!r} is not a date or time: use ISO 8601, e.g. 2026-12-01 or "
                "2026-12-01T08:30:00+01:00 (UTC unless an offset is given)"
            ) from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime(value.year, value.month, value.day)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def run_sync(
    project: Workspace,
    mappings: Sequence[TableMapping],
    *,
    full: bool,
    records: Sequence[str] | None,
    direction: Direction | None,
    progress: Progress,
    prepare: Prepare | None = None,
    since: datetime | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run each mapping's passes in dependency order; a failed mapping stops its dependants.

    ``prepare`` runs before a mapping's passes (a full synchronization following the review
    couples the matching records first: ``match.match_first``); it returns the source keys
    each direction must not create, or None when the mapping cannot run.
    """
    result = RunResult(run_id or str(uuid.uuid4()))
    started = utcnow()
    project.store.interrupt_stale_jobs()
    broken: set[str] = set()
    for mapping in mappings:
        blocked = sorted(d for d in mapping.hard_dependencies() if d.lower() in broken)
        if blocked:
            result.not_run[mapping.name] = f"depends on {', '.join(blocked)}, which failed"
            broken.add(mapping.name.lower())
            continue
        passes = mapping.direction.passes
        if direction is not None:
            if not mapping.direction.includes(direction) and mapping.direction is not direction:
                raise UsageError(
                    f"mapping {mapping.name} is {mapping.direction.value}; "
                    f"it cannot run {direction.value}"
                )
            passes = (direction,)
        held: dict[Direction, frozenset[str]] = {}
        if prepare is not None and records is None:
            matched = prepare(project, mapping, progress, result)
            if matched is None:
                broken.add(mapping.name.lower())
                continue
            held = matched
        ok = True
        echoes: dict[str, object] = {}
        settle: list[str] = []
        for index, d in enumerate(passes):
            keys = None
            if records is not None:
                keys = _source_keys(project, mapping, d, records)
            options = PassOptions(
                full=full,
                keys=keys,
                batch_size=batch_size(project, mapping),
                create_uncoupled=True if full else None,
                run_started=started,
                explicit=records is not None,
                # the second pass of a full run mostly meets what the first one just wrote
                probe_first=full and index > 0,
                hold=held.get(d, frozenset()),
                echoes=echoes if full and index > 0 else {},
                recheck=frozenset(settle) if index > 0 else frozenset(),
                since=since if not full and records is None else None,
            )
            outcome = _run_pass(project, mapping, d, options, progress, result)
            job, settle, echoes = outcome.job, outcome.settle, outcome.echoes
            ok = ok and job.status is not JobStatus.ERROR
            if settle and d is Direction.FROM_INTEGRATION and Direction.TO_INTEGRATION in passes:
                # Records created in the local system by this pass: send back the fields the
                # local side owns (e.g. the number the ERP assigned), so the pair is complete.
                # Records it created are taken as the local system answered their creation,
                # not read again.
                settle_options = PassOptions(
                    keys=tuple(settle), batch_size=project.batch_size, known=outcome.known
                )
                _run_pass(
                    project, mapping, Direction.TO_INTEGRATION, settle_options, progress, result
                )
                echoes = {}
        if not ok:
            broken.add(mapping.name.lower())
    return result


def sync_records(
    project: Workspace,
    mapping: TableMapping,
    records: Sequence[str],
    direction: Direction,
    progress: Progress,
) -> RunResult:
    """Synchronize the named records of one mapping one way (``Project.sync(records=...)``
    without the checks and leases the calling action already made)."""
    return run_sync(
        project, [mapping], full=False, records=records, direction=direction, progress=progress
    )


def batch_size(project: Workspace, mapping: TableMapping) -> int:
    """Records per batch: the project's, or by default what both systems take at once.

    The default is raised (never lowered) to the smaller of the two connectors' write batch
    sizes: an SQLite connector declares 5,000, so a pass between two SQLite databases makes
    fewer commits and queries per record. A batch size given to the project is kept as is.
    """
    size = project.batch_size
    if size != DEFAULT_BATCH_SIZE:
        return size
    try:
        takes = min(
            project.connector(ref.system).capabilities.batch_size
            for ref in (mapping.table, mapping.integration_table)
        )
    except AccordError:
        return size  # the pass reports it when it opens the connector
    return max(size, takes)


class PassOutcome(NamedTuple):
    """A pass's job, and what the opposite pass needs from it."""

    job: Job
    settle: list[str]
    """Destination keys whose records the opposite pass must complete."""
    echoes: dict[str, object]
    """Destination keys written and left quiet, with their version (see PassOptions)."""
    known: dict[str, Record]
    """Of ``settle``, the records created, as the destination answered (PassOptions.known)."""
    max_seen: object = None
    """The newest source version the pass read (what its watermark is made of)."""


def _run_pass(
    project: Workspace,
    mapping: TableMapping,
    direction: Direction,
    options: PassOptions,
    progress: Progress,
    result: RunResult,
) -> PassOutcome:
    job = new_job(mapping.name, JobType.SYNC, direction)
    if options.full:
        job.message = "full synchronization"
    elif options.keys is not None:
        job.message = f"{len(options.keys)} selected record(s)"
    store = project.store
    store.start_job(job, result.run_id)
    result.jobs.append(job)
    ctx = project.context(mapping.name)
    connectors = (ctx.source(direction).connector, ctx.destination(direction).connector)
    waited_before = _waited(connectors)
    runner = Pass(
        ctx,
        direction,
        store,
        job,
        options,
        progress,
        project.mapping_names,
        project.recorder,
    )
    try:
        runner.run()
    except ConnectorError as exc:
        _end_in_error(store, job, progress, str(exc))
    except AccordError:
        raise  # the run's own verdict (a lost lease, a busy or broken state store): it stops
    except Exception as exc:  # a defect: the job says so, later mappings still run
        log.error(
            "pass %s %s stopped: %s",
            mapping.name,
            direction.value,
            redact(traceback.format_exc()),  # a driver's text may quote a URL
        )
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        _end_in_error(
            store, job, progress, f"internal error ({type(exc).__name__}: {reason[:200]})"
        )
    waited = _waited(connectors) - waited_before
    if waited >= 0.05:
        _report_waiting(store, job, waited)
    return PassOutcome(job, runner.settle_keys, runner.echoes, runner.settle_known, runner.max_seen)


def _waited(connectors: tuple[Connector, ...]) -> float:
    """Seconds the connectors spent waiting because their service asked (the optional
    ``waited`` of a connector, see :mod:`accord.connectors.base`); each counts once.

    The engine's wrappers (retries, dry runs) keep the connector as ``inner``: the service's
    waits are the innermost connector's (a wrapper's own ``waited`` is its retry backoff).
    """
    unique: dict[int, object] = {}
    for connector in connectors:
        inner: object = connector
        while hasattr(inner, "inner"):
            inner = inner.inner
        unique[id(inner)] = inner
    return sum(float(getattr(c, "waited", 0.0) or 0.0) for c in unique.values())


def _report_waiting(store: StateStore, job: Job, waited: float) -> None:
    """A throttled pass says how long it waited: the job log explains a slow run."""
    note = f"waited {waited:.1f} s because the service asked to (service protection)"
    job.message = f"{job.message}; {note}" if job.message else note
    with store.transaction() as tx:
        tx.save_job(job)


def _end_in_error(store: StateStore, job: Job, progress: Progress, message: str) -> None:
    """A pass that could not go on: its job ends with status error and the reason."""
    job.status = JobStatus.ERROR
    job.message = redact(message)
    job.finished_at = utcnow()
    with store.transaction() as tx:
        tx.save_job(job)
    progress.pass_finished(job)


def _source_keys(
    project: Workspace, mapping: TableMapping, direction: Direction, records: Sequence[str]
) -> tuple[str, ...]:
    """Records are named by their local key (or, failing that, integration key)."""
    named = project.store.couplings_named(mapping.name, records)
    out = []
    for key in records:
        c = named.get(key)
        if c is not None:
            out.append(c.key_on_source(direction))
        else:
            out.append(key)
    return tuple(out)
