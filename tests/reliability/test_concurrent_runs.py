"""Two ``accord sync`` processes on one state store: one runs, the other waits or stops.

Real processes, a real demo on SQLite files, the state store on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

import accord
from accord.demo import build_demo
from accord.state import StateStore
from accord.state.tables import jobs
from accord.testing.killpoints import ENV, SIGNAL_ENV
from tests.cli.support import executable, run_accord
from tests.services import postgresql_schema

RECORDS = 600


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def demo_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A fresh (never synchronized) demo, its state store on SQLite or PostgreSQL."""
    world = build_demo(tmp_path / "demo", records=RECORDS)
    if request.param == "sqlite":
        yield world.config_path
        return
    with postgresql_schema() as url:
        text = world.config_path.read_text()
        world.config_path.write_text(
            text.replace('url = "sqlite:///.accord/state.db"', f'url = "{url}"', 1)
        )
        yield world.config_path


def start(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_CONFIG"}
    return subprocess.Popen(
        [executable(), "sync", "--full", "--json", "-c", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "NO_COLOR": "1", "COLUMNS": "200"},
    )


def test_a_run_that_finds_its_mappings_busy_stops_with_exit_code_3(demo_config: Path):
    with accord.Project.load(demo_config) as holder, holder.leased(["CUSTOMER"]):
        done = run_accord("sync", "--full", "-c", demo_config, cwd=demo_config.parent)
        assert done.returncode == 3, done.stderr
        assert "CUSTOMER is being worked on by another run" in done.stderr
        assert f"process {os.getpid()}" in done.stderr
        assert "Traceback" not in done.stderr
        # it stopped before doing anything: no job was logged, nothing was coupled
        assert holder.jobs() == [] and holder.couplings("CUSTOMER") == []


def test_two_runs_started_together_never_work_on_a_mapping_at_the_same_time(demo_config: Path):
    first, second = start(demo_config, "--wait", "120"), start(demo_config, "--wait", "120")
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    for p, (_, err) in zip((first, second), outputs, strict=True):
        assert p.returncode == 0, err
    with accord.Project.load(demo_config) as project:
        runs: dict[str, list[tuple[datetime, datetime]]] = {}
        with project.store.engine.connect() as conn:
            query = sa.select(jobs.c.run_id, jobs.c.started_at, jobs.c.finished_at)
            for run_id, started, finished in conn.execute(query):
                assert finished is not None
                runs.setdefault(run_id, []).append((started, finished))
        assert len(runs) == 2
        (a, b) = (sorted(spans) for spans in runs.values())
        # one run's jobs all end before the other's begin: the leases kept them apart
        assert a[-1][1] <= b[0][0] or b[-1][1] <= a[0][0], (a, b)
        for name in ("CUSTOMER", "CONTACT"):
            pairs = project.couplings(name, limit=1_000_000)
            assert len({c.integration_key for c in pairs}) == len(pairs)  # no duplicates
    totals = [json.loads(out)["totals"] for out, _ in outputs]
    inserted = sorted(t["inserted"] for t in totals)
    assert inserted[0] == 0 < inserted[1]  # the second found everything done


# -- dry runs beside real runs, and first runs on a new store (issue 9, class 11) ------------
def paused(config: Path, point: str, *args: str) -> subprocess.Popen[str]:
    """``accord sync --full ARGS``, stopped by itself (SIGSTOP) at ``point``."""
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_CONFIG"}
    child = subprocess.Popen(
        [executable(), "sync", "--full", "-c", str(config), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "NO_COLOR": "1", ENV: point, SIGNAL_ENV: "STOP"},
    )
    _, status = os.waitpid(child.pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        raise AssertionError(f"the run ended instead of pausing at {point}: {child.returncode}")
    return child


def resumed(child: subprocess.Popen[str]) -> tuple[int, str]:
    os.kill(child.pid, signal.SIGCONT)
    _, err = child.communicate(timeout=300)
    return child.returncode, err


def test_a_dry_run_beside_a_run_at_work_says_busy(demo_config: Path):
    real = paused(demo_config, "pass.committed:1")  # holds its leases, between two batches
    try:
        dry = run_accord("sync", "--full", "--dry-run", "-c", demo_config, cwd=demo_config.parent)
    finally:
        code, err = resumed(real)
    assert code == 0, err
    assert dry.returncode == 3, dry.stderr
    assert "being worked on by another run" in dry.stderr and "--wait" in dry.stderr
    assert "Traceback" not in dry.stderr


def test_a_real_run_beside_a_dry_run_on_sqlite_waits_for_no_lock(tmp_path: Path):
    """The dry run plans on a copy of the store: a real run writing meanwhile bothers neither.

    Before, the dry run's never-committed transaction held SQLite's write lock (the real
    run then failed on it after the busy timeout), or met the real run's commits with
    ``database is locked``.
    """
    config = build_demo(tmp_path / "demo", records=RECORDS).config_path
    first = run_accord("sync", "CURRENCY", "--full", "-c", config, cwd=config.parent)
    assert first.returncode == 0, first.stderr  # the store exists, with some history
    dry = paused(config, "pass.read:2", "--dry-run")  # planning, in the middle of a pass
    try:
        real = run_accord("sync", "--full", "-c", config, cwd=config.parent)
    finally:
        code, err = resumed(dry)
    assert real.returncode == 0, real.stderr
    assert code in (0, 1), err  # a plan (records may fail in it), never a crash
    assert "Traceback" not in err and "locked" not in err, err


OPENER = """
import sys
from accord.state import StateStore

url, dry = sys.argv[1], sys.argv[2] == "dry"
sys.stdin.readline()  # everyone imported: open the store together
StateStore(url, dry_run=dry).close()
"""


@pytest.mark.parametrize(
    "server", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def test_first_runs_on_a_new_store_create_its_schema_once(server: str, tmp_path: Path):
    """Real and dry runs opening a new store at once: one creates the schema, the rest wait."""
    for attempt in range(5):
        with ExitStack() as stack:
            if server == "sqlite":
                url = f"sqlite:///{tmp_path / f'state-{attempt}.db'}"
            else:
                url = stack.enter_context(postgresql_schema())
            children = [
                subprocess.Popen(
                    [sys.executable, "-c", OPENER, url, kind],
                    stdin=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for kind in ("dry", "real", "real", "dry")
            ]
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            errors = [child.communicate(timeout=120)[1] for child in children]
            for child, err in zip(children, errors, strict=True):
                assert child.returncode == 0, f"attempt {attempt}: {err[-2000:]}"
            store = StateStore(url)
            try:
                assert store.jobs() == [] and store.held_leases() == []  # schema, no rows
            finally:
                store.close()
