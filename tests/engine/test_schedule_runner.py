"""The scheduler's runner with a controllable clock: due times, backoff, order, restarts.

A dispatcher that records each batch before running it in this process shows the interface a
task-queue dispatcher plugs into; the state lives in the store (SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from accord.engine.project import Project
from accord.engine.results import RunResult
from accord.schedule.runner import LocalDispatcher, Runner
from tests.engine.conftest import World
from tests.engine.test_sync import full, seed

START = datetime(2026, 12, 3, 8, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Recording:
    """Runs each batch locally, and remembers it."""

    def __init__(self, project: Project) -> None:
        self.local = LocalDispatcher(project)
        self.batches: list[list[str]] = []

    def dispatch(self, mappings: Sequence[str]) -> RunResult:
        self.batches.append(list(mappings))
        return self.local.dispatch(mappings)


def scheduled(world: World, text: str) -> None:
    # CUSTOMER before CURRENCY in the file: the order of runs comes from the dependencies
    config = world.path.read_text(encoding="utf-8")
    world.path.write_text(config + f"\n[schedule]\n{text}\n", encoding="utf-8")


def runner(project: Project, clock: Clock) -> tuple[Runner, Recording]:
    recording = Recording(project)
    return Runner(project, recording, clock=clock), recording


def test_due_batches_backoff_and_reset_with_a_controlled_clock(world):
    seed(world)
    with world.project() as project:
        full(project)
    scheduled(world, 'every = "30m"\nidle_backoff = "12h"')
    clock = Clock()
    with world.project() as project:
        run, recording = runner(project, clock)
        assert run.next_wake() == START  # never ran: due now
        happened = run.tick()
        assert recording.batches == [["CURRENCY", "CUSTOMER"]]
        assert happened[-1]["event"] == "finished"
        assert run.entries["CUSTOMER"].last_result == "idle"
        assert run.entries["CUSTOMER"].next_run_at == START + timedelta(hours=12)
        # 30 minutes later nothing is due: on hold
        clock.advance(minutes=31)
        assert run.tick() == []
        # an edit does not wake it (no event-driven rescheduling) until the hold ends
        world.erp.put("customer", "C00001", {"name": "Renamed by the clock test"})
        clock.advance(hours=12)
        run.tick()
        assert recording.batches[-1] == ["CURRENCY", "CUSTOMER"]
        customer = run.entries["CUSTOMER"]
        assert (customer.last_result, customer.last_records) == ("ok", 1)
        assert customer.interval_seconds == 1800.0  # activity: back to every 30 minutes
        assert run.entries["CURRENCY"].interval_seconds == 43200.0  # still nothing there
        assert world.crm.get("account", run_account(world, "C00001"))["name"] == (
            "Renamed by the clock test"
        )
        # half an hour on, only CUSTOMER is due
        clock.advance(minutes=30)
        run.tick()
        assert recording.batches[-1] == ["CUSTOMER"]
        assert run.entries["CUSTOMER"].interval_seconds == 43200.0  # idle again: held again
    # a restarted scheduler reads the same schedule from the store
    with world.project() as project:
        again, _ = runner(project, clock)
        assert again.entries["CUSTOMER"].runs == 3
        assert again.entries["CUSTOMER"].next_run_at == clock.now + timedelta(hours=12)
        assert again.tick() == []


def run_account(world: World, no: str) -> str:
    for key, row in world.crm.rows("account").items():
        if row.get("accountnumber") == no:
            return key
    raise AssertionError(f"no account for {no}")


def test_a_busy_mapping_is_skipped_and_the_rest_run(world):
    seed(world)
    with world.project() as project:
        full(project)
    scheduled(world, 'every = "1h"')
    clock = Clock()
    with world.project() as other, world.project() as project:
        run, recording = runner(project, clock)
        with other.leased(["CUSTOMER"]):
            happened = run.tick()
        assert recording.batches == [["CURRENCY"]]
        skipped = [e for e in happened if e["event"] == "skipped"]
        assert [e["mapping"] for e in skipped] == ["CUSTOMER"]
        assert "another run" in skipped[0]["reason"]
        assert run.entries["CUSTOMER"].next_run_at == START + timedelta(seconds=30)
        assert run.entries["CUSTOMER"].runs == 0
        clock.advance(seconds=30)
        run.tick()
        assert recording.batches[-1] == ["CUSTOMER"]
