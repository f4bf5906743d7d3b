"""What a pass reads: its source in batches, and the records and state around them.

The source is read page by page: records due for a retry first, then those modified since
the watermark (or every record of a full pass, or the keys asked for). What cannot be read
is settled here too: keys asked for that do not exist fail, and pending creations whose
source record is gone are dropped or confirmed.

The read window of an incremental pass (:func:`read_bound`). The overlap below a watermark
exists for *late commits*: a transaction that stamped its record before the last pass read,
but committed after it. Such a record is stamped at or after ``read_at - overlap`` (the time
the last pass started reading, less the overlap: a commit takes less than the overlap, and
the host's and the system's clocks differ by less than it). Anything stamped earlier had
committed before that read began and was seen by it. So the window only has to reach back
to ``min(watermark, read_at - overlap)``, not ``watermark - overlap``: once a pass has run
``overlap_seconds`` after the last change, the next one reads only the records stamped at the
watermark itself (kept: on a coarse clock a later edit can carry the very same stamp).

Change tracking (a source whose connector declares ``change_tracking`` and whose table
tracks changes, such as Dataverse's): an incremental pass with a stored delta token reads the
changes since it instead of polling the modified-on field, so its cost follows the number of
changes, and the couplings of records the feed reports deleted are checked and marked as
``accord errors --find-deleted`` marks them. Every other pass on such a source (full, by
``--since``, without a token, or whose token expired) takes a new token *before* it reads,
so that nothing changed during its read is missed by the next; a pass that reads every
record (full, or the first) reads them with change tracking instead, and keeps the token the
read ends with (dated at the read's start, see ``ChangeTracking.read_changes``): one read,
not two. The token is stored with the watermark at the end of the pass (a pass that dies
re-reads from the old one: versions tell what is already synchronized); the watermark keeps
moving too, so polling can take over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, cast

from accord.connectors.base import ChangeFeed, ChangeTracking
from accord.engine.context import MappingContext, SideContext
from accord.engine.deleted import mark_deleted
from accord.engine.plan import NoRecorder, Recorder
from accord.errors import ChangeTokenExpired
from accord.filters.filter import Filter, and_filters, parse_filter
from accord.model import Action, Coupling, Direction, Job, JobError, Record
from accord.state import StateStore
from accord.state.store import Watermark
from accord.testing.killpoints import reached

if TYPE_CHECKING:
    from accord.engine.options import PassOptions

log = logging.getLogger(__name__)

Batch = tuple[list[Record], bool]
"""A page of source records, and whether it advances the watermark."""

TICK = timedelta(microseconds=1)
"""The finest step of a datetime. Connectors read ``modified_after`` strictly; a bound one
tick lower reads the bound's own stamp too, whatever the source's clock resolution (a
watermark is a stamp the source stored, so it is already on the source's own tick)."""


def read_bound(
    mark: Watermark | None, overlap_seconds: float, since: datetime | None = None
) -> datetime | None:
    """The oldest version an incremental read must include; None: read every record.

    With the time the last pass started reading (``read_at``), the window reaches back to
    ``min(watermark, read_at - overlap)``; without it (a store written before it was
    recorded) to ``watermark - overlap``, as before. ``since`` (``sync --since``) lowers it
    further, never raises it: records between the watermark and ``since`` are still read.
    """
    if mark is None:
        return None
    overlap = timedelta(seconds=overlap_seconds)
    if mark.read_at is None:
        bound = mark.value - overlap
    else:
        bound = min(mark.value, mark.read_at - overlap)
    return bound if since is None else min(bound, since)


class PassReader:
    """Reads for one pass: source pages, destination records, and what is already done."""

    def __init__(
        self,
        ctx: MappingContext,
        direction: Direction,
        store: StateStore,
        job: Job,
        options: PassOptions,
        recorder: Recorder | None = None,
    ) -> None:
        self.ctx = ctx
        self.recorder: Recorder = recorder or NoRecorder()
        self.direction = direction
        self.mapping = ctx.mapping
        self.store = store
        self.job = job
        self.options = options
        self.src: SideContext = ctx.source(direction)
        self.dst: SideContext = ctx.destination(direction)
        self.watermark: Watermark | None = (
            None
            if options.full or options.keys is not None
            else store.watermark_state(self.mapping.name, self.src.side)
        )
        """The source side's watermark as this pass found it (incremental passes only)."""
        self.token: str | None = None
        """The delta token to store at the end of the pass (None: the source is polled)."""
        self.tracked = False
        """This pass reads the source's changes from a delta token."""

    def changed(self, r: Record, synced: object) -> bool:
        """The record changed since the version stored at its last sync.

        Normally: a later version (:func:`newer`). In a ``sync --since`` pass, any other
        version, an *older* one too: a backdated edit (an import, another writer's clock
        behind) carries a version below the one stored, and is what ``--since`` is for.
        """
        if self.options.since is not None and r.version is not None and synced is not None:
            return bool(r.version != synced)
        return newer(r, synced)

    def batches(self, *, count: bool = True) -> tuple[Iterator[Batch], int | None]:
        """The pages to work through, and how many records they hold (for progress).

        ``count=False`` (nobody shows progress) leaves the total out: over HTTP a count is
        one more request per pass, which a sync of 100 changes notices.
        """
        size = self.options.batch_size
        fields = [] if self.options.probe_first else self.ctx.read_fields(self.direction)
        read = self.src.connector.read
        if self.options.keys is not None:
            keys = list(dict.fromkeys(self.options.keys))
            known = self._known(keys, fields)
            rest = [k for k in keys if k not in known] if known else keys
            found: Iterator[list[Record]] = chain(
                _chunks([known[k] for k in keys if k in known], size),
                read(self.src.table, keys=rest, fields=fields, batch_size=size) if rest else (),
            )
            return self._by_key(found, keys, self._fail_missing), len(keys)
        if self.options.key_range is not None:
            return self._part(fields, size, count)
        retry = self.store.retry_keys(self.mapping.name, self.direction)
        retry_set = set(retry)
        retried = (
            self._by_key(
                read(self.src.table, keys=retry, fields=fields, batch_size=size),
                retry,
                self._settle_orphans,  # retried keys gone from the source
            )
            if retry
            else iter(())
        )
        feed = self._change_feed(fields)
        if feed is not None:
            total = None
            if count and not self.tracked:  # a full read: as many as a plain read
                total = self.src.connector.count(self.src.table, filter=self.src.filter)
                total += len(retry)
            return chain(retried, self._changes(feed, retry_set)), total
        modified_after = None
        if not self.options.full:
            bound = read_bound(
                self.watermark, self.src.settings.overlap_seconds, self.options.since
            )
            modified_after = None if bound is None else bound - TICK
        total = (
            self.src.connector.count(
                self.src.table, filter=self.src.filter, modified_after=modified_after
            )
            + len(retry)
            if count
            else None
        )
        main = (
            ([r for r in batch if r.key not in retry_set], True)
            for batch in read(
                self.src.table,
                filter=self.src.filter,
                modified_after=modified_after,
                fields=fields,
                batch_size=size,
            )
        )
        return chain(retried, main), total

    def _part(
        self, fields: list[str], size: int, count: bool
    ) -> tuple[Iterator[Batch], int | None]:
        """One key range of a full pass split over workers: every source record in it.

        No separate read of the keys due for a retry (a full read meets them in their range,
        so no two parts ever hold one record) and no change feed (the pass's first step took
        the token, its last step stores it).
        """
        assert self.options.key_range is not None
        bounds = range_filter(self.src.schema.key, self.options.key_range)
        where = and_filters(self.src.filter, bounds)
        total = self.src.connector.count(self.src.table, filter=where) if count else None
        pages = self.src.connector.read(
            self.src.table, filter=where, fields=fields, batch_size=size
        )
        return ((batch, True) for batch in pages), total

    def _tracker(self) -> ChangeTracking | None:
        connector = self.src.connector
        if not connector.capabilities.change_tracking:
            return None
        tracker = cast(ChangeTracking, connector)
        return tracker if tracker.tracks(self.src.table) else None

    def _change_feed(self, fields: list[str]) -> ChangeFeed | None:
        """The changes since the stored token, where this pass reads them; else None, with a
        new token taken first when the source tracks changes (see the module docstring)."""
        tracker = self._tracker()
        if tracker is None:
            return None
        stored = self.watermark.delta_token if self.watermark is not None else None
        if stored and self.options.since is None:
            try:
                feed = tracker.read_changes(
                    self.src.table,
                    stored,
                    filter=self.src.filter,
                    fields=fields,
                    batch_size=self.options.batch_size,
                )
            except ChangeTokenExpired as exc:
                warning = f"{exc}; a new token was taken"
                log.warning("mapping %s: %s", self.mapping.name, warning)
                self.job.message = warning
            else:
                self.tracked = True
                self.job.message = "changes read with change tracking"
                return feed
        if self.store.dry_run:  # a dry run stores no token: it takes none
            return None
        if self.options.full or self.watermark is None:
            # Every record is read: the read itself gives the token (dated at its start), so
            # the records and the next pass's token cost one read, not two.
            return tracker.read_changes(
                self.src.table,
                None,
                filter=self.src.filter,
                fields=fields,
                batch_size=self.options.batch_size,
            )
        self.token = tracker.track(self.src.table)
        return None

    def _changes(self, feed: ChangeFeed, retry: set[str]) -> Iterator[Batch]:
        """The feed's records as batches; the couplings of deleted records are marked."""
        for change in feed:
            reached("pass.feed")  # the batches before this one committed, the token not moved
            if change.deleted:
                self._mark_deleted(change.deleted)
            yield [r for r in change.records if r.key not in retry], True
        self.token = feed.token

    def _mark_deleted(self, source_keys: list[str]) -> None:
        found = self.store.couplings_by(self.mapping.name, self.src.side, source_keys)
        if found:
            batch = list(found.values())
            mark_deleted(
                self.ctx, self.store, self.job, batch, self.options.batch_size, self.recorder
            )

    def destination(self, keys: list[str]) -> dict[str, Record]:
        """The destination records of these keys (those that exist), in one query."""
        if not keys:
            return {}
        fields = self.ctx.destination_fields(self.direction)
        return {
            r.key: r
            for batch in self.dst.connector.read(self.dst.table, keys=keys, fields=fields)
            for r in batch
        }

    def drop_quiet_echoes(self, records: list[Record]) -> list[Record]:
        """Count as unchanged, without loading them, records this run already synchronized.

        A light query of coupling state per batch, instead of whole couplings: the second pass
        of a full run mostly meets the records the first one just wrote.
        """
        echoes = self.options.echoes
        if echoes:
            unknown = []
            for r in records:
                recheck = r.key in self.options.recheck
                if r.version is not None and echoes.get(r.key) == r.version and not recheck:
                    self.job.counters.unchanged += 1
                else:
                    unknown.append(r)
            records = unknown
        if not records:
            return records
        states = self.store.sync_states(
            self.mapping.name, self.src.side, self.direction, [r.key for r in records]
        )
        started = self.options.run_started
        rest = []
        for r in records:
            state = states.get(r.key)
            if (
                state is not None
                and started is not None
                and state.quiet
                and state.synced_at is not None
                and state.synced_at >= started
                and not newer(r, state.version)
                and r.key not in self.options.recheck  # its own edits are still to carry
            ):
                self.job.counters.unchanged += 1
            else:
                rest.append(r)
        return rest

    def complete(
        self,
        creations: list[tuple[Record, Coupling | None]],
        candidates: list[tuple[Record, Coupling]],
    ) -> tuple[list[tuple[Record, Coupling | None]], list[tuple[Record, Coupling]]]:
        """After a probe, read the whole records that need work (one query per batch)."""
        keys = [r.key for r, _ in creations] + [r.key for r, _ in candidates]
        if not keys:
            return creations, candidates
        fields = self.ctx.read_fields(self.direction)
        full = {
            r.key: r
            for batch in self.src.connector.read(self.src.table, keys=keys, fields=fields)
            for r in batch
        }
        return (
            [(full[r.key], c) for r, c in creations if r.key in full],
            [(full[r.key], c) for r, c in candidates if r.key in full],
        )

    def _known(self, keys: list[str], fields: list[str]) -> dict[str, Record]:
        """The records of ``keys`` the pass was given (as the system answered the pass that
        created them), where they hold every field this pass reads: those need no read."""
        given = self.options.known
        if not given:
            return {}
        wanted = set(fields)
        return {
            k: r
            for k in keys
            if (r := given.get(k)) is not None
            and r.version is not None
            and wanted <= r.values.keys()
        }

    def _by_key(
        self,
        batches: Iterator[list[Record]],
        keys: list[str],
        settle: Callable[[list[str]], None],
    ) -> Iterator[Batch]:
        """Pages read by key; after the last, ``settle`` gets the keys none of them held."""
        seen: set[str] = set()
        for batch in batches:
            seen.update(r.key for r in batch)
            yield batch, False
        missing = [k for k in keys if k not in seen]
        if missing:
            settle(missing)

    def _settle_orphans(self, source_keys: list[str]) -> None:
        """Pending creations whose source record was deleted before they could finish.

        Nothing to create any more: if the destination record was never written the coupling
        goes; if it was (the run died after writing it), the pair is confirmed as coupled, so
        that the deleted source is a deletion conflict like any other, never re-created.
        """
        found = self.store.couplings_by(self.mapping.name, self.src.side, source_keys)
        # A key missing here may be the record the *opposite* pass is creating: left to it.
        pending = [c for c in found.values() if c.pending_for(self.direction)]
        if not pending:
            return
        written = self.destination([c.key(self.dst.side) for c in pending])
        drop, confirm = [], []
        for c in pending:
            dest = written.get(c.key(self.dst.side))
            if dest is None:
                drop.append(c.local_key)
            else:
                c.pending = False
                c.set_version(self.dst.side, dest.version)
                confirm.append(c)
        with self.store.transaction() as tx:
            tx.delete_couplings(self.mapping.name, drop)
            tx.update_couplings(confirm)

    def _fail_missing(self, keys: list[str]) -> None:
        """Keys asked for that the source does not hold fail, each with its reason."""
        with self.store.transaction() as tx:
            tx.add_errors(
                [
                    JobError(self.job.id, k, "", f"record not found in {self.src.table_ref}")
                    for k in keys
                ]
            )
        self.job.counters.add(Action.FAIL, len(keys))


def range_filter(key: str, bounds: tuple[object, object]) -> Filter | None:
    """``key ge lo and key lt hi`` (either end open when None) as a filter."""
    parts = []
    lo, hi = bounds
    if lo is not None:
        parts.append(f"{key} ge {_literal(lo)}")
    if hi is not None:
        parts.append(f"{key} lt {_literal(hi)}")
    return parse_filter(" and ".join(parts)) if parts else None


def _literal(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"a key range bound is text or a whole number, not {value!r}")
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def newer(r: Record, synced: object) -> bool:
    """Changed since the version stored at the last sync (unknown versions count as changed)."""
    if r.version is None or synced is None:
        return True
    return bool(r.version > synced)  # type: ignore[operator]


def _chunks(records: list[Record], size: int) -> Iterator[list[Record]]:
    for start in range(0, len(records), max(1, size)):
        yield records[start : start + size]
