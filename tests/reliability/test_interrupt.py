"""Ctrl-C: a run interrupted at any moment ends at once with ``interrupted`` and exit code 130.

Real ``accord sync --full`` processes on a demo world, sent SIGINT by themselves at engine
kill points (``ACCORD_TEST_KILL_SIGNAL=INT``: after reading a batch, after committing pending
couplings, after proving the lease, after writing, *inside* a batch's state transaction, after
committing it, while matching, when finishing a pass) and, twice, by the test after a random
delay. Each must print ``interrupted``, exit with 130, show no traceback, leave no job
``running`` (its job says ``interrupted``) and no lease held; a last run finishes the work with
no duplicate and every record coupled once.

The hang of issue 9 (class 13) came from a Ctrl-C landing inside the driver while a batch's
couplings were being written: the interrupted transaction kept SQLite's write lock, and
releasing the lease waited the whole 30 s busy timeout, then failed with a traceback.
``test_ctrl_c_inside_a_state_store_statement`` delivers SIGINT at exactly that moment (from a
SQLAlchemy ``after_cursor_execute`` hook on the ``UPDATE accord_couplings`` executemany).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from random import Random

import pytest
import sqlalchemy as sa

from accord.demo import build_demo
from accord.state.tables import jobs, leases
from accord.testing.killpoints import ENV, SIGNAL_ENV
from tests.cli.support import executable, run_accord
from tests.reliability.kill_support import (
    Snapshot,
    child_env,
    coupling_problems,
    duplicates,
    original_keys,
    state_url,
)
from tests.reliability.test_kill import UNIQUE_COLUMNS

RECORDS = 2000
TIMEOUT = 120

POINTS = [
    "pass.read:2",
    "pass.pending:1",
    "pass.proved:3",
    "pass.written:2",
    "pass.committing:1",
    "pass.committing:4",
    "pass.committed:5",
    "match.coupling:1",
    "pass.finishing:3",
]


def default_sigint() -> None:
    """A child started from a shell's background job would inherit SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupted_run(config: Path, point: str | None, delay: float = 0.0) -> tuple[int, str]:
    extra = {ENV: point, SIGNAL_ENV: "INT"} if point else None
    child = subprocess.Popen(
        [executable(), "sync", "--full", "-c", str(config)],
        cwd=config.parent,
        env=child_env(extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    if point is None:
        # Once the run is at work (its first job logged: Python has loaded Accord), at a
        # random moment after that.
        while child.poll() is None and not store_rows_if_any(config):
            time.sleep(0.02)
        try:
            child.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=TIMEOUT)
    return child.returncode, err


def store_rows_if_any(config: Path) -> bool:
    """Whether the run logged a job yet (False while its state store does not exist)."""
    if not (config.parent / ".accord" / "state.db").exists():
        return False
    try:
        return bool(store_rows(config)[0])
    except sa.exc.OperationalError:  # being created
        return False


def store_rows(config: Path) -> tuple[dict[str, str], int]:
    """Every job's status, and how many leases are recorded."""
    engine = sa.create_engine(state_url(config), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            statuses = dict(conn.execute(sa.select(jobs.c.id, jobs.c.status)).all())
            held = conn.execute(sa.select(sa.func.count()).select_from(leases)).scalar_one()
        return {str(k): str(v) for k, v in statuses.items()}, int(held)
    finally:
        engine.dispose()


def check_interrupted(config: Path, code: int, err: str, what: str) -> None:
    assert code == 130, f"{what}: exit code {code}\n{err[-3000:]}"
    assert "interrupted" in err, f"{what}: {err[-3000:]}"
    assert "Traceback" not in err and "locked" not in err, f"{what}: {err[-3000:]}"
    statuses, held = store_rows(config)
    assert "running" not in statuses.values(), f"{what}: a job was left running"
    assert held == 0, f"{what}: a lease was left held"


def check_finished(config: Path, original: dict[str, frozenset[str]]) -> None:
    done = run_accord("sync", "--full", "-c", config, cwd=config.parent)
    assert done.returncode == 0, done.stderr
    snapshot = Snapshot.take(config, original)
    assert coupling_problems(snapshot) == []
    assert duplicates(snapshot, UNIQUE_COLUMNS) == []
    statuses, _ = store_rows(config)
    assert set(statuses.values()) <= {"ok", "interrupted"}


def test_ctrl_c_at_every_phase_ends_the_run_cleanly(tmp_path: Path) -> None:
    config = build_demo(tmp_path / "world", records=RECORDS).config_path
    original = original_keys(config)
    interrupted = 0
    for point in POINTS:
        code, err = interrupted_run(config, point)
        if code == 0:
            continue  # the run finished before it reached the point (the world was done)
        check_interrupted(config, code, err, f"SIGINT at {point}")
        interrupted += 1
    assert interrupted >= len(POINTS) - 2
    statuses, _ = store_rows(config)
    assert list(statuses.values()).count("interrupted") >= interrupted
    check_finished(config, original)


@pytest.mark.parametrize("seed", [1, 2])
def test_ctrl_c_at_a_random_moment(seed: int, tmp_path: Path) -> None:
    config = build_demo(tmp_path / "world", records=RECORDS).config_path
    original = original_keys(config)
    delay = Random(seed).uniform(0.0, 1.5)  # after the first job is logged
    code, err = interrupted_run(config, None, delay)
    if code != 0:  # else it finished first
        check_interrupted(config, code, err, f"SIGINT after {delay:.2f}s")
    check_finished(config, original)


DRIVER = """
import os, signal, sys
import sqlalchemy as sa
import accord

config, nth = sys.argv[1], int(sys.argv[2])
seen = [0]


def interrupt(conn, cursor, statement, parameters, context, executemany):
    if executemany and statement.startswith("UPDATE accord_couplings"):
        seen[0] += 1
        if seen[0] == nth:
            os.kill(os.getpid(), signal.SIGINT)  # lands inside the driver call's handling


try:
    with accord.Project.load(config) as project:
        sa.event.listen(project.store.engine, "after_cursor_execute", interrupt)
        project.sync(full=True)
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)
"""


@pytest.mark.parametrize("nth", [1, 2])
def test_ctrl_c_inside_a_state_store_statement(nth: int, tmp_path: Path) -> None:
    config = build_demo(tmp_path / "world", records=RECORDS).config_path
    original = original_keys(config)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(config), str(nth)],
        cwd=config.parent,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=default_sigint,
    )
    took = time.monotonic() - started
    check_interrupted(config, done.returncode, done.stderr, f"after {took:.1f}s")
    check_finished(config, original)
