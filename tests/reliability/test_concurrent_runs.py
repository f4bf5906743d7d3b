"""Two ``accord sync`` processes on one state store: one runs, the other waits or stops.

Real processes, a real demo on SQLite files, the state store on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

import accord
from accord.demo import build_demo
from accord.state.tables import jobs
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
