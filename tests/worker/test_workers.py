"""Passes on real ``accord worker`` processes (Redis and RabbitMQ), state on PostgreSQL.

Every test compares with a world synchronized by one process, nobody killed: the same
records (none twice, none missing), the same values, coupled the same way, 1:1, nothing
pending (the snapshot of :mod:`tests.reliability.kill_support`, whose generated keys are named
after the record they are coupled to, so the order in which workers created them is moot).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from accord.demo import build_demo
from accord.engine.project import Project
from accord.engine.results import RunResult
from accord.state.tables import jobs, leases
from accord.testing.killpoints import ENV
from accord.worker.dispatch import CeleryDispatcher
from tests.cli.support import run_accord
from tests.reliability.kill_support import (
    Snapshot,
    child_env,
    coupling_problems,
    duplicates,
    original_keys,
)
from tests.services import postgresql_schema
from tests.worker.support import broker_url, demo_world, workers

RECORDS = 1000
PART = "part_records = 150\n"
UNIQUE_COLUMNS = [
    ("erp.customer", "name"),
    ("crm.account", "name"),
    ("crm.account", "accountnumber"),
    ("erp.contact", "email"),
    ("crm.contact", "emailaddress1"),
]

pytestmark = [pytest.mark.postgresql, pytest.mark.slow]


@dataclass(frozen=True)
class Reference:
    original: dict[str, frozenset[str]]
    snapshot: Snapshot


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The demo world fully synchronized by one process."""
    config = build_demo(tmp_path_factory.mktemp("one"), records=RECORDS, seed=42).config_path
    original = original_keys(config)
    with Project.load(config) as project:
        run = project.sync(full=True)
        assert run.ok, run.not_run
    return Reference(original, Snapshot.take(config, original))


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    return broker_url(request.param)


@pytest.fixture
def state() -> Iterator[str]:
    with postgresql_schema() as url:
        yield url


def check_world(config: Path, ref: Reference) -> None:
    snapshot = Snapshot.take(config, ref.original)
    problems = (
        snapshot.differences(ref.snapshot)
        + coupling_problems(snapshot)
        + duplicates(snapshot, UNIQUE_COLUMNS)
    )
    assert not problems, "\n".join(problems)


def dispatch_full(config: Path, dispatched: object) -> RunResult:
    from tests.worker.support import Workers

    assert isinstance(dispatched, Workers)
    with Project.load(config) as project:
        dispatcher = CeleryDispatcher(project, dispatched.broker, full=True, timeout=300)
        try:
            return dispatcher.dispatch([])
        finally:
            dispatcher.close()


def job_rows(state_url: str) -> list[sa.Row[tuple[object, ...]]]:
    engine = sa.create_engine(state_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(jobs)))
    finally:
        engine.dispose()


def test_a_full_sync_on_two_workers_ends_as_in_one_process(
    broker: str, state: str, reference: Reference, tmp_path: Path
) -> None:
    config = demo_world(tmp_path / "w", state, records=RECORDS, extra=PART)
    with workers(config, broker, 2) as running:
        run = dispatch_full(config, running)
        assert run.ok, (run.not_run, running.logs())
        rows = job_rows(state)
    check_world(config, reference)
    # split in ranges, run by both workers, all jobs of one run
    assert any("part 2 of" in (r.message or "") for r in rows)
    assert len({r.pid for r in rows if r.type == "sync"}) == 2, running.logs()
    assert {r.run_id for r in rows if r.type == "sync"} == {run.run_id}
    # a second run finds everything in sync: nothing written
    with Project.load(config) as project:
        again = project.sync()
    totals = again.totals()
    assert (totals.inserted, totals.modified, totals.deleted, totals.failed) == (0, 0, 0, 0)


@pytest.mark.parametrize("phase", ["pass.written", "pass.pending"])
def test_a_worker_killed_mid_task_then_restarted_loses_and_duplicates_nothing(
    broker: str, state: str, reference: Reference, tmp_path: Path, phase: str
) -> None:
    config = demo_world(tmp_path / "w", state, records=RECORDS, extra=PART)
    with workers(config, broker, 0) as running:
        # the only worker at first: it SIGKILLs itself at the 3rd batch it writes, its task
        # unacknowledged
        doomed = running.start_with(child_env({ENV: f"{phase}:3"}))
        result: list[RunResult] = []
        thread = threading.Thread(target=lambda: result.append(dispatch_full(config, running)))
        thread.start()
        while doomed.poll() is None and thread.is_alive():
            time.sleep(0.05)
        assert doomed.returncode == -9, f"the worker was not killed mid-task\n{running.logs()}"
        running.start()  # restarted, and a second one: the task it held is run again
        running.start()
        thread.join(timeout=600)
        assert not thread.is_alive()
        (run,) = result
        assert run.ok, (run.not_run, running.logs())
        with Project.load(config) as project:
            project.store.interrupt_stale_jobs()
        statuses = [r.status for r in job_rows(state)]
    check_world(config, reference)
    assert "interrupted" in statuses  # the killed task's job says so
    assert set(statuses) <= {"ok", "interrupted"}, statuses


def test_two_runs_at_once_never_hold_one_mapping_together(
    broker: str, state: str, reference: Reference, tmp_path: Path
) -> None:
    config = demo_world(tmp_path / "w", state, records=RECORDS, extra=PART)
    with workers(config, broker, 2) as running:
        results: list[RunResult] = []
        threads = [
            threading.Thread(target=lambda: results.append(dispatch_full(config, running)))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert len(results) == 2 and all(r.ok for r in results), running.logs()
        rows = job_rows(state)
        engine = sa.create_engine(state, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            left = list(conn.execute(sa.select(leases)))
        engine.dispose()
    check_world(config, reference)
    assert not left, left  # every lease released
    # per mapping, the jobs of one run all end before the other run's first one starts
    spans: dict[str, dict[str, list[datetime]]] = defaultdict(dict)
    for r in rows:
        span = spans[r.mapping].setdefault(r.run_id, [r.started_at, r.finished_at])
        span[0], span[1] = min(span[0], r.started_at), max(span[1], r.finished_at)
    for mapping, runs in spans.items():
        assert len(runs) == 2, (mapping, runs)
        (_, a1), (b0, _) = sorted(runs.values())
        assert a1 <= b0, f"mapping {mapping}: two runs worked on it at once {runs}"


def test_a_worker_refuses_a_sqlite_state_store(tmp_path: Path) -> None:
    config = build_demo(tmp_path / "w", records=100, seed=1).config_path
    done = run_accord("worker", "-c", config, cwd=config.parent, module=True)
    assert done.returncode == 2
    assert "SQLite state store with several worker processes is not supported" in done.stderr
    lines = config.read_text().splitlines()
    line = 1 + next(i for i, t in enumerate(lines) if t.startswith('url = "sqlite:///.accord'))
    assert f"accord.toml:{line}: " in done.stderr, done.stderr


def test_accord_run_dispatches_scheduled_mappings_to_the_workers(
    broker: str, state: str, tmp_path: Path
) -> None:
    config = demo_world(tmp_path / "w", state, records=200, extra='\n[schedule]\nevery = "5m"\n')
    with workers(config, broker, 1) as running:
        done = run_accord(
            "run",
            "--once",
            "--dispatch",
            "celery",
            "-c",
            config,
            "--broker",
            running.url,
            "--queue",
            running.queue,
            cwd=config.parent,
            module=True,
        )
        assert done.returncode == 0, done.stderr + running.logs()
        worker_pid = running.processes[0].pid
        rows = job_rows(state)
    assert rows and {r.pid for r in rows} == {worker_pid}
