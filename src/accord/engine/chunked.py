"""A full pass split into key ranges, each run by whichever worker takes it.

The steps, each one engine call (a Celery task in :mod:`accord.worker`, but nothing here
knows that):

1. :func:`begin_mapping` takes the mapping's lease for the whole split run, under a holder id
   that outlives the call (it is handed to every later step), and does what a full sync does
   first (the new-store check, match-based coupling).
2. :func:`plan_parts` takes the source's delta token (where it tracks changes) *before* it
   reads, then reads the source's keys in key order and cuts them into ranges.
3. :func:`run_part`, once per range and in any order or place: a full pass over the range.
   It adopts the mapping's lease (every commit renews and proves it: fenced) and takes a lease
   of its own range, so a redelivered copy of a part never runs beside the original. A part
   moves no watermark. A killed part is simply run again: the engine chose every new record's
   key and committed its pending coupling before writing it, so the rerun creates nothing
   twice.
4. :func:`finish_pass`, only once every part ended without error: the watermark (the newest
   version any part read, never later than the time step 2 started) and the delta token are
   stored, as one full pass stores them. A part that failed leaves the watermark where it was,
   so the next run reads from there: nothing is skipped.
5. :func:`release_mapping` ends the split run (also when it failed).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from accord.connectors.base import ChangeTracking
from accord.engine.match import match_first as match_first_step
from accord.engine.newstore import check_new_store
from accord.engine.options import PassOptions
from accord.engine.progress import NoProgress
from accord.engine.results import RunResult
from accord.engine.sync import _run_pass, batch_size
from accord.model import Direction, JobStatus
from accord.state.store import HeldLease, utcnow

if TYPE_CHECKING:
    from accord.engine.workspace import Workspace

_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")

KEY_PAGE = 10_000
"""Keys per page when cutting a source into ranges (keys and versions only)."""


@dataclass(frozen=True)
class Begun:
    """A split run under way: the lease holder every step adopts, and when it began."""

    holder: str
    started: datetime
    hold: dict[str, list[str]]
    """Per direction value: source keys match-based coupling found ambiguous (not created)."""
    job_ids: list[str]
    """Jobs of the steps before the passes (match-based coupling)."""
    broken: str | None = None
    """Why the mapping cannot run (its dependants are then not run either)."""


def begin_mapping(
    project: Workspace, mapping: str, *, run_id: str, match_first: bool, i_know: bool
) -> Begun:
    """Take the mapping's lease for a split full sync (BusyError: another run holds it)."""
    project.check()
    m = project.config.mapping(mapping)
    holder = str(uuid.uuid4())
    store = project.store
    store.acquire_leases([m.name], holder, project.lease_ttl)
    started = utcnow()
    try:
        store.interrupt_stale_jobs()
        if not i_know:
            check_new_store(project, [m], match_first=match_first)
        result = RunResult(run_id)
        held: dict[Direction, frozenset[str]] = {}
        if match_first:
            matched = match_first_step(project, m, NoProgress(), result)
            if matched is None:
                store.release_leases(holder)
                return Begun(holder, started, {}, [j.id for j in result.jobs], "matching failed")
            held = matched
    except BaseException:
        store.release_leases(holder)
        raise
    store.holders.pop(holder, None)  # the lease stays in the store: the split run holds it
    return Begun(
        holder,
        started,
        {d.value: sorted(keys) for d, keys in held.items()},
        [j.id for j in result.jobs],
    )


def plan_parts(
    project: Workspace, mapping: str, direction: Direction, *, holder: str, part_records: int
) -> tuple[list[tuple[Any, Any]], str | None, datetime]:
    """The key ranges of one pass (each about ``part_records`` records), the delta token to
    store when all are done, and the time reading began (the watermark's upper bound)."""
    m = project.config.mapping(mapping)
    with _adopted(project, holder, m.name):
        project.store.prove_leases()
        ctx = project.context(m.name)
        src = ctx.source(direction)
        started = utcnow()
        token = None
        connector = src.connector
        if connector.capabilities.change_tracking:
            tracker = cast(ChangeTracking, connector)
            if tracker.tracks(src.table):
                token = tracker.track(src.table)  # before reading: nothing changed is missed
        integer = src.schema.fields.get(src.schema.key) is not None and (
            src.schema.fields[src.schema.key].kind == "integer"
        )
        bounds: list[Any] = []
        seen = 0
        for batch in connector.read(src.table, filter=src.filter, fields=[], batch_size=KEY_PAGE):
            for r in batch:
                if seen and seen % part_records == 0:
                    bounds.append(int(r.key) if integer else r.key)
                seen += 1
        if any(isinstance(b, str) and _GUID.fullmatch(b) for b in bounds[:1]):
            # GUIDs: a service orders them its own way (SQL Server by their last bytes), and
            # may not compare them with ge / lt at all: such a pass runs whole.
            bounds = []
        parts = list(zip([None, *bounds], [*bounds, None], strict=True))
        return parts, token, started


@dataclass(frozen=True)
class PartDone:
    job_ids: list[str]
    max_seen: object
    settle: list[str]
    """Destination keys the opposite pass must compare whatever their version (recheck)."""
    error: bool


def run_part(
    project: Workspace,
    mapping: str,
    direction: Direction,
    *,
    holder: str,
    run_id: str,
    started: datetime,
    part: tuple[Any, Any],
    index: int,
    of: int,
    later_pass: bool,
    hold: Sequence[str] = (),
    recheck: Sequence[str] = (),
) -> PartDone:
    """One key range of a full pass (BusyError: this very range runs elsewhere right now;
    LeaseLostError: the split run lost the mapping's lease)."""
    m = project.config.mapping(mapping)
    store = project.store
    own = str(uuid.uuid4())
    name = part_lease(m.name, direction, index)
    with _adopted(project, holder, m.name):
        store.prove_leases()
        store.acquire_leases([name], own, project.lease_ttl)
        try:
            result = RunResult(run_id)
            options = PassOptions(
                full=True,
                key_range=part,
                batch_size=batch_size(project, m),
                create_uncoupled=True,
                run_started=started,
                probe_first=later_pass,
                hold=frozenset(hold),
                recheck=frozenset(recheck),
            )
            outcome = _run_pass(project, m, direction, options, NoProgress(), result)
            job = outcome.job
            if of > 1:
                job.message = f"{job.message}, part {index + 1} of {of}"
                with store.transaction() as tx:
                    tx.save_job(job)
            settle = outcome.settle
            if (
                settle
                and direction is Direction.FROM_INTEGRATION
                and Direction.TO_INTEGRATION in m.direction.passes
            ):
                # As in a run in one process: records this part created in the local system
                # get back the fields the local side owns.
                back = PassOptions(keys=tuple(settle), batch_size=project.batch_size)
                _run_pass(project, m, Direction.TO_INTEGRATION, back, NoProgress(), result)
                settle = []
            return PartDone(
                [j.id for j in result.jobs],
                outcome.max_seen,
                settle,
                any(j.status is JobStatus.ERROR for j in result.jobs),
            )
        finally:
            store.release_leases(own)


def finish_pass(
    project: Workspace,
    mapping: str,
    direction: Direction,
    *,
    holder: str,
    started: datetime,
    token: str | None,
    max_seen: Sequence[object],
) -> None:
    """Every part ended without error: store the pass's watermark and delta token."""
    m = project.config.mapping(mapping)
    side = project.context(m.name).source(direction).side
    seen: list[Any] = [v for v in max_seen if v is not None]
    newest: Any = max(seen) if seen else None
    with _adopted(project, holder, m.name), project.store.transaction() as tx:
        tx.prove_leases()
        if newest is not None:
            tx.set_watermark(m.name, side, min(newest, started), started, token)
        elif token is not None:
            tx.set_watermark(m.name, side, started, started, token)


def release_mapping(project: Workspace, holder: str) -> None:
    project.store.release_leases(holder)


def part_lease(mapping: str, direction: Direction, index: int) -> str:
    """The lease name of one range of one pass (the leases table keys by name)."""
    short = "to" if direction is Direction.TO_INTEGRATION else "from"
    return f"{mapping[:80]}#{short}#{index}"


class _adopted:
    """Within the block this process's store proves (and renews) the split run's lease."""

    def __init__(self, project: Workspace, holder: str, mapping: str) -> None:
        self.project, self.holder, self.mapping = project, holder, mapping

    def __enter__(self) -> None:
        self.project.store.holders[self.holder] = HeldLease((self.mapping,), self.project.lease_ttl)

    def __exit__(self, *_exc: object) -> None:
        self.project.store.holders.pop(self.holder, None)
