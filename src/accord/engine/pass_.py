"""One pass: one direction of one mapping, processed in batches.

Per batch: read a page of source records, load their couplings in one query, read the coupled
destination records in one query, resolve lookups in one query per lookup mapping, write all
changes in one connector call, then commit the batch's state (couplings, job errors, job
counters) in one transaction. New records get their key and a *pending* coupling committed
before they are written, so a run killed at any instant and started again creates no
duplicate: the rerun finds the pending coupling and checks whether the record exists.

Updates are conditional on what was read where the destination can do that: a record a user
changed between the read and the write comes back *stale*, is read again and decided anew (the
mapping's conflict policy sees the edit), never overwritten. Change detection trusts values as
well as clocks: a coupling keeps a checksum of each side's values (coarse or skewed clocks).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain

from accord.engine.context import MappingContext, SideContext
from accord.engine.keys import KeyAllocator
from accord.engine.lookups import resolve_lookups
from accord.engine.merge import MergeBase
from accord.engine.options import PassOptions
from accord.engine.plan import NoRecorder, PlannedChange, Recorder
from accord.engine.progress import NoProgress, Progress
from accord.engine.reading import PassReader
from accord.engine.renamed import RenameCheck, is_renamed
from accord.engine.transfer import TransferPlan, Transferred, differences
from accord.engine.update_conflict import ConflictJudge, Outcome
from accord.errors import RecordError
from accord.model import (
    Action,
    Change,
    ChangeKind,
    Coupling,
    DeletionConflict,
    Direction,
    Expected,
    Job,
    JobError,
    JobStatus,
    Record,
    SyncResult,
    UpdateConflict,
    WriteResult,
)
from accord.model.coupling import LOOKUP_DEFERRED
from accord.model.values import same
from accord.state import StateStore
from accord.state.store import utcnow
from accord.testing.killpoints import reached

MAX_ECHOES = 500_000
"""Echoes a pass remembers for the next (about 100 bytes each); beyond, the state store
answers for the rest."""
_QUIET = (SyncResult.NONE, SyncResult.SUCCESS)

AMBIGUOUS = "not created: match-based coupling found it ambiguous (see accord jobs)"

STALE_ROUNDS = 2
"""How many times a record found changed since it was read is read and decided again within
one pass, before it fails alone (and is retried on the next pass)."""


@dataclass
class _Pending:
    """A change on its way to the destination, with what to record once it is written."""

    kind: Action
    record: Record
    coupling: Coupling
    transferred: Transferred
    keep_destination_version: bool = False
    fresh: bool = False  # a new coupling written in final form, only to be confirmed
    before: dict[str, object] | None = None  # destination values replaced (for the recorder)
    theirs: frozenset[str] = frozenset()  # merge: fields whose destination edit stands
    held: dict[str, object] | None = None  # merge: destination values once written
    after: dict[str, object] | None = None  # destination values once written (its checksum)


@dataclass
class _BatchState:
    save: list[Coupling] = field(default_factory=list)
    confirm: dict[object, list[str]] = field(default_factory=dict)  # version → local keys
    drop: list[str] = field(default_factory=list)  # local keys of couplings to delete
    replace: list[str] = field(default_factory=list)  # deleted just before re-creation
    errors: list[JobError] = field(default_factory=list)


class Pass:
    """Runs one direction of one mapping and keeps its job up to date."""

    def __init__(
        self,
        ctx: MappingContext,
        direction: Direction,
        store: StateStore,
        job: Job,
        options: PassOptions,
        progress: Progress,
        mapping_names: dict[str, str],
        recorder: Recorder | None = None,
    ) -> None:
        self.ctx = ctx
        self.recorder: Recorder = recorder or NoRecorder()
        self.mapping = ctx.mapping
        self.direction = direction
        self.store = store
        self.job = job
        self.options = options
        self.progress = progress
        self.mapping_names = mapping_names
        self.src: SideContext = ctx.source(direction)
        self.dst: SideContext = ctx.destination(direction)
        self.rules = ctx.rules(direction)
        self.plan = TransferPlan(self.rules, self.dst.schema)
        self.soft_lookups = {r.dest for r in self.rules if r.lookup and r.clear_on_missing}
        self.shared_fields = {r.dest for r in self.rules if r.bidirectional}
        self.creates = (
            options.create_uncoupled
            if options.create_uncoupled is not None
            else (options.full or not self.mapping.sync_only_coupled)
        )
        self.keys_allocator = KeyAllocator(self.dst, store)
        self.read = PassReader(ctx, direction, store, job, options, self.recorder)
        self.renames = (
            RenameCheck(ctx, direction, store, options.batch_size)
            if self.creates and options.check_renamed
            else None
        )
        back = ctx.rules(direction.opposite)
        self.has_back_rules = self.mapping.direction is Direction.BIDIRECTIONAL and any(
            not r.bidirectional for r in back
        )
        # The opposite direction's own fields, when all constants: a source record created
        # here that already holds them leaves nothing for the opposite pass to do.
        self.back_constants = ctx.back_constants(direction) if self.has_back_rules else None
        self.settle_keys: list[str] = []  # destination keys the opposite pass should revisit
        self.max_seen: object = None  # the newest source version read (once run)
        self.settle_known: dict[str, Record] = {}  # those created, as the destination answered
        # Destination key → version recorded, for records written this pass and left quiet
        # for the opposite direction: what a full run's second pass will meet as echoes.
        self.echoes: dict[str, object] = {}
        self._remember_echoes = options.full and self.mapping.direction is Direction.BIDIRECTIONAL
        # A three-way merge needs the values both sides agreed on at the last sync.
        self.merge = (
            MergeBase(
                [(r.source, r.dest) for r in self.rules if r.bidirectional and r.source],
                self.src.side,
                self.dst.side,
            )
            if self.mapping.direction is Direction.BIDIRECTIONAL
            and self.mapping.update_conflict is UpdateConflict.MERGE
            else None
        )
        self.conflicts = ConflictJudge(
            self.mapping.update_conflict, direction, self.rules, self.merge, self.has_back_rules
        )
        # Updates say what they expect to find, where the destination can check it.
        self.conditional = self.dst.connector.capabilities.optimistic_concurrency
        # Per side, a checksum of the values it supplies as a source: a record whose values
        # differ from those of the last sync changed, even under the version stored (coarse
        # or skewed clocks). The destination's is None in a one-way mapping.
        self.src_sum = ctx.checksum(self.src.side)
        self.dst_sum = ctx.checksum(self.dst.side)
        self._sums: dict[str, int] = {}  # source key → checksum, for the current batch

    # -- driving --------------------------------------------------------------------------
    def run(self) -> Job:
        started = utcnow()
        max_seen = None
        batches, total = self.read.batches(count=not isinstance(self.progress, NoProgress))
        self.progress.pass_started(self.job, total)
        # A pass allocates millions of short-lived objects; every full collection would also
        # walk all the long-lived ones (modules, SQLAlchemy metadata, configuration) again,
        # about a fifth of a big pass. Park those out of the collector's way for the pass,
        # unless the application already froze its own (gc.freeze is process-wide).
        freeze = gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        try:
            for batch, track in batches:
                if track:
                    newest = max((r.version for r in batch if r.version is not None), default=None)
                    if newest is not None and (max_seen is None or newest > max_seen):
                        max_seen = newest
                reached("pass.read")
                self._process(batch)
                self.progress.advanced(self.job, len(batch))
        finally:
            if freeze:
                gc.unfreeze()
        self.max_seen = max_seen
        self.job.finished_at = utcnow()
        self.job.status = JobStatus.FAILED if self.job.counters.failed else JobStatus.OK
        reached("pass.finishing")
        with self.store.transaction() as tx:
            if self.options.keys is None and self.options.key_range is None:
                # With the time this pass started reading: the next read reaches back only to
                # what could still commit late (see accord.engine.reading.read_bound).
                # The source's next delta token too, where it tracks changes (or None).
                found, token = self.read.watermark, self.read.token
                if max_seen is not None:
                    tx.set_watermark(
                        self.mapping.name, self.src.side, min(max_seen, started), started, token
                    )
                elif found is not None:  # nothing in the window: it was read all the same
                    tx.set_watermark(self.mapping.name, self.src.side, found.value, started, token)
                elif token is not None:  # nothing to read at all: the token still counts
                    tx.set_watermark(self.mapping.name, self.src.side, started, started, token)
            tx.save_job(self.job)
        reached("pass.finished")
        self.progress.pass_finished(self.job)
        return self.job

    # -- one batch ------------------------------------------------------------------------
    def _process(self, records: list[Record]) -> None:
        if not records:
            return
        d, src_side = self.direction, self.src.side
        if self.options.probe_first:
            records = self.read.drop_quiet_echoes(records)
            if not records:
                self._commit_counters()  # the batch ends here: keep progress visible
                return
        couplings = self.store.couplings_by(self.mapping.name, src_side, [r.key for r in records])
        self._sums = {}
        # Probed records carry no values yet: their checksums come once they are complete.
        by_values = not self.options.probe_first
        state = _BatchState()
        creations: list[tuple[Record, Coupling | None]] = []
        candidates: list[tuple[Record, Coupling]] = []
        for r in records:
            c = couplings.get(r.key)
            if r.error:
                self._unreadable(state, r, c)
            elif c is None:
                if r.key in self.options.hold:
                    self.job.counters.skipped += 1
                    self._note(Action.SKIP, r.key, "", reason=AMBIGUOUS)
                elif self.creates:
                    creations.append((r, None))
                elif self.options.keys is not None:
                    self._fail(
                        state,
                        r.key,
                        "",
                        "record is not coupled (couple it with "
                        "'accord couple', or run a full synchronization)",
                    )
                else:
                    pass  # ignored: not counted (reference §2.4)
            elif c.skipped:
                self.job.counters.skipped += 1
                self._note(Action.SKIP, r.key, c.key(self.dst.side), reason="quarantined")
            elif (
                c.pending
                or (self.options.full and not self._synced_this_run(c))
                or self.options.keys is not None
                or c.needs_retry(d)
                or self.read.changed(r, c.version(src_side))
                or (by_values and self._other_values(r, c))
                or r.key in self.options.recheck
            ):
                candidates.append((r, c))
            else:
                self.job.counters.unchanged += 1

        if self.options.probe_first:
            creations, candidates = self.read.complete(creations, candidates)
            # values the probe did not read may be ones the source cannot convert
            for r, maybe in [*creations, *candidates]:
                if r.error:
                    self._unreadable(state, r, maybe)
            creations = [(r, c) for r, c in creations if not r.error]
            candidates = [(r, c) for r, c in candidates if not r.error]
        if creations and self.renames is not None:
            creations = self._hold_renamed(state, creations)
        current = self.read.destination([c.key(self.dst.side) for _, c in candidates])
        resolved = resolve_lookups(
            self.store,
            self.rules,
            d,
            (r.values for r, _ in chain(creations, candidates)),
            self.mapping_names,
        )
        pending: list[_Pending] = []
        changes: list[Change] = []
        for r, c in candidates:
            dest = current.get(c.key(self.dst.side))
            if dest is None:
                if c.pending_for(d):
                    creations.append((r, c))  # this pass's creation, not written yet
                elif c.pending:
                    # The opposite pass wrote this record and its source is gone since: that
                    # pass settles the pair (a deleted counterpart), this one re-creates nothing.
                    self.job.counters.unchanged += 1
                else:
                    self._deletion_conflict(state, r, c, creations)
                continue
            self._compare(state, r, c, dest, resolved, pending, changes)
        self._prepare_creations(state, creations, resolved, pending, changes)
        stale = self._record_results(state, pending, self._write(changes))
        for _ in range(STALE_ROUNDS):
            if not stale:
                break
            stale = self._decide_again(state, stale, resolved)
        for item in stale:
            self._fail_coupling(
                state,
                item.record,
                item.coupling,
                f"cannot update: {self.dst.table_ref} {item.coupling.key(self.dst.side)!r} was "
                f"changed by someone else each time it was read ({STALE_ROUNDS + 1} times); it "
                "is read and compared again on the next pass",
            )
        with self.store.transaction() as tx:
            tx.update_couplings(state.save)
            for version, local_keys in state.confirm.items():
                tx.confirm_created(self.mapping.name, self.dst.side, local_keys, version)
            tx.delete_couplings(self.mapping.name, state.drop)
            tx.add_errors(state.errors)
            tx.save_job(self.job)
            reached("pass.committing")  # inside the batch's transaction, not committed yet
        reached("pass.committed")

    def _unreadable(self, state: _BatchState, r: Record, c: Coupling | None) -> None:
        """A record the source could not read as stored (a bad value, a modified-on value
        that is no time) fails alone, with the reason, wherever it would have been worked on;
        an uncoupled one a pass would not create is ignored like any other."""
        message = f"cannot read the source record: {r.error}"
        if c is None:
            if self.creates or self.options.keys is not None:
                self._fail(state, r.key, "", message)
        elif c.skipped:
            self.job.counters.skipped += 1
            self._note(Action.SKIP, r.key, c.key(self.dst.side), reason="quarantined")
        else:
            self._fail_coupling(state, r, c, message)

    def _record_results(
        self, state: _BatchState, pending: list[_Pending], results: list[WriteResult]
    ) -> list[_Pending]:
        """Record each written change; return those found changed since read (stale)."""
        stale = []
        for item, result in zip(pending, results, strict=True):
            if result.stale and item.kind is Action.MODIFY:
                stale.append(item)
            else:
                self._record_result(state, item, result)
        return stale

    def _decide_again(
        self, state: _BatchState, stale: list[_Pending], resolved: dict[str, dict[str, str]]
    ) -> list[_Pending]:
        """Destination records changed between the read and the write: read them again and
        compare anew (one read, one write), exactly as if the edit had been seen first; the
        conflict policy decides. Returns those found changed yet again."""
        dst_side = self.dst.side
        fresh = self.read.destination([item.coupling.key(dst_side) for item in stale])
        pending: list[_Pending] = []
        changes: list[Change] = []
        for item in stale:
            dest = fresh.get(item.coupling.key(dst_side))
            if dest is None:  # deleted meanwhile: the next pass sees a deleted counterpart
                self._fail_coupling(
                    state, item.record, item.coupling, "cannot update: record not found"
                )
                continue
            self._compare(
                state, item.record, item.coupling, dest, resolved, pending, changes, stale=True
            )
        return self._record_results(state, pending, self._write(changes))

    def _source_sum(self, r: Record) -> int:
        """The source record's checksum (computed once per batch)."""
        found = self._sums.get(r.key)
        if found is None:
            assert self.src_sum is not None  # a pass's source always has one
            found = self._sums[r.key] = self.src_sum(r.values)
        return found

    def _other_values(self, r: Record, c: Coupling) -> bool:
        """The source holds other values than at the last sync, whatever its version says
        (an edit in the same tick as the version stored, or stamped by a clock behind)."""
        stored = c.checksum(self.src.side)
        return stored is not None and self._source_sum(r) != stored

    def _write(self, changes: list[Change]) -> list[WriteResult]:
        """Write in chunks the destination accepts (its declared batch size).

        Each chunk is written only after the run proved it still holds the mapping's lease:
        a run stalled past its lease and taken over stops here (``LeaseLostError``).
        """
        size = max(1, self.dst.connector.capabilities.batch_size)
        results: list[WriteResult] = []
        for start in range(0, len(changes), size):
            self.store.prove_leases()
            reached("pass.proved")  # the lease proved, the chunk not written yet
            results.extend(self.dst.connector.write(self.dst.table, changes[start : start + size]))
            reached("pass.written")  # written, not yet recorded in the state store
        return results

    def _commit_counters(self) -> None:
        """Persist counters when a batch ends early (progress stays visible)."""
        with self.store.transaction() as tx:
            tx.save_job(self.job)

    def _synced_this_run(self, c: Coupling) -> bool:
        started = self.options.run_started
        return started is not None and c.synced_at is not None and c.synced_at >= started

    def _compare(
        self,
        state: _BatchState,
        r: Record,
        c: Coupling,
        dest: Record,
        resolved: dict[str, dict[str, str]],
        pending: list[_Pending],
        changes: list[Change],
        *,
        stale: bool = False,
    ) -> None:
        """Compare a coupled pair and plan the update, if any. ``stale``: ``dest`` was read
        again because it changed after the first read: a change even in a pass by keys
        (unless the user named the records and direction), so the conflict policy decides."""
        d, dst_side = self.direction, self.dst.side
        try:
            wanted = self.plan.apply(r.values, resolved)
        except RecordError as exc:
            self._fail_coupling(state, r, c, str(exc))
            return
        diff = differences(wanted.values, dest.values)
        if not self.options.explicit and c.cleared_lookup(d.opposite):
            # The other direction cleared a lookup it could not translate yet: its blank is
            # not the real value, so this pass must not carry it over the destination's
            # (unless a merge base shows the source really edited it).
            for name in self.soft_lookups:
                if not (self.merge and self.merge.changed_on_source(r, c, name)):
                    diff.pop(name, None)
        dest_sum = None
        stored_sum = c.checksum(dst_side)
        if self.dst_sum is not None and (stored_sum is not None or not diff):
            dest_sum = self.dst_sum(dest.values)
        dest_edited = self.read.changed(dest, c.version(dst_side)) or (
            stored_sum is not None and dest_sum != stored_sum
        )
        dest_changed = (
            self.mapping.direction is Direction.BIDIRECTIONAL
            and not c.pending
            and (self.options.keys is None or (stale and not self.options.explicit))
            and dest_edited
        )
        due_only = c.due(d)
        source_changed = (
            self.read.changed(r, c.version(self.src.side))
            or self._other_values(r, c)
            or (c.needs_retry(d) and not due_only)
        )
        both_changed = dest_changed
        theirs: tuple[str, ...] = ()
        if dest_changed and not source_changed and not due_only:
            # Only the destination changed (a full pass compares every pair): its edits are
            # not overwritten here; the opposite pass brings them over.
            self.job.counters.unchanged += 1
            return
        if dest_changed and not source_changed:
            # Due only for the fields this direction alone writes: those are sent, while the
            # destination's edits of shared fields stand for the opposite pass to bring over.
            theirs = tuple(f for f in diff if f in self.shared_fields)
            for name in theirs:
                del diff[name]
        elif both_changed:
            verdict = self.conflicts.judge(r, c, dest, diff)
            if verdict.outcome is Outcome.FAIL:
                self._fail_coupling(state, r, c, verdict.message, conflict=True)
                return
            if verdict.outcome is Outcome.SKIP:
                self.job.counters.skipped += 1
                self._note(
                    Action.SKIP, r.key, c.key(dst_side), reason=verdict.message, conflict=True
                )
                return
            theirs = verdict.theirs
            for name in theirs:
                del diff[name]
            both_changed = verdict.destination_keeps_changes
        if both_changed and (self.has_back_rules or theirs):
            # The destination also changed, in fields only the other direction writes (or its
            # pass was skipped by a conflict): complete the pair in this same run.
            self.settle_keys.append(c.key(dst_side))
        # An explicit one-way sync must not mark the destination's own one-way edits as done:
        # the opposite direction is left due (retried), while the destination's version is
        # taken as synchronized, so that its edits made *before* this sync do not later count
        # as a change that conflicts with the source's next edits.
        keep = both_changed
        due_back = (
            not both_changed
            and self.options.keys is not None
            and self.has_back_rules
            and not c.pending
            and dest_edited
        )
        if due_back:
            c.set_result(d.opposite, SyncResult.DEFERRED, self.job.id)
        if not diff:
            # Compared: both sides' versions and checksums are those of the values now held
            # (a checksum that differed only settles here, with nothing written).
            c.set_version(self.src.side, r.version)
            c.set_checksum(self.src.side, self._source_sum(r))
            if not keep:
                c.set_version(dst_side, dest.version)
                c.set_checksum(dst_side, dest_sum)
            # Compared, nothing written: not "synchronized by this run" for the next pass,
            # which must still compare the fields only it writes.
            self._succeed(c, wanted, written=False, record=r, held=dest.values, theirs=theirs)
            state.save.append(c)
            self.job.counters.unchanged += 1
            return
        before = {f: dest.values.get(f) for f in diff} if self.recorder.active else None
        after = {**dest.values, **diff} if self.merge or self.dst_sum is not None else None
        pending.append(
            _Pending(
                Action.MODIFY,
                r,
                c,
                wanted,
                keep_destination_version=keep,
                before=before,
                theirs=frozenset(theirs),
                held=after if self.merge else None,
                after=after,
            )
        )
        # Applied only if the record still holds what was read: its version, and the values
        # of the fields written (a coarse clock may not tell a later edit by its version).
        expected = (
            Expected(dest.version, {f: dest.values.get(f) for f in diff})
            if self.conditional
            else None
        )
        changes.append(
            Change(ChangeKind.UPDATE, c.key(dst_side), diff, checked=True, expected=expected)
        )

    def _hold_renamed(
        self, state: _BatchState, creations: list[tuple[Record, Coupling | None]]
    ) -> list[tuple[Record, Coupling | None]]:
        """Hold back uncoupled records that look like a coupled record whose key changed.

        Created, each would duplicate the counterpart it is already coupled to under its old
        key. The record is counted skipped; the coupling, whose record is gone, fails with
        the message that says how to re-couple (``accord errors`` lists it).
        """
        assert self.renames is not None
        found = self.renames.find([r for r, c in creations if c is None])
        if not found:
            return creations
        kept = []
        for r, c in creations:
            orphan = found.get(r.key) if c is None else None
            if orphan is None:
                kept.append((r, c))
                continue
            message = self.renames.message(r, orphan)
            self.job.counters.skipped += 1
            self._note(Action.SKIP, r.key, orphan.key(self.dst.side), reason=message)
            self._fail_coupling(state, r, orphan, message)
        return kept

    def _deletion_conflict(
        self,
        state: _BatchState,
        r: Record,
        c: Coupling,
        creations: list[tuple[Record, Coupling | None]],
    ) -> None:
        if is_renamed(c, self.direction.opposite):
            # The opposite pass found this pair's record under a new key and held it back:
            # restoring the old record, or uncoupling, would make the duplicate it avoided.
            self.job.counters.skipped += 1
            self._note(
                Action.SKIP, r.key, c.key(self.dst.side), reason=c.error(self.direction.opposite)
            )
            return
        policy = self.mapping.deletion_conflict
        if policy is DeletionConflict.NONE:
            self._fail_coupling(
                state,
                r,
                c,
                f"coupled to a deleted record: {self.dst.table_ref} {c.key(self.dst.side)!r} "
                "no longer exists (uncouple it, or set deletion_conflict to restore or uncouple)",
            )
            return
        if policy is DeletionConflict.RESTORE:
            state.replace.append(c.local_key)
            creations.append((r, None))
        else:
            state.drop.append(c.local_key)
            self.job.counters.add(Action.UNCOUPLE)
            self._note(
                Action.UNCOUPLE, r.key, c.key(self.dst.side), reason="its counterpart was deleted"
            )

    def _prepare_creations(
        self,
        state: _BatchState,
        creations: list[tuple[Record, Coupling | None]],
        resolved: dict[str, dict[str, str]],
        pending: list[_Pending],
        changes: list[Change],
    ) -> None:
        if not creations:
            return
        ready: list[tuple[Record, Coupling | None, Transferred]] = []
        for r, c in creations:
            try:
                ready.append((r, c, self.plan.apply(r.values, resolved)))
            except RecordError as exc:
                if c is not None:
                    state.drop.append(c.local_key)
                self._fail(state, r.key, c.key(self.dst.side) if c else "", str(exc))
        unkeyed = sum(1 for _, c, _ in ready if c is None)
        new_couplings: list[Coupling] = []
        now = utcnow()
        new_coupling = self._new_coupling
        with self.store.transaction() as tx:
            # Only a run that still holds the mapping commits pending couplings (fencing).
            tx.prove_leases()
            # A restored record replaces its broken coupling in the same transaction.
            tx.delete_couplings(self.mapping.name, state.replace)
            keys = iter(self.keys_allocator.allocate(unkeyed, tx))
            for r, c, wanted in ready:
                fresh = c is None
                if c is None:
                    c = new_coupling(r, next(keys), wanted, now)
                    new_couplings.append(c)
                pending.append(_Pending(Action.INSERT, r, c, wanted, fresh=fresh))
                changes.append(
                    Change(ChangeKind.INSERT, c.key(self.dst.side), wanted.values, checked=True)
                )
            # Committed before the write: a crash after it leaves a pending coupling that the
            # next run resolves by looking the record up, never a second record.
            tx.insert_couplings(new_couplings)
        reached("pass.pending")

    def _new_coupling(
        self, r: Record, dest_key: str, wanted: Transferred, now: datetime
    ) -> Coupling:
        """A pending coupling in final form but for the destination's version (known once
        written): as :meth:`_succeed` would leave it, with one stamp for the batch."""
        job = self.job.id
        done = SyncResult.DEFERRED if wanted.deferred else SyncResult.SUCCESS
        why = _deferral(wanted)
        # The other direction owns fields this pass does not write: it is due at once. Only
        # this direction gets the job: it tells who is creating the record (Coupling.creator).
        due = SyncResult.NONE
        if self.has_back_rules:
            # Unless the source holds them already (the demo's CONTACT: type = 'person'),
            # then the pair is in sync both ways and the opposite pass meets an echo.
            due = SyncResult.SUCCESS if self._back_held(r) else SyncResult.DEFERRED
        if self.direction is Direction.TO_INTEGRATION:
            c = Coupling(
                self.mapping.name, r.key, dest_key, pending=True, local_version=r.version,
                result_to=done, job_to=job, error_to=why, result_from=due, job_from=None,
                coupled_at=now, synced_at=now,
            )  # fmt: skip
        else:
            c = Coupling(
                self.mapping.name, dest_key, r.key, pending=True, integration_version=r.version,
                result_to=due, job_to=None, result_from=done, job_from=job, error_from=why,
                coupled_at=now, synced_at=now,
            )  # fmt: skip
        if self.merge is not None:
            self.merge.agree(c, r, wanted.values, ())
        c.set_checksum(self.src.side, self._source_sum(r))
        if self.dst_sum is not None:
            c.set_checksum(
                self.dst.side, self.dst_sum({**wanted.values, self.dst.schema.key: dest_key})
            )
        return c

    def _back_held(self, r: Record) -> bool:
        """The source record already holds every value the opposite direction alone writes
        (all constants), so a record created from it leaves that direction nothing to do."""
        wanted = self.back_constants
        if not wanted:
            return False
        values = r.values
        return all(name in values and same(values[name], v) for name, v in wanted.items())

    def _record_result(self, state: _BatchState, item: _Pending, result: WriteResult) -> None:
        c, r = item.coupling, item.record
        if not result.ok:
            reason = result.error or "rejected"
            if item.kind is Action.INSERT:
                state.drop.append(c.local_key)
                self._fail(state, r.key, c.key(self.dst.side), f"cannot create: {reason}")
            else:
                self._fail_coupling(state, r, c, f"cannot update: {reason}")
            return
        if self.recorder.active:
            before = item.before or {}
            self._note(
                item.kind,
                r.key,
                c.key(self.dst.side),
                fields={f: (before.get(f), v) for f, v in item.transferred.values.items()}
                if item.kind is Action.INSERT
                else {f: (before.get(f), item.transferred.values.get(f)) for f in before},
            )
        if item.kind is Action.INSERT:
            self.job.counters.inserted += 1
            self.job.counters.coupled += 1
            # The other direction owns fields this pass did not write (e.g. the number the
            # ERP assigned): let the opposite pass complete the new pair. A fresh pair whose
            # source already holds them (see _back_held) is not due the other way.
            due_back = self.has_back_rules and not (
                item.fresh and c.result(self.direction.opposite) is SyncResult.SUCCESS
            )
            if due_back:
                key = c.key(self.dst.side)
                self.settle_keys.append(key)
                if result.values is not None and result.version is not None:
                    self.settle_known[key] = Record(key, result.values, result.version)
            if item.fresh:
                state.confirm.setdefault(result.version, []).append(c.local_key)
                if not due_back:  # else the opposite direction is due (deferred)
                    self._echo(c.key(self.dst.side), result.version)
                return
            if self.has_back_rules:
                c.set_result(self.direction.opposite, SyncResult.DEFERRED, self.job.id)
        else:
            self.job.counters.modified += 1
        c.pending = False
        c.set_version(self.src.side, r.version)
        c.set_checksum(self.src.side, self._source_sum(r))
        if not item.keep_destination_version:
            c.set_version(self.dst.side, result.version)
            c.set_checksum(self.dst.side, self._written_sum(item, c))
        self._succeed(c, item.transferred, record=r, held=item.held, theirs=item.theirs)
        state.save.append(c)
        if (
            not item.keep_destination_version
            and not c.skipped
            and c.result(self.direction.opposite) in _QUIET
        ):
            # Only a write that left the destination as synchronized is an echo: one that
            # kept its version (the destination's own edits still to carry back) is not, and
            # on a coarse clock its new stamp can equal the version kept.
            self._echo(c.key(self.dst.side), c.version(self.dst.side))

    def _written_sum(self, item: _Pending, c: Coupling) -> int | None:
        """The destination's checksum once written: the values read, updated with those
        written (a created record: those written, with its key; other fields blank)."""
        if self.dst_sum is None:
            return None
        if item.after is not None:
            return self.dst_sum(item.after)
        return self.dst_sum({**item.transferred.values, self.dst.schema.key: c.key(self.dst.side)})

    def _echo(self, key: str, version: object) -> None:
        if self._remember_echoes and version is not None and len(self.echoes) < MAX_ECHOES:
            self.echoes[key] = version

    # -- outcomes -------------------------------------------------------------------------
    def _succeed(
        self,
        c: Coupling,
        wanted: Transferred,
        *,
        written: bool = True,
        record: Record | None = None,
        held: dict[str, object] | None = None,
        theirs: Iterable[str] = (),
    ) -> None:
        if self.merge is not None and record is not None:
            self.merge.agree(c, record, wanted.values if held is None else held, theirs)
        result = SyncResult.DEFERRED if wanted.deferred else SyncResult.SUCCESS
        c.set_result(self.direction, result, self.job.id, _deferral(wanted))
        c.repeats = 0
        if (
            not c.pending
            and self.has_back_rules
            and c.result(self.direction.opposite) is SyncResult.NONE
        ):
            # A pair never synchronized the other way (e.g. coupled by hand and synchronized
            # one way): the other direction's one-way fields still have to be sent.
            c.set_result(self.direction.opposite, SyncResult.DEFERRED, self.job.id)
            self.settle_keys.append(c.key(self.dst.side))
        c.pending = False
        if written or c.synced_at is None:
            c.synced_at = utcnow()

    def _fail(
        self,
        state: _BatchState,
        source_key: str,
        dest_key: str,
        message: str,
        *,
        conflict: bool = False,
    ) -> None:
        state.errors.append(JobError(self.job.id, source_key, dest_key, message))
        self.job.counters.add(Action.FAIL)
        self._note(Action.FAIL, source_key, dest_key, reason=message, conflict=conflict)

    def _note(
        self,
        action: Action,
        key: str,
        target: str,
        *,
        fields: dict[str, tuple[object, object]] | None = None,
        reason: str = "",
        conflict: bool = False,
    ) -> None:
        if self.recorder.active:
            self.recorder.record(
                PlannedChange(
                    self.mapping.name,
                    action,
                    key,
                    target,
                    self.direction,
                    fields or {},
                    reason,
                    conflict,
                )
            )

    def _fail_coupling(
        self, state: _BatchState, r: Record, c: Coupling, message: str, *, conflict: bool = False
    ) -> None:
        """Fail a coupled record; the same error twice in a row quarantines it (skipped)."""
        d = self.direction
        repeated = c.result(d) is SyncResult.FAILURE and same(c.error(d), message)
        c.repeats = c.repeats + 1 if repeated else 1
        if c.repeats >= self.mapping.skip_after:
            c.skipped = True
        c.set_result(d, SyncResult.FAILURE, self.job.id, message)
        state.save.append(c)
        self._fail(state, r.key, c.key(self.dst.side), message, conflict=conflict)


def _deferral(wanted: Transferred) -> str:
    """The message of a direction deferred by cleared lookups ("" when none was cleared)."""
    if not wanted.deferred:
        return ""
    return f"{LOOKUP_DEFERRED}: {', '.join(wanted.deferred)} left blank until it is coupled"
