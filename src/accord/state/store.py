"""The state store: couplings, jobs, job errors, watermarks and key series.

SQLite by default (a file beside the config), PostgreSQL by URL. Everything the engine needs
is read in batches (one query per batch of records, never one per record), and every batch's
state is written in one transaction, so a run killed at any instant leaves consistent state.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql

from accord.connectors.base import redact_url
from accord.connectors.sql.bulk import Prepared, execute_many, insert_columns, padded
from accord.connectors.sql.dialects import dialect_hint
from accord.errors import BusyError, LeaseLostError, StateError
from accord.model import Coupling, Direction, Job, JobError, JobStatus, JobType, Side, SyncResult
from accord.model.job import Counters
from accord.secrets import redact
from accord.state import migrate, sqlite
from accord.state.shield import deferred_interrupts
from accord.state.tables import (
    ATTENTION,
    KEY,
    CompactKey,
    couplings,
    job_errors,
    jobs,
    key_series,
    leases,
    pending_creations,
    schedule,
    watermarks,
)

CHUNK = 500
COUNTER_NAMES = tuple(Counters().as_dict())


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class SyncState:
    """The part of a coupling that says whether its record needs a pass at all."""

    version: datetime | None
    synced_at: datetime | None
    quiet: bool  # coupled, not pending, not skipped, not failed or deferred in this direction


@dataclass(frozen=True, slots=True)
class Watermark:
    """Where the next incremental read of a side may start.

    ``value``: the newest version the last pass read (never later than the time it started).
    ``read_at``: when that pass started reading, by the engine host's clock; None in stores
    written before it was recorded (the read window then reaches ``overlap_seconds`` below
    ``value``, as it always did). See :func:`accord.engine.reading.read_bound`.
    """

    value: datetime
    read_at: datetime | None = None
    delta_token: str | None = None
    """Where the next read of the changes starts, for a source that tracks changes."""


@dataclass(frozen=True, slots=True)
class HeldLease:
    """Leases one holder took: the mappings, and how long each renewal keeps them."""

    mappings: tuple[str, ...]
    ttl: timedelta


@dataclass(frozen=True, slots=True)
class CouplingStats:
    total: int
    failed: int
    skipped: int
    pending: int


class StateStore:
    """Durable engine state behind one SQLAlchemy engine."""

    def __init__(self, url: str, *, dry_run: bool = False) -> None:
        self.url = url
        self.dry_run = dry_run
        self.holders: dict[str, HeldLease] = {}  # leases this store holds, by holder
        self.started_jobs: list[str] = []  # jobs this store started (marked if interrupted)
        self.statements = _Statements()
        connect_args: dict[str, Any] = {}
        dry_url = url
        snapshot: Path | None = None  # a SQLite store a dry run works on a copy of
        if url.startswith("sqlite"):
            connect_args["timeout"] = sqlite.BUSY_TIMEOUT
            database = sa.engine.make_url(url).database
            if database and database != ":memory:":
                if dry_run:
                    # A dry run plans in memory: on a copy of the store taken in one read
                    # (or on nothing, for a store not created yet, leaving no file). It so
                    # never needs the file's write lock, which a real run beside it holds.
                    dry_url = "sqlite://"
                    snapshot = Path(database) if Path(database).exists() else None
                else:
                    try:
                        Path(database).parent.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise StateError(
                            f"cannot create the folder of state store {redact_url(url)}: "
                            f"{exc.strerror or exc}"
                        ) from None
        try:
            self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError, ValueError) as exc:
            hint = dialect_hint(url)
            raise StateError(f"cannot use state store URL {redact_url(url)}: {exc}{hint}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", sqlite.configure)
        self._dry: sa.Connection | None = None
        try:
            if dry_run:
                # Even the schema of a new store is created inside the never-committed run.
                self._dry = _dry_engine(dry_url, connect_args).connect()
                if snapshot is not None:
                    sqlite.copy_into(snapshot, self._dry.connection.dbapi_connection)
                self._dry.begin()
                migrate.upgrade_on(self._dry)
            else:
                migrate.upgrade(self.engine)
        except sa.exc.DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StateError(f"cannot open state store {redact_url(url)}: {reason}") from None

    def close(self) -> None:
        if self._dry is not None:
            self._dry.rollback()  # a dry run leaves nothing behind
            self._dry.close()
            self._dry.engine.dispose()
            self._dry = None
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        if self._dry is not None:
            yield self._dry
            return
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One transaction; in a dry run a savepoint inside the run's never-committed one.

        Ctrl-C waits for the transaction to end (see :mod:`accord.state.shield`): an
        interrupted transaction must not keep the store locked for what the run does next.
        """
        with deferred_interrupts():
            if self._dry is not None:
                with self._dry.begin_nested():
                    yield self._dry
                return
            with self.engine.begin() as conn:
                yield conn

    @contextmanager
    def transaction(self) -> Iterator[StateTransaction]:
        """All writes of one batch, committed together."""
        with self._write() as conn:
            yield StateTransaction(conn, self.holders, self.statements)

    # -- couplings ------------------------------------------------------------------------
    def couplings_by(self, mapping: str, side: Side, keys: Iterable[str]) -> dict[str, Coupling]:
        """Couplings of ``mapping`` whose key on ``side`` is one of ``keys``, by that key."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Coupling] = {}
        with self._read() as conn:
            for size, params in _key_chunks(conn, mapping, wanted):
                query = self.statements.get(conn, ("couplings_by", side), size)
                for values in query.all(conn, params):
                    coupling = _coupling_of(values)
                    found[
                        coupling.local_key if side is Side.LOCAL else coupling.integration_key
                    ] = coupling
        return found

    def couplings_named(self, mapping: str, keys: Iterable[str]) -> dict[str, Coupling]:
        """Couplings named by either side's key (a local key first), by the name used."""
        wanted = list(dict.fromkeys(keys))
        by_local = self.couplings_by(mapping, Side.LOCAL, wanted)
        by_integration = self.couplings_by(mapping, Side.INTEGRATION, wanted)
        out = {}
        for key in wanted:
            c = by_local.get(key) or by_integration.get(key)
            if c is not None:
                out[key] = c
        return out

    def sync_states(
        self, mapping: str, side: Side, direction: Direction, keys: Iterable[str]
    ) -> dict[str, SyncState]:
        """A light read of coupling state by one side's keys (no Coupling objects)."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, SyncState] = {}
        quiet_results = ("", SyncResult.SUCCESS.value)
        # Couplings written by one batch share their state: one (immutable) object each.
        shared: dict[tuple[Any, ...], SyncState] = {}
        with self._read() as conn:
            for size, params in _key_chunks(conn, mapping, wanted):
                query = self.statements.get(conn, ("sync_states", side, direction), size)
                for row in query.all(conn, params):
                    rest = row[1:]
                    state = shared.get(rest)
                    if state is None:
                        v, synced, pending, skipped, res = rest
                        quiet = not pending and not skipped and res in quiet_results
                        state = shared[rest] = SyncState(v, synced, quiet)
                    out[row[0]] = state
        return out

    def get_coupling(
        self, mapping: str, *, local_key: str | None = None, integration_key: str | None = None
    ) -> Coupling | None:
        side, key = (
            (Side.LOCAL, local_key)
            if local_key is not None
            else (Side.INTEGRATION, integration_key)
        )
        assert key is not None
        return self.couplings_by(mapping, side, [key]).get(key)

    def attention(self, mapping: str) -> list[Coupling]:
        """Pending, failed, deferred and skipped couplings of a mapping."""
        query = sa.select(couplings).where(couplings.c.id.in_(_attention_ids(mapping)))
        with self._read() as conn:
            return [_coupling(row) for row in conn.execute(query)]

    def retry_keys(self, mapping: str, direction: Direction) -> list[str]:
        """Source-side keys to process again: pending creations and failed or deferred syncs."""
        out = []
        for c in self.attention(mapping):
            if c.pending or c.needs_retry(direction):
                out.append(c.key_on_source(direction))
        return out

    def list_couplings(
        self, mapping: str, *, limit: int = 50, offset: int = 0, attention_only: bool = False
    ) -> list[Coupling]:
        query = sa.select(couplings).where(couplings.c.mapping == mapping)
        if attention_only:
            query = query.where(couplings.c.id.in_(_attention_ids(mapping)))
        query = query.order_by(couplings.c.local_key).limit(limit).offset(offset)
        with self._read() as conn:
            return [_coupling(row) for row in conn.execute(query)]

    def iter_couplings(self, mapping: str, batch_size: int = 1000) -> Iterator[list[Coupling]]:
        """All couplings of a mapping, in batches ordered by local key."""
        last = None
        while True:
            query = sa.select(couplings).where(couplings.c.mapping == mapping)
            if last is not None:
                query = query.where(couplings.c.local_key > last)
            query = query.order_by(couplings.c.local_key).limit(batch_size)
            with self._read() as conn:
                batch = [_coupling(row) for row in conn.execute(query)]
            if not batch:
                return
            yield batch
            last = batch[-1].local_key

    def coupling_stats(self, mapping: str) -> CouplingStats:
        with self._read() as conn:
            total = conn.execute(
                sa.select(sa.func.count()).where(couplings.c.mapping == mapping)
            ).scalar_one()
        attention = self.attention(mapping)
        return CouplingStats(
            total=int(total),
            failed=sum(
                1
                for c in attention
                if not c.skipped and SyncResult.FAILURE in (c.result_to, c.result_from)
            ),
            skipped=sum(1 for c in attention if c.skipped),
            pending=sum(1 for c in attention if c.pending),
        )

    # -- jobs -----------------------------------------------------------------------------
    def start_job(self, job: Job, run_id: str) -> None:
        self.started_jobs.append(job.id)
        row = {
            "id": job.id,
            "run_id": run_id,
            "mapping": job.mapping,
            "type": job.type.value,
            "direction": job.direction.value if job.direction else None,
            "status": job.status.value,
            "started_at": job.started_at,
            "heartbeat_at": utcnow(),
            "host": socket.gethostname(),
            "pid": current_pid(),
            "message": redact(job.message),
            **job.counters.as_dict(),
        }
        with self._write() as conn:
            conn.execute(jobs.insert(), row)

    def jobs(self, *, limit: int = 20, mapping: str | None = None) -> list[Job]:
        query = sa.select(jobs)
        if mapping:
            query = query.where(jobs.c.mapping == mapping)
        query = query.order_by(jobs.c.started_at.desc(), jobs.c.id).limit(limit)
        with self._read() as conn:
            return [_job(row) for row in conn.execute(query)]

    def job(self, job_id: str) -> Job | None:
        """A job with its errors; ``job_id`` may be a unique prefix, as with git hashes."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(jobs).where(jobs.c.id.startswith(job_id, autoescape=True)).limit(2)
            ).all()
            if len(rows) != 1:
                if len(rows) > 1:
                    raise StateError(f"job id prefix '{job_id}' is ambiguous")
                return None
            job = _job(rows[0])
            errors = conn.execute(
                sa.select(job_errors).where(job_errors.c.job_id == job.id).order_by(job_errors.c.id)
            )
            job.errors = [
                JobError(r.job_id, r.source_key, r.destination_key, r.message, r.at) for r in errors
            ]
        return job

    def errors_of(self, mapping: str, keys: Sequence[str], limit: int = 50) -> list[JobError]:
        """The job errors of ``mapping``'s jobs naming one of ``keys`` (as source or
        destination), newest first: a record's history. Scans the errors of the mapping's
        jobs (the errors table has no index by key)."""
        if not keys:
            return []
        query = (
            sa.select(job_errors)
            .join(jobs, jobs.c.id == job_errors.c.job_id)
            .where(
                jobs.c.mapping == mapping,
                sa.or_(
                    job_errors.c.source_key.in_(list(keys)),
                    job_errors.c.destination_key.in_(list(keys)),
                ),
            )
            .order_by(job_errors.c.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            return [
                JobError(r.job_id, r.source_key, r.destination_key, r.message, r.at)
                for r in conn.execute(query)
            ]

    def jobs_by_id(self, job_ids: Iterable[str]) -> dict[str, Job]:
        """These jobs (without their errors), by id."""
        ids = sorted(set(job_ids))
        if not ids:
            return {}
        out: dict[str, Job] = {}
        with self._read() as conn:
            for start in range(0, len(ids), CHUNK):
                chunk = ids[start : start + CHUNK]
                for row in conn.execute(sa.select(jobs).where(jobs.c.id.in_(chunk))):
                    out[row.id] = _job(row)
        return out

    def interrupt_stale_jobs(self, lease: timedelta = timedelta(minutes=10)) -> int:
        """Mark jobs whose process died as interrupted; returns how many."""
        host = socket.gethostname()
        with self._write() as conn:
            running = conn.execute(
                sa.select(jobs.c.id, jobs.c.host, jobs.c.pid, jobs.c.heartbeat_at).where(
                    jobs.c.status == JobStatus.RUNNING.value
                )
            ).all()
            stale = [
                r.id
                for r in running
                if (r.host == host and r.pid is not None and not _alive(r.pid))
                or (r.heartbeat_at is not None and r.heartbeat_at < utcnow() - lease)
            ]
            for start in range(0, len(stale), CHUNK):
                conn.execute(
                    jobs.update()
                    .where(jobs.c.id.in_(stale[start : start + CHUNK]))
                    .values(
                        status=JobStatus.INTERRUPTED.value,
                        finished_at=jobs.c.heartbeat_at,
                        message="interrupted: the process running this job stopped",
                    )
                )
        return len(stale)

    def interrupt_own_jobs(self, message: str) -> int:
        """Mark the jobs this store started and that are still running as interrupted.

        What a run stopped by Ctrl-C or a lost lease does on its way out, so that its jobs
        say why they ended instead of staying ``running``; returns how many were marked.
        """
        marked = 0
        with self._write() as conn:
            for start in range(0, len(self.started_jobs), CHUNK):
                result = conn.execute(
                    jobs.update()
                    .where(
                        jobs.c.id.in_(self.started_jobs[start : start + CHUNK]),
                        jobs.c.status == JobStatus.RUNNING.value,
                    )
                    .values(
                        status=JobStatus.INTERRUPTED.value,
                        finished_at=utcnow(),
                        heartbeat_at=utcnow(),
                        message=message,
                    )
                )
                marked += int(result.rowcount)
        return marked

    # -- watermarks -----------------------------------------------------------------------
    def watermark(self, mapping: str, side: Side) -> datetime | None:
        """The newest version the last pass of ``mapping`` read on ``side`` (its source)."""
        found = self.watermark_state(mapping, side)
        return found.value if found is not None else None

    def watermark_state(self, mapping: str, side: Side) -> Watermark | None:
        """The watermark with the time the pass that set it started reading (see Watermark)."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(watermarks.c.value, watermarks.c.read_at, watermarks.c.delta_token).where(
                    watermarks.c.mapping == mapping, watermarks.c.side == side.value
                )
            ).one_or_none()
        return Watermark(row.value, row.read_at, row.delta_token) if row is not None else None

    # -- failed and skipped couplings (accord errors, retry, restore, delete) -------------
    def problem_couplings(
        self,
        mapping: str,
        *,
        failed: bool = True,
        skipped: bool = True,
        limit: int | None = None,
    ) -> list[Coupling]:
        """Couplings of ``mapping`` that failed (and are not skipped) and/or are skipped.

        Ordered by local key. Failed means the last pass in either direction failed.
        """
        failure = SyncResult.FAILURE.value
        is_failed = sa.and_(
            sa.not_(couplings.c.skipped),
            sa.or_(couplings.c.result_to == failure, couplings.c.result_from == failure),
        )
        wanted = [c for c, on in ((is_failed, failed), (couplings.c.skipped, skipped)) if on]
        if not wanted:
            return []
        query = (
            sa.select(couplings)
            .where(couplings.c.mapping == mapping, ATTENTION, sa.or_(*wanted))
            .order_by(couplings.c.local_key)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_coupling(row) for row in conn.execute(query)]

    def job_started(self, job_ids: Iterable[str]) -> dict[str, datetime]:
        """When each of these jobs started, by id (unknown ids are absent)."""
        wanted = list(dict.fromkeys(job_ids))
        out: dict[str, datetime] = {}
        with self._read() as conn:
            for start in range(0, len(wanted), CHUNK):
                query = sa.select(jobs.c.id, jobs.c.started_at).where(
                    jobs.c.id.in_(wanted[start : start + CHUNK])
                )
                out.update({row.id: row.started_at for row in conn.execute(query)})
        return out

    # -- leases: one run at a time per mapping --------------------------------------------
    def acquire_leases(self, mappings: Sequence[str], holder: str, ttl: timedelta) -> None:
        """Take the lease of every mapping, or of none: BusyError names the holder.

        A lease is free when nobody holds it, when it expired, or when its holder was a
        process of this host that is gone. While held, every transaction renews it.
        """
        now = utcnow()
        mine = {
            "holder": holder,
            "host": socket.gethostname(),
            "pid": current_pid(),
            "acquired_at": now,
            "expires_at": now + ttl,
        }
        names = tuple(sorted(set(mappings)))  # one order, so two runs never wait in a cycle
        with self._write() as conn:  # all or nothing: BusyError rolls back what was taken
            for name in names:
                if not self._take(conn, name, mine, now):
                    row = conn.execute(sa.select(leases).where(leases.c.mapping == name)).one()
                    raise BusyError(busy_message(row))
        self.holders[holder] = HeldLease(names, ttl)

    def prove_leases(self) -> None:
        """Renew every lease this store holds, or raise :class:`LeaseLostError`.

        Called before each write to a system: a run that was paused past its lease (a
        stopped process, a suspended VM) and was taken over finds out here, before it
        writes, and stops.
        """
        if self.holders:
            with self._write() as conn:
                StateTransaction(conn, self.holders, self.statements).prove_leases()

    def _take(self, conn: sa.Connection, name: str, mine: dict[str, Any], now: datetime) -> bool:
        row = conn.execute(sa.select(leases).where(leases.c.mapping == name)).first()
        if row is None:
            inserted = conn.execute(_insert_ignoring_conflict(conn, {"mapping": name, **mine}))
            if inserted.rowcount == 1:
                return True
            row = conn.execute(sa.select(leases).where(leases.c.mapping == name)).one()
        if row.holder != mine["holder"] and _held(row, now):
            return False
        # Compare-and-set on the holder *and* its expiry: a holder that renewed its lease
        # since it was read (it was only slow) keeps it; one taken over in between too.
        taken = conn.execute(
            leases.update()
            .where(
                leases.c.mapping == name,
                leases.c.holder == row.holder,
                leases.c.expires_at == row.expires_at,
            )
            .values(**mine)
        )
        return taken.rowcount == 1

    def release_leases(self, holder: str) -> None:
        with self._write() as conn:
            conn.execute(leases.delete().where(leases.c.holder == holder))
        self.holders.pop(holder, None)

    def busy_leases(self, mappings: Sequence[str]) -> list[sa.Row[Any]]:
        """Leases of these mappings another run holds now, read from the store itself.

        Even in a dry run (which works on a copy of a SQLite store, or inside a transaction
        of its own): it is the live store that says whether a run is at work right now.
        """
        if self._dry is not None and self.engine.dialect.name == "sqlite":
            database = self.engine.url.database
            if not database or not Path(database).exists():
                return []  # no store yet: nobody holds anything
        now = utcnow()
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(sa.select(leases).where(leases.c.mapping.in_(mappings)))
                return [row for row in rows if row.holder not in self.holders and _held(row, now)]
        except sa.exc.DBAPIError:
            return []  # no lease table yet (a store being created): nobody holds anything

    def held_leases(self) -> list[sa.Row[Any]]:
        """Leases currently recorded (held or expired), by mapping."""
        with self._read() as conn:
            return list(conn.execute(sa.select(leases).order_by(leases.c.mapping)))

    # -- accord run's schedule -------------------------------------------------------------
    def schedule_rows(self) -> dict[str, sa.Row[Any]]:
        """The stored schedule state of every mapping accord run has seen, by mapping."""
        with self._read() as conn:
            return {row.mapping: row for row in conn.execute(sa.select(schedule))}

    def save_schedule(self, mapping: str, values: dict[str, Any]) -> None:
        """Insert or update one mapping's schedule row (a plain write: no lease needed)."""
        with self._write() as conn:
            updated = conn.execute(
                schedule.update().where(schedule.c.mapping == mapping).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(schedule.insert().values(mapping=mapping, **values))


class StateTransaction:
    """Writes of one batch; the enclosing :meth:`StateStore.transaction` commits them."""

    def __init__(
        self,
        conn: sa.Connection,
        holders: dict[str, HeldLease] | None = None,
        statements: _Statements | None = None,
    ) -> None:
        self.conn = conn
        self.holders = holders or {}
        self.statements = statements or _Statements()

    def insert_couplings(self, items: Sequence[Coupling]) -> None:
        if items:
            # By column, straight from the objects: no dict per coupling.
            insert_columns(self.conn, couplings, _columns(items))
            self._list_pending(items)

    def _list_pending(self, items: Sequence[Coupling]) -> None:
        """Record the pending ones among ``items`` in ``accord_pending`` (see tables.py)."""
        waiting = [c for c in items if c.pending]
        if waiting:
            insert_columns(
                self.conn,
                pending_creations,
                {
                    "mapping": [c.mapping for c in waiting],
                    "local_key": [c.local_key for c in waiting],
                },
            )

    def _unlist_pending(self, mapping: str, local_keys: Sequence[str]) -> None:
        for size, params in _key_chunks(self.conn, mapping, local_keys):
            query = self.statements.get(self.conn, ("unlist",), size)
            query.execute(self.conn, params)

    def update_couplings(self, items: Sequence[Coupling]) -> None:
        """Save couplings, found by (mapping, local key)."""
        if not items:
            return
        rows = []
        for c in items:
            row = {f"v_{k}": v for k, v in _row(c).items()}
            row["m_"] = c.mapping
            row["k_"] = c.local_key
            rows.append(row)
        names = [k for k in _row(items[0]) if k not in ("mapping", "local_key")]
        stmt = (
            couplings.update()
            .where(couplings.c.mapping == sa.bindparam("m_"))
            .where(couplings.c.local_key == sa.bindparam("k_"))
            .values({n: sa.bindparam(f"v_{n}") for n in names})
        )
        execute_many(self.conn, stmt, rows)
        # ``pending`` may have changed either way: the side table follows (by mapping).
        by_mapping: dict[str, list[Coupling]] = {}
        for c in items:
            by_mapping.setdefault(c.mapping, []).append(c)
        for name, group in by_mapping.items():
            self._unlist_pending(name, [c.local_key for c in group])
        self._list_pending(items)

    def confirm_created(
        self, mapping: str, version_side: Side, local_keys: Sequence[str], version: object
    ) -> None:
        """Pending couplings whose records now exist: clear ``pending``, set the new version.

        One statement per chunk instead of one parameter set per coupling: every other field
        was written in final form before the record was created. The update changes no
        indexed column (on PostgreSQL it can be a HOT update); the creations' entries in
        ``accord_pending`` go in the same transaction.
        """
        for size, params in _key_chunks(self.conn, mapping, local_keys):
            query = self.statements.get(self.conn, ("confirm", version_side), size)
            query.execute(self.conn, {**params, "b_version": version})
        self._unlist_pending(mapping, local_keys)

    def delete_couplings(self, mapping: str, local_keys: Sequence[str]) -> None:
        for size, params in _key_chunks(self.conn, mapping, local_keys):
            query = self.statements.get(self.conn, ("delete",), size)
            query.execute(self.conn, params)
        self._unlist_pending(mapping, local_keys)

    def delete_all_couplings(self, mapping: str) -> int:
        self.conn.execute(pending_creations.delete().where(pending_creations.c.mapping == mapping))
        result = self.conn.execute(couplings.delete().where(couplings.c.mapping == mapping))
        return int(result.rowcount)

    def prove_leases(self) -> None:
        """Renew this run's leases in this transaction, or raise :class:`LeaseLostError`.

        ``UPDATE … WHERE mapping = ? AND holder = ?`` changes no row once another run took
        the lease over: the transaction is then rolled back (the exception leaves it), so
        nothing it holds — pending couplings, a batch's results — is committed by a run that
        no longer holds the mapping. An expired lease nobody took is still this run's.
        """
        now = utcnow()
        for holder, held in self.holders.items():
            renewed = self.conn.execute(
                leases.update()
                .where(leases.c.holder == holder, leases.c.mapping.in_(held.mappings))
                .values(expires_at=now + held.ttl)
            )
            if renewed.rowcount != len(held.mappings):
                raise _lease_lost(self.conn, holder, held)

    def save_job(self, job: Job, *, prove_leases: bool = True) -> None:
        """Save a job's status and counters; proves the run's leases in the same transaction.

        ``prove_leases=False`` only for the last save of a run that lost its lease.
        """
        if prove_leases:  # a run still saving its work is alive: it renews its leases
            self.prove_leases()
        self.conn.execute(
            jobs.update()
            .where(jobs.c.id == job.id)
            .values(
                status=job.status.value,
                finished_at=job.finished_at,
                heartbeat_at=utcnow(),
                message=redact(job.message),
                **job.counters.as_dict(),
            )
        )

    def add_errors(self, errors: Sequence[JobError]) -> None:
        if errors:
            now = utcnow()
            self.conn.execute(
                job_errors.insert(),
                [
                    {
                        "job_id": e.job_id,
                        "source_key": e.source_key,
                        "destination_key": e.destination_key,
                        "message": redact(e.message),
                        "at": e.at or now,
                    }
                    for e in errors
                ],
            )

    def set_watermark(
        self,
        mapping: str,
        side: Side,
        value: datetime,
        read_at: datetime | None = None,
        delta_token: str | None = None,
    ) -> None:
        """Record the newest version read, when the pass that read it started reading, and
        the token its source's changes are read from next (None: read by modified-on)."""
        where = (watermarks.c.mapping == mapping) & (watermarks.c.side == side.value)
        values = {"value": value, "read_at": read_at, "delta_token": delta_token}
        updated = self.conn.execute(watermarks.update().where(where).values(**values))
        if updated.rowcount == 0:
            self.conn.execute(
                watermarks.insert().values(mapping=mapping, side=side.value, **values)
            )

    def clear_watermarks(self, mapping: str) -> None:
        self.conn.execute(watermarks.delete().where(watermarks.c.mapping == mapping))

    def allocate_numbers(self, table_ref: str, count: int, floor: int) -> int:
        """Reserve ``count`` numbers of a key series above ``floor``; returns the first."""
        query = sa.select(key_series.c.last_number).where(key_series.c.table_ref == table_ref)
        if self.conn.dialect.name != "sqlite":
            query = query.with_for_update()
        last = self.conn.execute(query).scalar_one_or_none()
        first = max(last or 0, floor) + 1
        if last is None:
            self.conn.execute(
                key_series.insert().values(table_ref=table_ref, last_number=first + count - 1)
            )
        else:
            self.conn.execute(
                key_series.update()
                .where(key_series.c.table_ref == table_ref)
                .values(last_number=first + count - 1)
            )
        return first

    def clear_skipped(self, mapping: str, local_keys: Sequence[str]) -> int:
        """Clear ``skipped`` and ``repeats`` (accord retry); returns how many changed."""
        changed = 0
        for start in range(0, len(local_keys), CHUNK):
            result = self.conn.execute(
                couplings.update()
                .where(
                    couplings.c.mapping == mapping,
                    couplings.c.local_key.in_(local_keys[start : start + CHUNK]),
                    sa.or_(couplings.c.skipped, couplings.c.repeats != 0),
                )
                .values(skipped=False, repeats=0)
            )
            changed += int(result.rowcount)
        return changed


def _held(row: sa.Row[Any], now: datetime) -> bool:
    """Whether a lease row is held: not expired, and not left by a dead process of this host."""
    if row.expires_at < now:
        return False
    return not (row.host == socket.gethostname() and not _alive(row.pid))


def busy_message(row: sa.Row[Any]) -> str:
    return (
        f"mapping {row.mapping} is being worked on by another run (process {row.pid} "
        f"on {row.host}, since {row.acquired_at:%Y-%m-%d %H:%M:%S} UTC); "
        f"try again later, or wait for it (sync --wait SECONDS)"
    )


def _lease_lost(conn: sa.Connection, holder: str, held: HeldLease) -> LeaseLostError:
    rows = conn.execute(sa.select(leases).where(leases.c.mapping.in_(held.mappings))).all()
    now_held = {r.mapping: r for r in rows}
    lost = tuple(m for m in held.mappings if getattr(now_held.get(m), "holder", None) != holder)
    by = [now_held[m] for m in lost if m in now_held]
    who = f" (process {by[0].pid} on {by[0].host})" if by else ""
    named = f"mapping {lost[0]}" if len(lost) == 1 else f"mappings {', '.join(lost)}"
    return LeaseLostError(
        f"lease lost: this run's lease of {named} expired while the run was stalled, and "
        f"another run{who} took it over; this run stopped before writing anything more "
        "(the run holding the lease does the work)",
        lost,
    )


def current_pid() -> int:
    """The pid recorded on jobs (a seam for tests that simulate a dead process)."""
    return os.getpid()


def _dry_engine(url: str, connect_args: dict[str, Any]) -> sa.Engine:
    """An engine for a dry run: one outer transaction, rolled back, with savepoints inside.

    pysqlite does not emit BEGIN itself in a way savepoints survive, so SQLite connections of
    this engine run in autocommit mode and SQLAlchemy's ``begin`` emits BEGIN explicitly.
    """
    engine = sa.create_engine(url, connect_args=connect_args)
    if engine.dialect.name == "sqlite":

        def no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        def explicit_begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN")

        event.listen(engine, "connect", no_driver_transactions)
        event.listen(engine, "begin", explicit_begin)
    return engine


def _insert_ignoring_conflict(conn: sa.Connection, row: dict[str, Any]) -> sa.Executable:
    """INSERT that does nothing when the key exists (another run inserted it first)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(leases).values(**row).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(leases).values(**row).on_conflict_do_nothing()
    return leases.insert().prefix_with("IGNORE").values(**row)  # MySQL / MariaDB


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Statements of the per-batch hot paths: one parameter per key (``padded`` keeps their
# sizes few), compiled once per dialect and size, run on the DBAPI cursor (see Prepared).
_KEY_COLUMNS = {Side.LOCAL: couplings.c.local_key, Side.INTEGRATION: couplings.c.integration_key}
_VERSION_COLUMNS = {
    Side.LOCAL: couplings.c.local_version,
    Side.INTEGRATION: couplings.c.integration_version,
}
_RESULT_COLUMNS = {
    Direction.TO_INTEGRATION: couplings.c.result_to,
    Direction.FROM_INTEGRATION: couplings.c.result_from,
}


def _attention_ids(mapping: str) -> sa.CompoundSelect[Any]:
    """Ids of the couplings of ``mapping`` needing attention: failed, deferred or skipped
    (the partial index) and pending creations (``accord_pending``), each found by index."""
    flagged = sa.select(couplings.c.id).where(couplings.c.mapping == mapping, ATTENTION)
    # A key list, not a join: the planner then searches the couplings by key for each
    # pending entry rather than scanning the mapping's couplings for entries.
    waiting = sa.select(couplings.c.id).where(
        couplings.c.mapping == mapping,
        couplings.c.local_key.in_(
            sa.select(pending_creations.c.local_key).where(pending_creations.c.mapping == mapping)
        ),
    )
    return sa.union(flagged, waiting)


def _key_params(mapping: str, keys: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(keys)}
    params["b_mapping"] = mapping
    return params


ARRAY_CHUNK = 20_000
"""Keys per statement where they go as one array parameter (PostgreSQL)."""


def _key_chunks(
    conn: sa.Connection, mapping: str, keys: Sequence[str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The parameters of a statement by keys, chunk by chunk, with the statement's size.

    PostgreSQL takes a whole batch's keys as one array (``= ANY(:keys)``, size 0): one
    statement, one round trip per batch. Elsewhere one parameter per key, in chunks of
    :data:`CHUNK` padded to a few sizes (see :func:`padded`).
    """
    if conn.dialect.name == "postgresql":
        for start in range(0, len(keys), ARRAY_CHUNK):
            yield 0, {"b_mapping": mapping, "b_keys": list(keys[start : start + ARRAY_CHUNK])}
        return
    for start in range(0, len(keys), CHUNK):
        chunk = padded(keys[start : start + CHUNK])
        yield len(chunk), _key_params(mapping, chunk)


class _Statements:
    """The hot statements of one store, prepared once for its connections' dialect.

    Held by the store, not by a module-level cache: a prepared statement keeps its dialect
    alive, so a cache keyed by dialect would keep every closed store's engine for good.
    """

    def __init__(self) -> None:
        self._prepared: dict[tuple[Any, ...], Prepared] = {}

    def get(self, conn: sa.Connection, what: tuple[Any, ...], size: int) -> Prepared:
        found = self._prepared.get((*what, size))
        if found is None:
            found = self._prepared[(*what, size)] = Prepared(_statement(what, size), conn.dialect)
        return found


def _statement(what: tuple[Any, ...], size: int) -> Any:
    mapping_is = couplings.c.mapping == sa.bindparam("b_mapping")
    # Typed as the key columns: on SQLite a UUID key goes as the bytes it is stored as.
    keys: list[sa.BindParameter[str]] = [
        sa.bindparam(f"k{i}", type_=CompactKey()) for i in range(size)
    ]

    def among(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        if size == 0:  # one array of keys (see _key_chunks)
            return column == sa.any_(sa.bindparam("b_keys", type_=postgresql.ARRAY(KEY)))
        return column.in_(keys)

    kind = what[0]
    if kind == "couplings_by":
        return sa.select(couplings).where(mapping_is, among(_KEY_COLUMNS[what[1]]))
    if kind == "sync_states":
        side, direction = what[1], what[2]
        column = _KEY_COLUMNS[side]
        return sa.select(
            column,
            _VERSION_COLUMNS[side],
            couplings.c.synced_at,
            couplings.c.pending,
            couplings.c.skipped,
            _RESULT_COLUMNS[direction],
        ).where(mapping_is, among(column))
    where = (mapping_is, among(couplings.c.local_key))
    if kind == "confirm":
        version = _VERSION_COLUMNS[what[1]]
        return (
            couplings.update()
            .where(*where)
            .values({"pending": False, version: sa.bindparam("b_version", type_=version.type)})
        )
    if kind == "unlist":
        return pending_creations.delete().where(
            pending_creations.c.mapping == sa.bindparam("b_mapping"),
            among(pending_creations.c.local_key),
        )
    assert kind == "delete"
    return couplings.delete().where(*where)


_COLUMN_ATTRIBUTES = {
    "mapping": "mapping",
    "local_key": "local_key",
    "integration_key": "integration_key",
    "pending": "pending",
    "local_version": "local_version",
    "integration_version": "integration_version",
    "result_to": "result_to._value_",  # the enum's value without the descriptor call
    "job_to": "job_to",
    "error_to": "error_to",
    "result_from": "result_from._value_",
    "job_from": "job_from",
    "error_from": "error_from",
    "repeats": "repeats",
    "skipped": "skipped",
    "last_values": "last_values",
    "coupled_at": "coupled_at",
    "synced_at": "synced_at",
    "local_hash": "local_hash",
    "integration_hash": "integration_hash",
}
_PICK_COLUMNS = attrgetter(*_COLUMN_ATTRIBUTES.values())


def _columns(items: Sequence[Coupling]) -> dict[str, Sequence[Any]]:
    """What :func:`_row` gives, by column: rows picked and turned into columns in C."""
    return dict(zip(_COLUMN_ATTRIBUTES, zip(*map(_PICK_COLUMNS, items), strict=True), strict=True))


def _row(c: Coupling) -> dict[str, Any]:
    return {
        "mapping": c.mapping,
        "local_key": c.local_key,
        "integration_key": c.integration_key,
        "pending": c.pending,
        "local_version": c.local_version,
        "integration_version": c.integration_version,
        "result_to": c.result_to.value,
        "job_to": c.job_to,
        "error_to": c.error_to,
        "result_from": c.result_from.value,
        "job_from": c.job_from,
        "error_from": c.error_from,
        "repeats": c.repeats,
        "skipped": c.skipped,
        "last_values": c.last_values,
        "coupled_at": c.coupled_at,
        "synced_at": c.synced_at,
        "local_hash": c.local_hash,
        "integration_hash": c.integration_hash,
    }


_RESULTS = {r.value: r for r in SyncResult}


def _coupling_of(values: Sequence[Any]) -> Coupling:
    """A coupling from a row of ``select(couplings)`` as a processed tuple (table order)."""
    (
        id_,
        mapping,
        local_key,
        integration_key,
        pending,
        local_version,
        integration_version,
        result_to,
        job_to,
        error_to,
        result_from,
        job_from,
        error_from,
        repeats,
        skipped,
        last_values,
        coupled_at,
        synced_at,
        local_hash,
        integration_hash,
    ) = values
    return Coupling(
        mapping,
        local_key,
        integration_key,
        id_,
        bool(pending),
        local_version,
        integration_version,
        _RESULTS[result_to],
        job_to,
        error_to,
        _RESULTS[result_from],
        job_from,
        error_from,
        repeats,
        bool(skipped),
        last_values,
        coupled_at,
        synced_at,
        local_hash=local_hash,
        integration_hash=integration_hash,
    )


def _coupling(row: sa.Row[Any]) -> Coupling:
    return Coupling(
        mapping=row.mapping,
        local_key=row.local_key,
        integration_key=row.integration_key,
        id=row.id,
        pending=bool(row.pending),
        local_version=row.local_version,
        integration_version=row.integration_version,
        result_to=_RESULTS[row.result_to],
        job_to=row.job_to,
        error_to=row.error_to,
        result_from=_RESULTS[row.result_from],
        job_from=row.job_from,
        error_from=row.error_from,
        repeats=row.repeats,
        skipped=bool(row.skipped),
        last_values=row.last_values,
        coupled_at=row.coupled_at,
        synced_at=row.synced_at,
        local_hash=row.local_hash,
        integration_hash=row.integration_hash,
    )


def _job(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        mapping=row.mapping,
        type=JobType(row.type),
        direction=Direction(row.direction) if row.direction else None,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=JobStatus(row.status),
        counters=Counters(**{n: getattr(row, n) for n in COUNTER_NAMES}),
        message=row.message,
    )
