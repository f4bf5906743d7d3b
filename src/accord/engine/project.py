"""A project: one configuration, its systems and its state store — the Python API.

Everything the CLI does is one call on :class:`Project`::

    import accord
    with accord.Project.load("accord.toml") as project:
        run = project.sync(full=True)
        print(run.totals())
        job = project.job(run.jobs[0].id)
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime, timedelta
from functools import cached_property
from types import TracebackType

from accord.config import Config, dependency_order, load_config
from accord.config.locate import locate
from accord.connectors.base import Connector
from accord.connectors.registry import open_connector
from accord.connectors.retry import RetryingConnector
from accord.engine import repair
from accord.engine.browse import RecordHistory, RecordPage, browse_records, record_history
from accord.engine.company import combine_filters, company_scope
from accord.engine.conflicts import OpenConflict, open_conflicts, resolve_conflicts
from accord.engine.context import MappingContext, SideContext, compile_filter
from accord.engine.couple import couple_record, uncouple_records
from accord.engine.dryrun import ShadowConnector
from accord.engine.match import match_first as match_first_step
from accord.engine.match import match_records
from accord.engine.newstore import check_new_store
from accord.engine.plan import NoRecorder, Plan, Recorder
from accord.engine.progress import NoProgress, Progress
from accord.engine.repair import CouplingProblem, RepairResult
from accord.engine.results import CoupleResult, MappingOverview, MatchResult, RunResult
from accord.engine.review import ReviewLine, review
from accord.engine.sync import parse_since, run_sync
from accord.engine.validate import check_filter, check_mapping
from accord.engine.verify import VerifyResult, verify
from accord.engine.workspace import DEFAULT_BATCH_SIZE, ordered
from accord.errors import BusyError, ConfigError, LeaseLostError, StateError, UsageError
from accord.model import Coupling, Direction, Job, Side, TableMapping, TableSettings
from accord.state import StateStore
from accord.state.store import busy_message


class Project:
    """Opens connectors and the state store lazily; close it (or use ``with``) when done."""

    def __init__(self, config: Config, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.config = config
        self.batch_size = batch_size
        self._connectors: dict[str, Connector] = {}
        self._contexts: dict[str, MappingContext] = {}
        self.recorder: Recorder = NoRecorder()
        self.dry = False
        """Inside :meth:`dry_run`."""
        self.lease_ttl = timedelta(seconds=config.lease_seconds)
        """How long a lease lasts without a commit renewing it (``[state] lease_seconds``):
        how long a crashed or stalled run blocks others, and how long a run may go without a
        commit (one batch) before another run may take its mappings over."""
        self._leased: set[str] = set()
        """Told every record's outcome (see :mod:`accord.engine.plan`); a dry run collects them."""

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, **kwargs: int) -> Project:
        return cls(load_config(path), **kwargs)

    def __enter__(self) -> Project:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for connector in self._connectors.values():
            connector.close()
        self._connectors.clear()
        if "store" in self.__dict__:
            self.store.close()
            del self.__dict__["store"]

    @contextmanager
    def dry_run(self) -> Iterator[Plan]:
        """Within this block every action computes what it would do, and keeps nothing.

        The same engine code runs; its writes go to an in-memory overlay of each system and
        to a state store transaction that is rolled back (see :mod:`accord.engine.dryrun`).
        The plan collects every record's outcome.
        """
        if self.dry:
            raise UsageError("already in a dry run")
        saved = (self.__dict__.pop("store", None), self._connectors, self._contexts, self.recorder)
        plan = Plan()
        self._connectors, self._contexts, self.recorder = {}, {}, plan
        self.dry = True
        try:
            yield plan
        finally:
            for connector in self._connectors.values():
                connector.close()
            if "store" in self.__dict__:
                self.__dict__.pop("store").close()  # rolls the whole run back
            store, self._connectors, self._contexts, self.recorder = saved
            if store is not None:
                self.__dict__["store"] = store
            self.dry = False

    @contextmanager
    def leased(self, mappings: Sequence[str], wait: float = 0.0) -> Iterator[None]:
        """Hold the leases of these mappings: no other run works on them meanwhile.

        Re-entrant (an action that runs another keeps its leases); a dry run takes none, as
        it changes nothing. Waits up to ``wait`` seconds for a busy mapping, then raises
        :class:`BusyError`.
        """
        names = {self.config.mapping(m).name for m in mappings} - self._leased
        if self.dry and names:
            # A plan made while another run writes would describe a moving target: a dry run
            # waits for (or reports) a run at work, like a real one, but takes no lease.
            self._wait_for_free(sorted(names), wait)
        if self.dry or not names:
            yield
            return
        holder = str(uuid.uuid4())
        deadline = time.monotonic() + wait
        while True:
            try:
                self.store.acquire_leases(sorted(names), holder, self.lease_ttl)
                break
            except BusyError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))
        self._leased |= names
        try:
            # Every action starts here: jobs a killed run left "running" are marked interrupted.
            self.store.interrupt_stale_jobs()
            yield
        except (KeyboardInterrupt, LeaseLostError) as exc:
            # Ctrl-C or a lost lease: the run stops, and its jobs say why they ended.
            self._mark_interrupted(exc)
            raise
        finally:
            self._leased -= names
            self.store.release_leases(holder)

    def _wait_for_free(self, names: Sequence[str], wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            busy = self.store.busy_leases(names)
            if not busy:
                return
            if time.monotonic() >= deadline:
                raise BusyError(busy_message(busy[0]))
            time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))

    def _mark_interrupted(self, exc: BaseException) -> None:
        message = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else str(exc)
        with suppress(Exception):  # the store itself failed: the original error is the one
            self.store.interrupt_own_jobs(message)

    # -- resources ------------------------------------------------------------------------
    @cached_property
    def store(self) -> StateStore:
        return StateStore(self.config.state_url, dry_run=self.dry)

    @cached_property
    def mapping_names(self) -> dict[str, str]:
        return {m.name.lower(): m.name for m in self.config.mappings}

    def connector(self, system: str) -> Connector:
        """The system's connector, opened on first use.

        Every connector is wrapped in a :class:`RetryingConnector` (the system's ``retry``
        setting); a dry run lays its :class:`ShadowConnector` over that, so the reads a dry
        run makes are retried like a real run's, and its writes never reach the system.
        """
        if system not in self._connectors:
            sys = self.config.systems[system]
            tables = {
                ref.split(".", 1)[1]: settings
                for ref, settings in self.config.tables.items()
                if ref.split(".", 1)[0] == system
            }
            try:
                opened = open_connector(
                    sys.connector, system, url=sys.url, tables=tables, options=sys.options
                )
            except ConfigError as exc:
                if exc.source:
                    raise
                setting = exc.setting.split(".")
                where = locate(self.config.text, ("systems", system, *setting))
                raise self.config.error(exc.message, where) from None
            connector: Connector = RetryingConnector(opened, sys.retry)
            self._connectors[system] = ShadowConnector(connector) if self.dry else connector
        return self._connectors[system]

    def company_id(self, system: str) -> str | None:
        """Multi-company: the id of the company ``system`` is (``company_id = ...``, else the
        connector's own, as a Business Central system knows its company), or None."""
        configured = self.config.systems[system].company_id
        if configured is not None:
            return configured
        inner: object = self.connector(system)
        while inner is not None:
            own = getattr(inner, "company_id", None)  # a property: looked up on first use
            if isinstance(own, str):
                return own
            inner = getattr(inner, "inner", None)
        return None

    def context(self, mapping_name: str) -> MappingContext:
        """A mapping resolved against its systems' schemas (checked on first use)."""
        mapping = self.config.mapping(mapping_name)
        if mapping.name not in self._contexts:
            index = self.config.mappings.index(mapping)
            sides = []
            for side in (Side.LOCAL, Side.INTEGRATION):
                ref = mapping.table_on(side)
                connector = self.connector(ref.system)
                try:
                    schema = connector.describe(ref.table)
                except ConfigError as exc:
                    # At the table setting at fault (key =, modified =) when it is set,
                    # else at the mapping's line naming the table.
                    where: tuple[str | int, ...] = (
                        "mappings",
                        index,
                        "table" if side is Side.LOCAL else "integration_table",
                    )
                    if exc.setting and str(ref) in self.config.tables:
                        where = ("tables", str(ref), exc.setting)
                    raise self.config.error(
                        f"mapping {mapping.name}: {exc.message}", locate(self.config.text, where)
                    ) from None
                settings = self.config.table_settings(ref) or TableSettings()
                own_filter = mapping.filter_on(side)
                stamp: tuple[tuple[str, object], ...] = ()
                scope = None
                if settings.company_field is not None:
                    company = self.company_id(mapping.table_on(side.other).system)
                    scope = company_scope(self.config, mapping, side, settings, schema, company)
                if scope is not None:
                    check_filter(self.config, mapping, side, own_filter, schema)
                    own_filter, stamp = combine_filters(own_filter, scope.filter), scope.stamp
                sides.append(
                    SideContext(
                        side=side,
                        connector=connector,
                        table=ref.table,
                        table_ref=str(ref),
                        schema=schema,
                        filter=compile_filter(own_filter),
                        settings=settings,
                        stamp=stamp,
                        company=compile_filter(scope.filter) if scope is not None else None,
                    )
                )
            ctx = MappingContext(mapping, sides[0], sides[1])
            check_mapping(self.config, ctx)
            self._contexts[mapping.name] = ctx
        return self._contexts[mapping.name]

    def check(self) -> list[TableMapping]:
        """Validate every mapping against the real schemas; returns them in dependency order."""
        order = dependency_order(self.config)
        for mapping in order:
            self.context(mapping.name)
        return order

    def ordered(self, names: Sequence[str] | None = None) -> list[TableMapping]:
        """The named mappings (every one when none is named) in dependency order."""
        return ordered(self.config, names)

    # -- actions --------------------------------------------------------------------------
    def sync(
        self,
        mappings: Sequence[str] | None = None,
        *,
        full: bool = False,
        records: Sequence[str] | None = None,
        direction: Direction | None = None,
        progress: Progress | None = None,
        wait: float = 0.0,
        match_first: bool = True,
        since: datetime | date | str | None = None,
        i_know: bool = False,
        run_id: str | None = None,
    ) -> RunResult:
        """Synchronize modified records (or everything with ``full``, or only ``records``).

        A full synchronization follows :meth:`review`: where both sides hold uncoupled records
        and the mapping declares match criteria, it couples the matching ones first (unless
        ``match_first`` is false), then creates and couples the rest.

        Another run working on one of these mappings makes this one wait up to ``wait``
        seconds, then raise :class:`BusyError`.

        ``since`` (a datetime, a date or ISO 8601 text; UTC unless it says otherwise): also
        read every source record modified at or after it, whatever the watermarks say, and
        count a coupled record as changed when its version differs from the one stored,
        older too. For edits the watermark missed (a backdated import, another writer's
        clock behind), at the cost of reading that window, not every record.

        A run that would create records for a mapping the state store has no history of,
        while the two systems hold copies of each other's records, raises
        :class:`NewStoreError` (the store looks new or lost: see :mod:`accord.engine.newstore`)
        unless ``i_know`` confirms it.
        """
        if direction is Direction.BIDIRECTIONAL:
            raise UsageError(
                "a direction for selected records is to-integration or from-integration"
            )
        if records is not None:
            if not mappings or len(mappings) != 1:
                raise UsageError("synchronizing selected records needs exactly one mapping")
            mapping = self.config.mapping(mappings[0])
            if direction is None:
                if mapping.direction is Direction.BIDIRECTIONAL:
                    raise UsageError(
                        f"mapping {mapping.name} is bidirectional: say which way with "
                        "--direction to-integration|from-integration"
                    )
                direction = mapping.direction
            if full:
                raise UsageError("--full and --records cannot be combined")
        at = None
        if since is not None:
            if full or records is not None:
                raise UsageError(
                    "--since reads by date: it cannot be combined with --full or --records"
                )
            at = parse_since(since)
        self.check()  # nothing runs on an invalid configuration, whichever mappings are asked
        order = self.ordered(mappings)
        with self.leased([m.name for m in order], wait):
            if records is None and not i_know:
                creating = [m for m in order if full or not m.sync_only_coupled]
                check_new_store(self, creating, match_first=full and match_first)
            return run_sync(
                self,
                order,
                full=full,
                records=records,
                direction=direction,
                progress=progress or NoProgress(),
                prepare=match_first_step if full and match_first else None,
                since=at,
                run_id=run_id,
            )

    def couple(
        self,
        mapping: str,
        local_key: str,
        integration_key: str | None = None,
        *,
        create_new: bool = False,
        sync: Direction | None = None,
        progress: Progress | None = None,
        force: bool = False,
    ) -> CoupleResult:
        """Couple one local record to an integration record (or to a new one).

        ``create_new`` refuses a record outside the mapping's filters, and one that looks
        like a renamed coupled record, unless ``force``.
        """
        self.check()
        with self.leased([mapping]):
            return couple_record(
                self,
                mapping,
                local_key,
                integration_key,
                create_new=create_new,
                sync=sync,
                progress=progress or NoProgress(),
                force=force,
            )

    def uncouple(
        self,
        mapping: str,
        keys: Sequence[str] | None = None,
        *,
        all: bool = False,
        failed: bool = False,
        skipped: bool = False,
    ) -> Job:
        """Remove couplings (named, all, or the failed and/or skipped ones); records stay."""
        self.check()
        self.context(mapping)
        with self.leased([mapping]):
            return uncouple_records(self, mapping, keys, all_=all, failed=failed, skipped=skipped)

    def errors(
        self, mapping: str | None = None, *, limit: int | None = 50
    ) -> list[CouplingProblem]:
        """Failed and skipped couplings (all mappings in dependency order when none is named)."""
        return repair.list_problems(self, self.ordered([mapping] if mapping else None), limit)

    def find_deleted(self, mapping: str) -> Job:
        """Mark couplings whose local or integration record was deleted as failed."""
        self.check()
        with self.leased([mapping]):
            return repair.find_deleted(self, mapping)

    def retry(
        self,
        mapping: str | None = None,
        keys: Sequence[str] | None = None,
        *,
        all: bool = False,
        sync: bool = False,
    ) -> RepairResult:
        """Clear the quarantine of couplings so the next sync (or ``sync=True``) retries them."""
        repair.check_selection(keys, all, "retry")  # the usage error first, then the lease
        with self.leased([mapping] if mapping else [m.name for m in self.config.mappings]):
            return repair.retry(self, mapping, keys, all_=all, sync=sync)

    def restore(
        self, mapping: str, keys: Sequence[str] | None = None, *, all: bool = False
    ) -> RepairResult:
        """Re-create the deleted record of broken couplings from the survivor and re-couple."""
        with self.leased([mapping]):
            return repair.restore(self, mapping, keys, all_=all)

    def delete(
        self, mapping: str, keys: Sequence[str] | None = None, *, all: bool = False
    ) -> RepairResult:
        """Delete the surviving record of broken couplings, and the couplings."""
        with self.leased([mapping]):
            return repair.delete(self, mapping, keys, all_=all)

    def match(
        self,
        mapping: str,
        *,
        on: Sequence[str] | None = None,
        case_sensitive: Sequence[str] = (),
        create_new: bool | None = None,
        sync: bool | None = None,
        progress: Progress | None = None,
    ) -> MatchResult:
        """Couple uncoupled records whose match criteria agree (match-based coupling).

        ``on`` replaces the configured criteria with one group of fields (local or
        integration names); ``case_sensitive`` marks criteria compared case-sensitively.
        ``create_new`` and ``sync`` default to the mapping's ``create_new_if_no_match`` and
        ``sync_after_coupling``.
        """
        self.check()
        with self.leased([mapping]):
            return match_records(
                self,
                mapping,
                on=on,
                case_sensitive=case_sensitive,
                create_new=create_new,
                sync=sync,
                progress=progress or NoProgress(),
            )

    def resolve(
        self,
        mapping: str,
        keys: Sequence[str] | None,
        winner: Direction,
        *,
        progress: Progress | None = None,
    ) -> RunResult:
        """Settle update conflicts (``keys=None``: all of the mapping's): ``winner``'s side
        goes over (send: to-integration, get: from-integration)."""
        self.check()
        with self.leased([mapping]):
            return resolve_conflicts(self, mapping, keys, winner, progress or NoProgress())

    def verify(
        self,
        mappings: Sequence[str] | None = None,
        *,
        fix: bool = False,
        progress: Progress | None = None,
    ) -> VerifyResult:
        """Coupled pairs whose mapped values disagree, read from both sides (see
        :mod:`accord.engine.verify`); ``fix`` synchronizes them, holding the mappings' leases."""
        self.check()
        order = self.ordered(mappings)
        if not fix:
            return verify(self, order, fix=False, progress=progress or NoProgress())
        with self.leased([m.name for m in order]):
            return verify(self, order, fix=True, progress=progress or NoProgress())

    # -- reading --------------------------------------------------------------------------
    def review(self, mappings: Sequence[str] | None = None) -> list[ReviewLine]:
        """Per mapping in dependency order: what a first full synchronization should do."""
        self.check()
        return review(self, self.ordered(mappings))

    def conflicts(self, mapping: str | None = None) -> list[OpenConflict]:
        """Open update conflicts, with both values of every differing field."""
        self.check()
        return open_conflicts(self, self.ordered([mapping] if mapping else None))

    def jobs(self, *, limit: int = 20, mapping: str | None = None) -> list[Job]:
        name = self.config.mapping(mapping).name if mapping else None
        return self.store.jobs(limit=limit, mapping=name)

    def job(self, job_id: str) -> Job:
        job = self.store.job(job_id)
        if job is None:
            raise UsageError(f"no job with id {job_id!r}")
        return job

    def couplings(
        self, mapping: str, *, limit: int = 50, offset: int = 0, attention_only: bool = False
    ) -> list[Coupling]:
        name = self.config.mapping(mapping).name
        return self.store.list_couplings(
            name, limit=limit, offset=offset, attention_only=attention_only
        )

    def records(
        self,
        mapping: str,
        side: Side,
        *,
        search: str = "",
        coupled: bool | None = None,
        offset: int = 0,
        limit: int = 25,
    ) -> RecordPage:
        """One page of one side's records with their couplings (see :mod:`accord.engine.browse`)."""
        self.context(mapping)
        return browse_records(
            self, mapping, side, search=search, coupled=coupled, offset=offset, limit=limit
        )

    def history(self, mapping: str, side: Side, key: str, *, limit: int = 50) -> RecordHistory:
        """A record's coupling and the jobs that synchronized or failed it, newest first."""
        return record_history(self, mapping, side, key, limit=limit)

    def overview(self) -> list[MappingOverview]:
        out = []
        for m in dependency_order(self.config):
            stats = self.store.coupling_stats(m.name)
            out.append(
                MappingOverview(
                    name=m.name,
                    direction=m.direction.value,
                    table=str(m.table),
                    integration_table=str(m.integration_table),
                    table_filter=m.table_filter,
                    integration_table_filter=m.integration_table_filter,
                    depends_on=tuple(sorted(m.hard_dependencies())),
                    coupled=stats.total,
                    failed=stats.failed,
                    skipped=stats.skipped,
                    pending=stats.pending,
                )
            )
        return out


__all__ = ["Project", "StateError"]
