"""One scheduler tick: which mappings are due, one engine run of them, and their next run.

A tick takes the due mappings in dependency order and hands them to a :class:`Dispatcher` as
one run (a due mapping whose dependencies are due too runs after them). The local dispatcher
calls :meth:`Project.sync`, so leases, fencing and job logs are the engine's own; a dispatcher
that sends the run to a task queue (Celery) plugs in the same way. After the run each mapping's
next run and interval are computed by its :class:`Schedule` and stored in the state store,
where ``accord status`` reads them from any shell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from accord.engine.project import Project
from accord.engine.results import RunResult
from accord.errors import AccordError, BusyError
from accord.model import Counters
from accord.schedule.spec import Schedule
from accord.state.store import busy_message, utcnow

BUSY_RETRY = timedelta(seconds=30)
"""How soon a mapping skipped because another run held it is tried again (at most its own
interval): the reference's rerun delay of a job-queue entry."""

Event = dict[str, Any]


class Dispatcher(Protocol):
    """How a batch of due mappings gets run: one engine run, in the order given.

    Raises :class:`BusyError` when another run holds one of them; any other
    :class:`AccordError` is that run's failure.
    """

    def dispatch(self, mappings: Sequence[str]) -> RunResult: ...


class LocalDispatcher:
    """Runs the batch in this process: the engine's normal incremental sync."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def dispatch(self, mappings: Sequence[str]) -> RunResult:
        return self.project.sync(list(mappings))


@dataclass(frozen=True)
class Entry:
    """A scheduled mapping's state: the row ``accord_schedule`` keeps for it."""

    mapping: str
    schedule: Schedule
    next_run_at: datetime | None = None  # None: never ran, due now
    interval_seconds: float | None = None
    last_run_at: datetime | None = None
    last_result: str = ""  # ok, failed, idle, error, not run
    last_records: int = 0
    last_failed: int = 0
    last_message: str = ""
    idle_runs: int = 0
    runs: int = 0
    last_run_id: str | None = None

    def due(self, now: datetime) -> bool:
        return self.next_run_at is None or self.next_run_at <= now

    def row(self) -> dict[str, Any]:
        return {
            "next_run_at": self.next_run_at,
            "interval_seconds": self.interval_seconds,
            "last_run_at": self.last_run_at,
            "last_result": self.last_result,
            "last_records": self.last_records,
            "last_failed": self.last_failed,
            "last_message": self.last_message,
            "idle_runs": self.idle_runs,
            "runs": self.runs,
            "last_run_id": self.last_run_id,
        }


def load_entries(project: Project) -> list[Entry]:
    """Every scheduled mapping in dependency order, with its stored state (if any)."""
    rows = project.store.schedule_rows()
    out = []
    for m in project.ordered():
        schedule = project.config.schedules.get(m.name)
        if schedule is None:
            continue
        entry = Entry(m.name, schedule)
        row = rows.get(m.name)
        if row is not None:
            entry = Entry(
                m.name,
                schedule,
                row.next_run_at,
                row.interval_seconds,
                row.last_run_at,
                row.last_result,
                row.last_records,
                row.last_failed,
                row.last_message,
                row.idle_runs,
                row.runs,
                row.last_run_id,
            )
            entry = _within_schedule(entry)
        out.append(entry)
    return out


def _within_schedule(entry: Entry) -> Entry:
    """A stored next run no later than the schedule as configured now allows: shortening
    ``every`` or ``idle_backoff`` takes effect at once, not after the old interval."""
    if entry.last_run_at is None or entry.next_run_at is None:
        return entry
    latest, interval = entry.schedule.next_run(entry.last_run_at, idle=entry.last_result == "idle")
    if entry.next_run_at <= latest:
        return entry
    return replace(entry, next_run_at=latest, interval_seconds=interval)


def written(counters: Counters) -> int:
    return counters.inserted + counters.modified + counters.deleted


class Runner:
    """The schedule of one project's mappings; :meth:`tick` runs what is due."""

    def __init__(
        self,
        project: Project,
        dispatcher: Dispatcher | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        events: Callable[[Event], None] = lambda _event: None,
    ) -> None:
        self.project = project
        self.dispatcher = dispatcher or LocalDispatcher(project)
        self.clock = clock
        self.events = events
        self.entries = {e.mapping: e for e in load_entries(project)}
        self.running: tuple[str, ...] = ()
        """The mappings of the batch in hand (for a live display)."""

    def reload(self) -> None:
        """Read the stored state again (another process may have run a mapping since)."""
        self.entries = {e.mapping: e for e in load_entries(self.project)}

    def next_wake(self) -> datetime | None:
        """The earliest next run of any scheduled mapping (None: nothing is scheduled)."""
        now = self.clock()
        times = [e.next_run_at or now for e in self.entries.values()]
        return min(times) if times else None

    def tick(self) -> list[Event]:
        """Run every due mapping (one engine run, dependency order); what happened, as events."""
        self.reload()
        now = self.clock()
        due = [e.mapping for e in self.entries.values() if e.due(now)]
        if not due:
            return []
        happened: list[Event] = []
        for row in self.project.store.busy_leases(due):
            due.remove(row.mapping)
            happened.append(self._skip(row.mapping, busy_message(row), now))
        if due:
            happened.append(self._run(due, now))
        return happened

    def _emit(self, event: Event) -> Event:
        self.events(event)
        return event

    def _skip(self, mapping: str, why: str, now: datetime) -> Event:
        """Another run holds the mapping: this tick leaves it, and tries again soon."""
        entry = self.entries[mapping]
        interval = entry.interval_seconds or entry.schedule.next_run(now, idle=False)[1]
        retry = min(BUSY_RETRY, timedelta(seconds=interval))
        self._save(replace(entry, next_run_at=now + retry))
        return self._emit({"event": "skipped", "mapping": mapping, "reason": why})

    def _run(self, due: list[str], started: datetime) -> Event:
        self.running = tuple(due)
        self._emit({"event": "started", "mappings": due})
        try:
            run = self.dispatcher.dispatch(due)
        except BusyError as exc:  # taken between the look and the run: next tick
            for mapping in due:
                self._skip(mapping, str(exc), started)
            return {"event": "skipped", "mappings": due, "reason": str(exc)}
        except AccordError as exc:  # the run failed as a whole (a system unreachable, ...)
            now = self.clock()
            for mapping in due:
                self._finish(mapping, now, "error", Counters(), str(exc), None)
            return self._emit({"event": "error", "mappings": due, "message": str(exc)})
        finally:
            self.running = ()
        now = self.clock()
        counters = run.by_mapping()
        results: dict[str, Any] = {}
        for mapping in due:
            c = counters.get(mapping, Counters())
            if mapping in run.not_run:
                result, message = "not run", run.not_run[mapping]
            elif c.failed:
                result, message = "failed", f"{c.failed:,} record(s) failed"
            elif written(c) == 0:
                result, message = "idle", "nothing to write"
            else:
                result, message = "ok", ""
            entry = self._finish(mapping, now, result, c, message, run.run_id)
            results[mapping] = {
                "result": result,
                "records": written(c),
                "failed": c.failed,
                "message": message,
                "next_run_at": _iso(entry.next_run_at),
                "interval_seconds": entry.interval_seconds,
            }
        return self._emit(
            {"event": "finished", "run_id": run.run_id, "mappings": due, "results": results}
        )

    def _finish(
        self,
        mapping: str,
        now: datetime,
        result: str,
        counters: Counters,
        message: str,
        run_id: str | None,
    ) -> Entry:
        entry = self.entries[mapping]
        # The reference's rule: nothing inserted, modified, deleted or failed → on hold.
        idle = result == "idle"
        next_at, interval = entry.schedule.next_run(now, idle=idle)
        done = replace(
            entry,
            next_run_at=next_at,
            interval_seconds=interval,
            last_run_at=now,
            last_result=result,
            last_records=written(counters),
            last_failed=counters.failed,
            last_message=message,
            idle_runs=entry.idle_runs + 1 if idle else 0,
            runs=entry.runs + 1,
            last_run_id=run_id,
        )
        self._save(done)
        return done

    def _save(self, entry: Entry) -> None:
        self.entries[entry.mapping] = entry
        self.project.store.save_schedule(entry.mapping, entry.row())


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.replace(tzinfo=UTC).isoformat()
