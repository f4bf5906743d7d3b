"""Fencing: a run stalled past its lease and taken over stops, and writes nothing more.

Real ``accord sync --full`` processes on a demo world with a one-second lease
(``[state] lease_seconds = 1``). The first run pauses itself with SIGSTOP at an engine pause
point (``ACCORD_TEST_KILL_SIGNAL=STOP``): before its first write, right after proving its
lease (the window between the proof and the write), or after writing but before recording
it. A second run waits for the lease to expire, takes the mappings over and finishes. Then
the first run is resumed with SIGCONT: it must stop with exit code 3 and a "lease lost"
message, leave both systems exactly as the second run left them, and leave every record
coupled once, with no duplicate. No timing is asserted: the pause is where the point is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

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
    system_rows,
)
from tests.reliability.test_kill import UNIQUE_COLUMNS
from tests.services import postgresql_schema

RECORDS = 300
DEFAULT_STATE = 'url = "sqlite:///.accord/state.db"'


def short_lease_world(directory: Path, state_line: str = DEFAULT_STATE) -> Path:
    config = build_demo(directory, records=RECORDS).config_path
    text = config.read_text()
    assert DEFAULT_STATE in text
    config.write_text(text.replace(DEFAULT_STATE, f"{state_line}\nlease_seconds = 1", 1))
    return config


def pause_at(config: Path, point: str, log: Path) -> subprocess.Popen[bytes]:
    """``accord sync --full``, stopped (SIGSTOP) by itself at ``point``; returns once stopped."""
    with log.open("w") as err:
        child = subprocess.Popen(
            [executable(), "sync", "--full", "-c", str(config)],
            cwd=config.parent,
            env=child_env({ENV: point, SIGNAL_ENV: "STOP"}),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    _, status = os.waitpid(child.pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        raise AssertionError(f"the run ended instead of pausing at {point}: {child.returncode}")
    return child


def job_rows(config: Path) -> list[sa.Row[tuple[str, str, str]]]:
    engine = sa.create_engine(state_url(config), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(jobs.c.mapping, jobs.c.status, jobs.c.message)))
    finally:
        engine.dispose()


def lease_rows(config: Path) -> int:
    engine = sa.create_engine(state_url(config), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(leases)).scalar_one())
    finally:
        engine.dispose()


PAUSES = [
    "pass.read:1",  # read its first batch, nothing proved or written yet
    "pass.pending:1",  # pending couplings committed (lease proved with them), not written
    "pass.proved:1",  # lease proved for the chunk: the write comes next (the window)
    "pass.written:1",  # written, not recorded in the state store yet
]


@pytest.mark.parametrize("point", PAUSES)
def test_a_run_stalled_past_its_lease_stops_when_resumed(point: str, tmp_path: Path) -> None:
    config = short_lease_world(tmp_path / "world")
    check_fenced(config, point, tmp_path)


@pytest.mark.postgresql
def test_fencing_with_the_state_store_on_postgresql(tmp_path: Path) -> None:
    with postgresql_schema() as url:
        config = short_lease_world(tmp_path / "world", f'url = "{url}"')
        check_fenced(config, "pass.proved:1", tmp_path)


def check_fenced(config: Path, point: str, tmp_path: Path) -> None:
    original = original_keys(config)
    stalled_log = tmp_path / "stalled.stderr"
    stalled = pause_at(config, point, stalled_log)
    try:
        # The stalled run's lease expires; this run waits for that, takes over, finishes.
        took_over = run_accord("sync", "--full", "--wait", "120", "-c", config, cwd=config.parent)
        assert took_over.returncode == 0, took_over.stderr
        left = system_rows(config)
    finally:
        os.kill(stalled.pid, signal.SIGCONT)
    assert stalled.wait(timeout=120) == 3, stalled_log.read_text()
    err = stalled_log.read_text()
    assert "lease lost" in err and "CURRENCY" in err, err  # the mapping it was working on
    assert "Traceback" not in err, err
    assert system_rows(config) == left  # resumed, it wrote nothing more
    snapshot = Snapshot.take(config, original)
    assert coupling_problems(snapshot) == []  # every record coupled once, nothing pending
    assert duplicates(snapshot, UNIQUE_COLUMNS) == []
    statuses = [(m, s, msg) for m, s, msg in job_rows(config)]
    assert not [j for j in statuses if j[1] == "running"], statuses
    fenced = [j for j in statuses if j[1] == "interrupted"]
    assert len(fenced) == 1 and fenced[0][0] == "CURRENCY", statuses
    assert fenced[0][2].startswith("lease lost"), fenced
    assert lease_rows(config) == 0  # both runs released what they held
    rerun = run_accord("sync", "--full", "--json", "-c", config, cwd=config.parent)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["totals"]["inserted"] == 0  # nothing was left to create
