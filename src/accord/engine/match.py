"""Match-based coupling (reference §2.12): couple uncoupled records whose criteria agree.

It runs as hash joins over streamed batches, never one query per record:

1. The integration side is read once, in batches, with the mapping's integration filter and
   only the criteria fields. Each batch's couplings are loaded in one query; the uncoupled
   records go into an index: per criterion, normalised value → record numbers.
2. The local side is read once the same way. Each uncoupled local record is looked up group by
   group (priority order). Its empty values are not criteria. A group that finds exactly one
   candidate decides; one that finds several narrows the next group's search (ANDed, as the
   reference does); one that finds none is skipped.
3. Claims are settled: a candidate claimed by one local record is coupled to it; one claimed
   by several is ambiguous (N:1), as is a local record left with several candidates (1:N).
   Once candidates are taken, the ambiguous records are looked up again (without the taken
   candidates) until nothing changes, so that a rerun couples nothing more.
4. Couplings are written in batches, one state transaction each, after checking that neither
   side was coupled meanwhile by another run.
5. Optionally, counterparts are created for the records with no candidate at all (through the
   engine's crash-safe creation pass), and the newly coupled records are synchronized.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from accord.engine.criteria import Criterion, describe_groups, resolve_criteria
from accord.engine.options import PassOptions
from accord.engine.plan import PlannedChange
from accord.engine.progress import Progress
from accord.engine.results import Ambiguity, MatchResult, RunResult, WeakGroup
from accord.engine.review import review
from accord.engine.sync import _run_pass, new_job, run_sync
from accord.errors import ConnectorError, UsageError
from accord.model import (
    Action,
    Coupling,
    Direction,
    Job,
    JobError,
    JobStatus,
    JobType,
    Side,
    SyncResult,
    TableMapping,
    UpdateConflict,
)
from accord.state.store import utcnow
from accord.testing.killpoints import reached

if TYPE_CHECKING:
    from accord.engine.context import MappingContext, SideContext
    from accord.engine.workspace import Workspace

LISTED = 20
"""Keys kept per ambiguous case in the result (the rest are counted in ``more``)."""
IN_MESSAGE = 5
"""Keys named in one job error message."""

Values = tuple[Hashable | None, ...]


class _Index:
    """Uncoupled integration records, hashed by the values of the criteria a lookup uses.

    A lookup uses some criteria positions (a group's usable fields, ANDed with the groups that
    narrowed it). Each set of positions gets its own hash index, built on first use from the
    records' normalised values: (values at those positions) → record numbers. Records with a
    blank at one of the positions cannot match there and are left out of that index.
    """

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.values: list[Values] = []
        self.taken: set[int] = set()
        self._by: dict[tuple[int, ...], dict[Hashable, list[int]]] = {}

    def add(self, key: str, values: Values) -> None:
        self.keys.append(key)
        self.values.append(values)

    def _hashed(self, positions: tuple[int, ...]) -> dict[Hashable, list[int]]:
        found = self._by.get(positions)
        if found is None:
            found = self._by[positions] = {}
            get = found.get
            if len(positions) == 1:
                (p,) = positions
                for n, values in enumerate(self.values):
                    if (v := values[p]) is not None:
                        same = get(v)
                        if same is None:
                            found[v] = [n]
                        else:
                            same.append(n)
            else:
                for n, values in enumerate(self.values):
                    key = tuple(values[p] for p in positions)
                    if None not in key:
                        same = get(key)
                        if same is None:
                            found[key] = [n]
                        else:
                            same.append(n)
        return found

    def find(self, positions: tuple[int, ...], values: tuple[Hashable, ...]) -> list[int]:
        """Uncoupled records whose values at ``positions`` are ``values``."""
        key = values[0] if len(positions) == 1 else values
        found = self._hashed(positions).get(key)
        if found is None:
            return []
        taken = self.taken
        return [n for n in found if n not in taken] if taken else found


def match_records(
    project: Workspace,
    mapping_name: str,
    *,
    on: Sequence[str] | None,
    case_sensitive: Sequence[str],
    create_new: bool | None,
    sync: bool | None,
    progress: Progress,
    report_unmatched: bool | None = None,
    run_id: str | None = None,
) -> MatchResult:
    """Couple what matches. ``report_unmatched=False``: records without a candidate are no
    failure (a full synchronization is about to create them)."""
    mapping = project.config.mapping(mapping_name)
    ctx = project.context(mapping.name)
    groups = resolve_criteria(project.config, ctx, on, case_sensitive)
    sends = mapping.direction.includes(Direction.TO_INTEGRATION)
    if create_new and not sends:
        raise UsageError(
            f"mapping {mapping.name} is {mapping.direction.value}: it never creates records "
            f"in {ctx.integration.table_ref}, so --create-new cannot be used"
        )
    creating = sends and (mapping.create_new_if_no_match if create_new is None else create_new)
    store = project.store
    store.interrupt_stale_jobs()
    run_id = run_id or str(uuid.uuid4())  # a full sync logs its matching under its own run
    job = new_job(mapping.name, JobType.COUPLE, None)
    job.message = f"match-based coupling on {describe_groups(groups)}"
    store.start_job(job, run_id)
    result = MatchResult(mapping.name, [[c.local for c in g] for g in groups], job)
    matcher = _Matcher(project, ctx, groups, job, progress)
    try:
        matcher.read()
    except ConnectorError as exc:
        job.status, job.message, job.finished_at = JobStatus.ERROR, str(exc), utcnow()
        with store.transaction() as tx:
            tx.save_job(job)
        progress.pass_finished(job)
        raise
    pairs = matcher.settle()
    result.weak = matcher.weak(pairs)
    if result.weak:
        job.message += "; weak: " + "; ".join(
            f"{', '.join(w.fields)} coupled {w.coupled:,} pair(s) on values that repeat on "
            "both sides"
            for w in result.weak
        )
    report = not creating if report_unmatched is None else report_unmatched
    errors = matcher.failures(result, report_unmatched=report)
    syncing = mapping.sync_after_coupling if sync is None else sync
    direction: Direction | None = mapping.direction
    if direction is Direction.BIDIRECTIONAL:
        # As the reference: the conflict policy picks the direction; otherwise both passes
        # run over the selected records, to-integration first.
        direction = {
            UpdateConflict.SEND: Direction.TO_INTEGRATION,
            UpdateConflict.GET: Direction.FROM_INTEGRATION,
        }.get(mapping.update_conflict)
    # The synchronization that follows is recorded as due on each new coupling first: if the
    # run dies before it, the next sync still brings the new pairs in line.
    due = (direction.passes if direction else mapping.direction.passes) if syncing else ()
    _write(project, result, pairs, errors, due)
    progress.pass_finished(job)
    if creating and matcher.unmatched:
        _create(project, result, matcher.unmatched, run_id, progress)
    else:
        result.unmatched = matcher.unmatched
    if syncing and result.coupled:
        result.sync = run_sync(
            project,
            [mapping],
            full=False,
            records=[local for local, _ in result.coupled],
            direction=direction,
            progress=progress,
        )
    return result


class _Matcher:
    """Reads both sides, decides each local record, and settles the claims."""

    def __init__(
        self,
        project: Workspace,
        ctx: MappingContext,
        groups: list[list[Criterion]],
        job: Job,
        progress: Progress,
    ) -> None:
        self.project = project
        self.ctx = ctx
        self.job = job
        self.progress = progress
        self.criteria = [c for g in groups for c in g]
        self.where = f"{ctx.integration.table_ref} on {describe_groups(groups)}"
        self.positions: list[tuple[int, ...]] = []
        for g in groups:
            first = sum(len(p) for p in self.positions)
            self.positions.append(tuple(range(first, first + len(g))))
        self.priorities = [g[0].priority for g in groups]
        floor = ctx.mapping.min_priority
        # Whether each group may couple on its own (else it only narrows a group that may).
        self.alone = [floor is None or p <= floor for p in self.priorities]
        self.local_values: list[Values] = []  # every uncoupled local record's (for weakness)
        self.decided_by: dict[str, tuple[int, tuple[int, ...]]] = {}  # key → (group, query)
        self.index = _Index()
        self.claims: dict[int, list[tuple[str, Values]]] = {}
        self.contested: dict[int, list[tuple[str, Values]]] = {}  # N:1
        self.open: dict[str, Values] = {}  # several candidates (1:N)
        self.several: dict[str, list[int]] = {}
        self.unmatched: list[str] = []
        self.blank: set[str] = set()  # no criteria value at all

    def read(self) -> None:
        ctx, criteria = self.ctx, self.criteria
        total = ctx.integration.connector.count(
            ctx.integration.table, filter=ctx.integration.filter
        ) + ctx.local.connector.count(ctx.local.table, filter=ctx.local.filter)
        self.progress.pass_started(self.job, total)
        add, decide = self.index.add, self._decide
        remote = [(c.integration, c.normalisers()[1]) for c in criteria]
        for batch in self._uncoupled(ctx.integration):
            for key, raw in batch:
                add(key, tuple([norm(raw.get(f)) for f, norm in remote]))
        local = [(c.local, c.normalisers()[0]) for c in criteria]
        keep = self.local_values.append
        for batch in self._uncoupled(ctx.local):
            for key, raw in batch:
                values = tuple([norm(raw.get(f)) for f, norm in local])
                keep(values)
                decide(key, values)

    def _uncoupled(self, side: SideContext) -> Iterator[list[tuple[str, dict[str, Any]]]]:
        """Batches of (key, values) of one side's records that pass its filter, uncoupled.

        Each side is read once through its connector, with only the criteria fields; the
        couplings of a batch are loaded with one query.
        """
        local = side.side is Side.LOCAL
        fields = sorted({c.local if local else c.integration for c in self.criteria})
        store, mapping = self.project.store, self.ctx.mapping.name
        # A mapping with no coupling at all (the usual first match) needs no lookups; what
        # another run couples meanwhile is caught when the couplings are written.
        any_coupled = bool(store.list_couplings(mapping, limit=1))
        for batch in side.connector.read(
            side.table, filter=side.filter, fields=fields, batch_size=self.project.batch_size
        ):
            if any_coupled:
                coupled = store.couplings_by(mapping, side.side, [r.key for r in batch])
                yield [(r.key, r.values) for r in batch if r.key not in coupled]
            else:
                yield [(r.key, r.values) for r in batch]
            self.progress.advanced(self.job, len(batch))

    def _decide(self, key: str, values: Values) -> None:
        """The one candidate the record's criteria decide, group by group, or why none.

        A group below the mapping's ``min_priority`` decides only when a group that may
        couple alone narrowed its search: on its own it is no criterion at all, so a record
        only it would match has no candidate (and a full synchronization creates it).
        """
        active: tuple[int, ...] = ()
        several: list[int] = []
        anchored = False  # a group that may couple alone narrowed the search
        for g, group in enumerate(self.positions):
            if not (anchored or self.alone[g]):
                break  # below min_priority it only narrows, and nothing was found to narrow
            usable = tuple(p for p in group if values[p] is not None)
            if not usable:
                continue  # empty values are not criteria
            # Positions of earlier groups are lower: the union stays sorted, one index per set.
            query = active + usable
            found = self.index.find(query, tuple([values[p] for p in query]))
            if len(found) == 1:
                self.decided_by[key] = (g, query)
                claimants = self.claims.get(found[0])
                if claimants is None:
                    self.claims[found[0]] = [(key, values)]
                else:
                    claimants.append((key, values))
                return
            if found:
                active, several = query, found  # narrows the next group's search
                anchored = anchored or self.alone[g]
        if several:
            self.open[key], self.several[key] = values, several
        else:
            self.unmatched.append(key)
            if all(v is None for v in values):
                self.blank.add(key)

    def weak(self, pairs: list[tuple[str, str]]) -> list[WeakGroup]:
        """The groups that coupled pairs on values repeating among both sides' records.

        Uniqueness is judged among the uncoupled records each side held when the run began,
        on exactly the fields a decision compared (a group's blank fields left out).
        """
        coupled: dict[tuple[int, tuple[int, ...]], int] = {}
        for local, _ in pairs:
            how = self.decided_by.get(local)
            if how is not None:
                coupled[how] = coupled.get(how, 0) + 1
        out = []
        for (g, query), n in sorted(coupled.items()):
            if self._repeats_locally(query) and self._repeats_remotely(query):
                fields = tuple(self.criteria[p].local for p in query)
                out.append(WeakGroup(self.priorities[g], fields, n))
        return out

    def _repeats_remotely(self, query: tuple[int, ...]) -> bool:
        return any(len(same) > 1 for same in self.index._hashed(query).values())

    def _repeats_locally(self, query: tuple[int, ...]) -> bool:
        seen: set[Hashable] = set()
        for values in self.local_values:
            key = tuple(values[p] for p in query)
            if None in key:
                continue
            if key in seen:
                return True
            seen.add(key)
        return False

    def settle(self) -> list[tuple[str, str]]:
        """Pairs whose candidate no other local record claims, until nothing changes."""
        pairs: list[tuple[str, str]] = []
        index = self.index
        while True:
            self.contested = {}
            progressed = False
            for candidate, claimants in self.claims.items():
                if len(claimants) == 1:
                    pairs.append((claimants[0][0], index.keys[candidate]))
                    index.taken.add(candidate)
                    progressed = True
                else:
                    self.contested[candidate] = claimants
            self.claims = {}
            if not progressed or not (self.open or self.contested):
                return pairs
            # Candidates were taken: look the undecided records up again without them, as a
            # rerun would. One whose candidates were all taken has none left.
            retry = list(self.open.items())
            retry += [kv for claimants in self.contested.values() for kv in claimants]
            self.open, self.several = {}, {}
            for key, values in retry:
                self._decide(key, values)

    def failures(self, result: MatchResult, *, report_unmatched: bool) -> list[JobError]:
        """Fill in the ambiguous cases; one job error per record left uncoupled."""
        job_id, keys, where = self.job.id, self.index.keys, self.where
        errors = []
        for key, found in self.several.items():
            candidates = [keys[n] for n in found]
            result.held_local.add(key)
            result.held_integration.update(candidates)
            more = max(0, len(candidates) - LISTED)
            result.ambiguous.append(Ambiguity("1:N", (key,), tuple(candidates[:LISTED]), more))
            message = (
                f"ambiguous: {len(candidates)} uncoupled records of {where} match: "
                f"{_some(candidates)}"
            )
            errors.append(JobError(job_id, key, "", message))
        for candidate, claimants in self.contested.items():
            target = keys[candidate]
            local_keys = [k for k, _ in claimants]
            result.held_local.update(local_keys)
            result.held_integration.add(target)
            more = max(0, len(local_keys) - LISTED)
            result.ambiguous.append(Ambiguity("N:1", tuple(local_keys[:LISTED]), (target,), more))
            for key in local_keys:
                others = [k for k in local_keys if k != key]
                message = (
                    f"ambiguous: {target} of {where} is also the only match of "
                    f"{len(others)} other local record(s): {_some(others)}"
                )
                errors.append(JobError(job_id, key, target, message))
        if report_unmatched:
            for key in self.unmatched:
                why = (
                    "its criteria fields are all empty"
                    if key in self.blank
                    else f"no uncoupled record of {where} matches"
                )
                errors.append(JobError(job_id, key, "", f"not coupled: {why}"))
        return errors


def _write(
    project: Workspace,
    result: MatchResult,
    pairs: list[tuple[str, str]],
    errors: list[JobError],
    due: Sequence[Direction] = (),
) -> None:
    """Couplings in batches (one transaction each), then the job's errors and counters."""
    store, job, mapping, recorder = project.store, result.job, result.mapping, project.recorder
    now = utcnow()
    size = project.batch_size
    for start in range(0, len(pairs), size):
        chunk = pairs[start : start + size]
        by_local: dict[str, Coupling] = {}
        by_integration: dict[str, Coupling] = {}
        if _others_active(project, job):
            # Another run of this mapping may have coupled either side since it was read.
            by_local = store.couplings_by(mapping, Side.LOCAL, [p[0] for p in chunk])
            by_integration = store.couplings_by(mapping, Side.INTEGRATION, [p[1] for p in chunk])
        fresh = []
        for local, integration in chunk:
            if local in by_local or integration in by_integration:
                result.failed += 1
                message = "coupled meanwhile by another run"
                errors.append(JobError(job.id, local, integration, message))
            else:
                c = Coupling(mapping, local, integration, coupled_at=now)
                for d in due:
                    c.set_result(d, SyncResult.DEFERRED, job.id)
                fresh.append(c)
        reached("match.coupling")
        with store.transaction() as tx:
            tx.insert_couplings(fresh)
            job.counters.add(Action.COUPLE, len(fresh))
            tx.save_job(job)
        reached("match.coupled")
        result.coupled.extend((c.local_key, c.integration_key) for c in fresh)
        if recorder.active:
            for c in fresh:
                change = PlannedChange(mapping, Action.COUPLE, c.local_key, c.integration_key)
                recorder.record(change)
    if recorder.active:
        for e in errors:
            change = PlannedChange(
                mapping, Action.FAIL, e.source_key, e.destination_key, reason=e.message
            )
            recorder.record(change)
    job.counters.add(Action.FAIL, len(errors))
    job.status = JobStatus.FAILED if errors else JobStatus.OK
    job.finished_at = utcnow()
    with store.transaction() as tx:
        for start in range(0, len(errors), size):
            tx.add_errors(errors[start : start + size])
        tx.save_job(job)


def _others_active(project: Workspace, job: Job) -> bool:
    """Whether another job of the mapping ran since this one started (or still runs).

    Every run that couples or uncouples records logs a job, so when there is none, the
    couplings read at the start are still the couplings now and need no second look.
    """
    recent = project.store.jobs(limit=50, mapping=job.mapping)
    return any(
        j.id != job.id and (j.finished_at is None or j.finished_at >= job.started_at)
        for j in recent
    )


def _create(
    project: Workspace, result: MatchResult, keys: list[str], run_id: str, progress: Progress
) -> None:
    """Create and couple the counterparts of records with no candidate at all.

    Never for ambiguous records: creating a counterpart for them is how duplicates are made.
    The engine's creation pass chooses keys and records pending couplings first (crash-safe).
    """
    mapping = project.config.mapping(result.mapping)
    result.create = RunResult(run_id)
    options = PassOptions(keys=tuple(keys), create_uncoupled=True, batch_size=project.batch_size)
    _run_pass(project, mapping, Direction.TO_INTEGRATION, options, progress, result.create)
    made = project.store.couplings_by(mapping.name, Side.LOCAL, keys)
    for key in keys:
        coupling = made.get(key)
        if coupling is not None and not coupling.pending:
            result.created.append((key, coupling.integration_key))
        else:
            result.failed += 1  # the creation job has the reason


def _some(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:IN_MESSAGE])
    return shown + (f" and {len(keys) - IN_MESSAGE} more" if len(keys) > IN_MESSAGE else "")


def match_first(
    project: Workspace, mapping: TableMapping, progress: Progress, result: RunResult
) -> dict[Direction, frozenset[str]] | None:
    """Match-based coupling ahead of a full sync, when the review recommends it.

    Returns the source keys each direction must not create (ambiguous matches), or None when
    matching could not run (the mapping is then broken for its dependants).
    """
    try:
        (line,) = review(project, [mapping])
    except ConnectorError as exc:  # a system cannot even be counted: log it as a failed job
        job = new_job(mapping.name, JobType.COUPLE, None)
        project.store.start_job(job, result.run_id)
        job.status, job.message, job.finished_at = JobStatus.ERROR, str(exc), utcnow()
        with project.store.transaction() as tx:
            tx.save_job(job)
        result.jobs.append(job)
        return None
    if not line.matches_first:
        return {}
    try:
        matched = match_records(
            project,
            mapping.name,
            on=None,
            case_sensitive=(),
            create_new=False,
            sync=False,
            progress=progress,
            report_unmatched=False,
            run_id=result.run_id,
        )
    except ConnectorError:  # match_records logged its job as failed
        result.jobs.extend(project.store.jobs(limit=1, mapping=mapping.name))
        return None
    result.jobs.append(matched.job)
    return {
        Direction.TO_INTEGRATION: frozenset(matched.held_local),
        Direction.FROM_INTEGRATION: frozenset(matched.held_integration),
    }
