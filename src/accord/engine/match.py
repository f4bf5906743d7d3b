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

import sqlite3
import uuid
from collections.abc import Hashable, Iterable, Iterator, Sequence
from decimal import Decimal
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
_Record = tuple[int, str, tuple[Any, ...]]
"""A local record being decided: its number, its key and its encoded criteria values."""


class _Spill:
    """Both sides' uncoupled records, the claims and the pairs, in a temporary SQLite database.

    The database is private, on disk, and deleted when it is closed (``sqlite3.connect("")``);
    its page cache is capped, so memory stays flat whatever the table sizes. Normalised values
    are stored so that SQLite's equality is Python's: text as TEXT, integers (and integral
    Decimals) that fit in 64 bits as INTEGER, anything else interned per run (equal values get
    the same id, by Python's own ``==`` and hash) and stored as a BLOB of its id; ``None`` is
    NULL. The three storage classes never compare equal to one another in SQLite, just as a
    text never equals a number in Python.
    """

    CACHE_KIB = 32 * 1024

    def __init__(self, width: int) -> None:
        self.db = sqlite3.connect("", isolation_level=None)
        self.db.execute(f"PRAGMA cache_size = -{self.CACHE_KIB}")
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA temp_store = FILE")
        self.width = width
        cols = ", ".join(f"v{p}" for p in range(width))
        self.cols = cols
        self.db.execute(f"CREATE TABLE remote (n INTEGER PRIMARY KEY, key TEXT NOT NULL, {cols})")
        self.db.execute(f"CREATE TABLE local (m INTEGER PRIMARY KEY, key TEXT NOT NULL, {cols})")
        self.db.execute("CREATE TABLE taken (n INTEGER PRIMARY KEY)")
        # One row per claim: the round it was made in, its place in that round's decisions,
        # the candidate, the local record and how it was decided (an index into ``hows``).
        self.db.execute(
            "CREATE TABLE claims (round INTEGER, o INTEGER, n INTEGER, m INTEGER, how INTEGER)"
        )
        self.db.execute(
            "CREATE TABLE pairs (seq INTEGER PRIMARY KEY, m INTEGER, n INTEGER, how INTEGER)"
        )
        self.db.execute("CREATE TEMP TABLE probe (m INTEGER PRIMARY KEY, " + cols + ")")
        self.db.execute("BEGIN")
        self._interned: dict[Hashable, bytes] = {}
        self._indexed: set[tuple[int, ...]] = set()
        self.remote_count = 0
        self.local_count = 0
        self.any_taken = False

    def close(self) -> None:
        self.db.close()

    def encode(self, value: Hashable | None) -> Any:
        kind = type(value)
        if kind is str or value is None:
            return value
        if kind is int and -(2**63) <= value < 2**63:  # type: ignore[operator]
            return value
        if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            whole = int(value)
            if -(2**63) <= whole < 2**63:
                return whole
        interned = self._interned.get(value)
        if interned is None:
            interned = self._interned[value] = len(self._interned).to_bytes(8, "big")
        return interned

    def add_remote(self, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * (self.width + 2))
        self.db.executemany(f"INSERT INTO remote VALUES ({marks})", rows)
        self.remote_count += len(rows)

    def add_local(self, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * (self.width + 2))
        self.db.executemany(f"INSERT INTO local VALUES ({marks})", rows)
        self.local_count += len(rows)

    def _index(self, query: tuple[int, ...]) -> None:
        if query not in self._indexed:
            name = "remote_" + "_".join(str(p) for p in query)
            cols = ", ".join(f"v{p}" for p in query)
            self.db.execute(f"CREATE INDEX IF NOT EXISTS {name} ON remote ({cols}, n)")
            self._indexed.add(query)

    def find(
        self, query: tuple[int, ...], probes: list[tuple[int, tuple[Any, ...]]]
    ) -> dict[int, list[int]]:
        """For each probe (m, encoded values at ``query``): the untaken candidates, by n."""
        self._index(query)
        db = self.db
        db.execute("DELETE FROM probe")
        cols = ", ".join(f"v{p}" for p in query)
        marks = ", ".join("?" * (len(query) + 1))
        db.executemany(
            f"INSERT INTO probe (m, {cols}) VALUES ({marks})", [(m, *vs) for m, vs in probes]
        )
        on = " AND ".join(f"r.v{p} = q.v{p}" for p in query)
        untaken = " AND r.n NOT IN (SELECT n FROM taken)" if self.any_taken else ""
        found: dict[int, list[int]] = {}
        for m, n in db.execute(
            f"SELECT q.m, r.n FROM probe q JOIN remote r ON {on}{untaken} ORDER BY q.m, r.n"
        ):
            same = found.get(m)
            if same is None:
                found[m] = [n]
            else:
                same.append(n)
        return found

    def add_claims(self, claims: list[tuple[int, int, int, int, int]]) -> None:
        if claims:
            self.db.executemany("INSERT INTO claims VALUES (?, ?, ?, ?, ?)", claims)

    def take_singles(self, round_: int) -> bool:
        """Pairs the candidates claimed by one record in the round; whether there was any."""
        db = self.db
        single = "FROM claims WHERE round = ? GROUP BY n HAVING count(*) = 1"
        made = db.execute(
            f"INSERT INTO pairs (m, n, how) SELECT m, n, how {single} ORDER BY min(o)", (round_,)
        ).rowcount
        if made > 0:
            db.execute(f"INSERT INTO taken SELECT n {single}", (round_,))
            self.any_taken = True
        return made > 0

    def contested(self, round_: int) -> dict[int, list[_Record]]:
        """Candidates claimed by several records in the round → the claimants, in order."""
        out: dict[int, list[_Record]] = {}
        width = self.width
        for row in self.db.execute(
            f"SELECT c.n, l.m, l.key, {', '.join(f'l.v{p}' for p in range(width))} "
            "FROM claims c JOIN (SELECT n, min(o) AS first FROM claims WHERE round = ? "
            "GROUP BY n HAVING count(*) > 1) g ON g.n = c.n JOIN local l ON l.m = c.m "
            "WHERE c.round = ? ORDER BY g.first, c.o",
            (round_, round_),
        ):
            record: _Record = (row[1], row[2], tuple(row[3:]))
            same = out.get(row[0])
            if same is None:
                out[row[0]] = [record]
            else:
                same.append(record)
        return out

    def pairs(self, size: int) -> Iterator[list[tuple[str, str]]]:
        cursor = self.db.execute(
            "SELECT l.key, r.key FROM pairs p JOIN local l ON l.m = p.m "
            "JOIN remote r ON r.n = p.n ORDER BY p.seq"
        )
        while chunk := cursor.fetchmany(size):
            yield chunk

    def pairs_by_how(self) -> list[tuple[int, int]]:
        return self.db.execute("SELECT how, count(*) FROM pairs GROUP BY how").fetchall()

    def remote_keys(self, ns: list[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for start in range(0, len(ns), 500):
            chunk = ns[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT n, key FROM remote WHERE n IN ({marks})", chunk))
        return out

    def repeats(self, table: str, query: tuple[int, ...]) -> bool:
        cols = ", ".join(f"v{p}" for p in query)
        filled = " AND ".join(f"v{p} IS NOT NULL" for p in query)
        row = self.db.execute(
            f"SELECT 1 FROM {table} WHERE {filled} GROUP BY {cols} HAVING count(*) > 1 LIMIT 1"
        ).fetchone()
        return row is not None


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
    syncing = mapping.sync_after_coupling if sync is None else sync
    direction: Direction | None = mapping.direction
    if direction is Direction.BIDIRECTIONAL:
        # As the reference: the conflict policy picks the direction; otherwise both passes
        # run over the selected records, to-integration first.
        direction = {
            UpdateConflict.SEND: Direction.TO_INTEGRATION,
            UpdateConflict.GET: Direction.FROM_INTEGRATION,
        }.get(mapping.update_conflict)
    try:
        try:
            matcher.read()
        except ConnectorError as exc:
            job.status, job.message, job.finished_at = JobStatus.ERROR, str(exc), utcnow()
            with store.transaction() as tx:
                tx.save_job(job)
            progress.pass_finished(job)
            raise
        matcher.settle()
        result.weak = matcher.weak()
        if result.weak:
            job.message += "; weak: " + "; ".join(
                f"{', '.join(w.fields)} coupled {w.coupled:,} pair(s) on values that repeat on "
                "both sides"
                for w in result.weak
            )
        report = not creating if report_unmatched is None else report_unmatched
        errors = matcher.failures(result, report_unmatched=report)
        # The synchronization that follows is recorded as due on each new coupling first: if
        # the run dies before it, the next sync still brings the new pairs in line.
        due = (direction.passes if direction else mapping.direction.passes) if syncing else ()
        _write(project, result, matcher.pairs(), errors, due)
    finally:
        matcher.close()
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
    """Reads both sides into a temporary database, decides each local record, settles claims.

    Records are decided batch by batch with one join per set of criteria positions used; the
    decisions and their order are those of deciding each record alone in read order.
    """

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
        self.spill = _Spill(len(self.criteria))
        self.hows: list[tuple[int, tuple[int, ...]]] = []  # (group, query) a claim was made by
        self._how_ids: dict[tuple[int, tuple[int, ...]], int] = {}
        self.round = 0  # settling round the claims being made belong to
        self.order = 0  # place of the next decision in its round
        self.contested: dict[int, list[_Record]] = {}  # N:1, candidate → claimants
        self.open: dict[str, _Record] = {}  # several candidates (1:N)
        self.several: dict[str, list[int]] = {}
        self.unmatched: list[str] = []
        self.blank: set[str] = set()  # no criteria value at all

    def close(self) -> None:
        self.spill.close()

    def read(self) -> None:
        ctx, criteria, spill = self.ctx, self.criteria, self.spill
        total = ctx.integration.connector.count(
            ctx.integration.table, filter=ctx.integration.filter
        ) + ctx.local.connector.count(ctx.local.table, filter=ctx.local.filter)
        self.progress.pass_started(self.job, total)
        enc = spill.encode
        remote = [(c.integration, c.normalisers()[1]) for c in criteria]
        n = 0
        for batch in self._uncoupled(ctx.integration):
            rows = []
            for key, raw in batch:
                n += 1
                rows.append((n, key, *[enc(norm(raw.get(f))) for f, norm in remote]))
            spill.add_remote(rows)
        local = [(c.local, c.normalisers()[0]) for c in criteria]
        m = 0
        for batch in self._uncoupled(ctx.local):
            records: list[_Record] = []
            for key, raw in batch:
                m += 1
                records.append((m, key, tuple([enc(norm(raw.get(f))) for f, norm in local])))
            spill.add_local([(r[0], r[1], *r[2]) for r in records])
            self._decide(records)

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

    def _how(self, g: int, query: tuple[int, ...]) -> int:
        found = self._how_ids.get((g, query))
        if found is None:
            found = self._how_ids[(g, query)] = len(self.hows)
            self.hows.append((g, query))
        return found

    def _decide(self, records: Sequence[_Record]) -> None:
        """The one candidate each record's criteria decide, group by group, or why none.

        A group below the mapping's ``min_priority`` decides only when a group that may
        couple alone narrowed its search: on its own it is no criterion at all, so a record
        only it would match has no candidate (and a full synchronization creates it).
        Empty values are not criteria; a group that finds several candidates narrows the next
        group's search (ANDed), one that finds none is skipped.
        """
        count = len(records)
        base, self.order = self.order, self.order + count
        active: list[tuple[int, ...]] = [()] * count
        several: list[list[int]] = [[] for _ in range(count)]
        anchored = [False] * count  # a group that may couple alone narrowed the search
        decided = [False] * count
        claims: list[tuple[int, int, int, int, int]] = []
        pending = list(range(count))
        for g, group in enumerate(self.positions):
            by_query: dict[tuple[int, ...], list[int]] = {}
            going = []
            for i in pending:
                if not (anchored[i] or self.alone[g]):
                    continue  # below min_priority it only narrows, and nothing was found
                values = records[i][2]
                usable = tuple(p for p in group if values[p] is not None)
                if not usable:
                    going.append(i)
                    continue
                # Earlier groups' positions are lower: the union stays sorted.
                by_query.setdefault(active[i] + usable, []).append(i)
            for query, chosen in by_query.items():
                probes = [(records[i][0], tuple([records[i][2][p] for p in query])) for i in chosen]
                found = self.spill.find(query, probes)
                for i in chosen:
                    candidates = found.get(records[i][0])
                    if candidates is None:
                        going.append(i)
                    elif len(candidates) == 1:
                        decided[i] = True
                        claims.append(
                            (
                                self.round,
                                base + i,
                                candidates[0],
                                records[i][0],
                                self._how(g, query),
                            )
                        )
                    else:
                        active[i], several[i] = query, candidates
                        anchored[i] = anchored[i] or self.alone[g]
                        going.append(i)
            pending = going
        self.spill.add_claims(claims)
        for i, record in enumerate(records):
            if decided[i]:
                continue
            key = record[1]
            if several[i]:
                self.open[key], self.several[key] = record, several[i]
            else:
                self.unmatched.append(key)
                if all(v is None for v in record[2]):
                    self.blank.add(key)

    def weak(self) -> list[WeakGroup]:
        """The groups that coupled pairs on values repeating among both sides' records.

        Uniqueness is judged among the uncoupled records each side held when the run began,
        on exactly the fields a decision compared (a group's blank fields left out).
        """
        coupled = {self.hows[how]: n for how, n in self.spill.pairs_by_how()}
        out = []
        for (g, query), n in sorted(coupled.items()):
            if self.spill.repeats("local", query) and self.spill.repeats("remote", query):
                fields = tuple(self.criteria[p].local for p in query)
                out.append(WeakGroup(self.priorities[g], fields, n))
        return out

    def settle(self) -> None:
        """Pairs whose candidate no other local record claims, until nothing changes."""
        spill, size = self.spill, self.project.batch_size
        while True:
            progressed = spill.take_singles(self.round)
            self.contested = spill.contested(self.round)
            self.round += 1
            if not progressed or not (self.open or self.contested):
                return
            # Candidates were taken: look the undecided records up again without them, as a
            # rerun would. One whose candidates were all taken has none left.
            retry = list(self.open.values())
            retry += [r for claimants in self.contested.values() for r in claimants]
            self.open, self.several = {}, {}
            self.order = 0
            for start in range(0, len(retry), size):
                self._decide(retry[start : start + size])

    def pairs(self) -> Iterator[list[tuple[str, str]]]:
        """The settled (local, integration) pairs, in batches, in the order they were made."""
        return self.spill.pairs(self.project.batch_size)

    def failures(self, result: MatchResult, *, report_unmatched: bool) -> list[JobError]:
        """Fill in the ambiguous cases; one job error per record left uncoupled."""
        job_id, where = self.job.id, self.where
        wanted = {n for found in self.several.values() for n in found} | set(self.contested)
        keys = self.spill.remote_keys(sorted(wanted))
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
            local_keys = [r[1] for r in claimants]
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
    pairs: Iterable[list[tuple[str, str]]],
    errors: list[JobError],
    due: Sequence[Direction] = (),
) -> None:
    """Couplings in batches (one transaction each), then the job's errors and counters."""
    store, job, mapping, recorder = project.store, result.job, result.mapping, project.recorder
    now = utcnow()
    size = project.batch_size
    for chunk in pairs:
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
