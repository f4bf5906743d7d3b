"""Crash safety: real ``accord`` processes killed with SIGKILL at many moments, then rerun.

Each test builds a demo world (SQLite ERP and CRM, the state store on SQLite or PostgreSQL)
and runs one action against it in a child process again and again, killing the child each
time, at an engine kill point (``ACCORD_TEST_KILL_AT``: after reading a batch, after the
pending couplings are committed, after the destination write, after the batch's state commit,
before and after saving a job, before and after match-based coupling writes couplings, while
uncoupling) or after a random delay, then lets it finish. The result must be what a run never
killed makes from the same seed: the same records (none twice, none missing), the same values,
coupled the same way, 1:1, nothing pending, and no job left running.

The kill schedule comes from a seeded random generator: a failure names the seed and every
attempt. ``ACCORD_TEST_KILL_SCALE`` multiplies the number of kills (default 1: about 70).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from random import Random

import pytest

from accord.demo import build_demo
from tests.cli.support import run_accord
from tests.reliability.kill_support import (
    Campaign,
    KillPoint,
    Snapshot,
    Via,
    coupling_problems,
    duplicates,
    job_statuses,
    original_keys,
    random_point,
    run_child,
    system_rows,
)
from tests.services import postgresql_schema

RECORDS = 1000
WORLD_SEED = 42
SCALE = max(1, int(os.environ.get("ACCORD_TEST_KILL_SCALE", "1")))
SMALL_BATCHES = 200

UNIQUE_COLUMNS = [
    ("erp.customer", "name"),
    ("crm.account", "name"),
    ("crm.account", "accountnumber"),
    ("erp.contact", "email"),
    ("crm.contact", "emailaddress1"),
]
"""Columns the demo generates unique values in: a duplicate record repeats one."""

RUNNING_AFTER = {
    "pass.read": 1,
    "pass.pending": 1,
    "pass.written": 1,
    "pass.committed": 1,
    "pass.finishing": 1,
    "pass.finished": 0,
    "match.coupling": 1,
    "match.coupled": 1,
    "uncouple.started": 1,
    "uncouple.deleting": 1,
    "uncouple.done": 0,
}
"""Jobs a process killed at each phase leaves running: the job of the pass (or coupling run)
it was in, none once that job was saved."""


# -- worlds ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """A world from one seed, fully synchronized by one run that nobody killed."""

    original: dict[str, frozenset[str]]
    snapshot: Snapshot
    took: float


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The world every sync test starts from, synchronized once by a run never killed."""
    world = build_demo(tmp_path_factory.mktemp("reference"), records=RECORDS, seed=WORLD_SEED)
    original = original_keys(world.config_path)
    log = world.directory / "sync.log"
    code, took = run_child("sync", world.config_path, Via(cli=True), None, log)
    assert code == 0, log.read_text()
    return Reference(original, Snapshot.take(world.config_path, original), took)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def state(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """Where the state store lives: None for the demo's SQLite file, else a PostgreSQL URL."""
    if request.param == "sqlite":
        yield None
        return
    with postgresql_schema() as url:
        yield url


def world(directory: Path, state_url: str | None) -> Path:
    config = build_demo(directory, records=RECORDS, seed=WORLD_SEED).config_path
    if state_url is not None:
        text = config.read_text()
        default = 'url = "sqlite:///.accord/state.db"'
        assert default in text
        config.write_text(text.replace(default, f'url = "{state_url}"', 1))
    return config


def via(rng: Random, *, match: bool = True) -> Via:
    """The console script (one batch per pass) or the API with small batches (many)."""
    if rng.random() < 0.4:
        return Via(cli=True, match=match)
    return Via(cli=False, batch_size=SMALL_BATCHES, match=match)


# -- checks ---------------------------------------------------------------------------------
def check_jobs(campaign: Campaign) -> None:
    """One more command ran after the last kill: no job is running, the killed ones say so."""
    done = run_accord("jobs", "-c", campaign.config, cwd=campaign.config.parent)
    assert done.returncode == 0, done.stderr
    statuses = job_statuses(campaign.config)
    running = [j for j, s in statuses.items() if s == "running"]
    assert not running, campaign.failure(f"{len(running)} job(s) still running: {running}")
    for attempt in campaign.kills:
        assert attempt.point is not None
        expected = RUNNING_AFTER.get(attempt.point.phase or "")
        if expected is None:  # killed after a delay: in a job, or between two
            assert len(attempt.left_running) <= 1, campaign.failure(str(attempt))
        else:
            assert len(attempt.left_running) == expected, campaign.failure(str(attempt))
        for job_id in attempt.left_running:
            assert statuses[job_id] == "interrupted", campaign.failure(
                f"job {job_id} left by the attempt {attempt} is {statuses[job_id]}"
            )
    assert set(statuses.values()) <= {"ok", "interrupted"}, Counter(statuses.values())
    print(campaign.summary())  # shown with -s or -rP


def check_world(campaign: Campaign, ref: Reference) -> None:
    snapshot = Snapshot.take(campaign.config, ref.original)
    problems = (
        snapshot.differences(ref.snapshot)
        + coupling_problems(snapshot)
        + duplicates(snapshot, UNIQUE_COLUMNS)
    )
    assert not problems, campaign.failure("\n".join(problems))


# -- the tests ------------------------------------------------------------------------------
SYNC_PHASES = {  # n up to about how often a run reaches the phase: (CLI, API) in a new world
    "pass.read": (12, 40),  # once coupled, no run reaches pass.pending or pass.written
    "pass.pending": (8, 20),
    "pass.written": (10, 24),
    "pass.committed": (12, 36),
    "pass.finishing": (11, 11),
    "pass.finished": (11, 11),
}


@pytest.mark.parametrize(("seed", "match"), [(1, False), (2, False), (3, True)])
def test_full_sync_killed_again_and_again_ends_as_a_run_never_killed(
    seed: int, match: bool, reference: Reference, tmp_path: Path
) -> None:
    campaign = Campaign("sync", world(tmp_path / "world", None), Random(f"sync-{seed}"))
    kill_sync(campaign, reference, attempts=11 * SCALE, match=match)
    check_jobs(campaign)
    check_world(campaign, reference)


@pytest.mark.postgresql
def test_full_sync_killed_with_the_state_store_on_postgresql(
    reference: Reference, tmp_path: Path
) -> None:
    with postgresql_schema() as url:
        campaign = Campaign("sync", world(tmp_path / "world", url), Random("postgresql"))
        kill_sync(campaign, reference, attempts=7 * SCALE, match=False)
        check_jobs(campaign)
        check_world(campaign, reference)


def kill_sync(campaign: Campaign, ref: Reference, *, attempts: int, match: bool) -> None:
    """Every phase once early (small n: the world still has records to create), then at
    random phases and moments, then a run to the end.

    ``match=False``: no run couples records by their match criteria first, which would heal
    a record a killed run created without coupling it (see :class:`Via`).
    """
    rng = campaign.rng
    early = [KillPoint(phase, rng.randint(1, 3)) for phase in SYNC_PHASES]
    rng.shuffle(early)
    for point in early:
        campaign.attempt(point, via(rng, match=match))
    while len(campaign.attempts) < attempts:
        how = via(rng, match=match)
        ranges = {phase: n[0] if how.cli else n[1] for phase, n in SYNC_PHASES.items()}
        campaign.attempt(random_point(rng, ranges, ref.took, share=0.3), how)
    campaign.finish(via(rng, match=match))
    phases = campaign.phases()
    assert set(SYNC_PHASES) <= set(phases), campaign.failure(f"phases killed: {phases}")
    assert len(campaign.kills) >= attempts // 2, campaign.failure("too few kills")


UNCOUPLE_PHASES = ("uncouple.started", "uncouple.deleting", "uncouple.done")
MATCH_SYNC_PHASES = ("pass.read", "pass.committed", "pass.finishing")
"""Phases of the synchronization of the newly coupled records."""


def test_uncouple_then_match_killed_again_and_again(state: str | None, tmp_path: Path) -> None:
    rng = Random(f"couple-{state is None}")
    config = world(tmp_path / "world", state)
    original = original_keys(config)
    code, _ = run_child("sync", config, Via(cli=True), None, tmp_path / "sync.log")
    assert code == 0, (tmp_path / "sync.log").read_text()
    synced = Snapshot.take(config, original)
    rows = system_rows(config)

    # uncoupling: one transaction; killed, it happened entirely or not at all
    uncouple = Campaign("uncouple", config, rng)
    for phase in UNCOUPLE_PHASES:
        uncouple.attempt(KillPoint(phase), via(rng))
    for _ in range(2 * SCALE):
        uncouple.attempt(KillPoint(delay=rng.uniform(0.8, 1.6)), via(rng))
    uncouple.finish(via(rng))
    assert len(uncouple.kills) >= len(UNCOUPLE_PHASES), uncouple.failure("too few kills")
    check_jobs(uncouple)
    uncoupled = Snapshot.take(config, original)
    assert uncoupled.raw_couplings["CUSTOMER"] == [], uncouple.failure("couplings left")
    others = {m: c for m, c in synced.couplings.items() if m != "CUSTOMER"}
    assert {m: c for m, c in uncoupled.couplings.items() if m != "CUSTOMER"} == others
    assert system_rows(config) == rows, uncouple.failure("records changed")

    # match-based coupling: couplings in batches, then the new pairs synchronized; each round
    # starts from no coupling (a clean uncoupling) and kills it at every stage in turn
    match = Campaign("match", config, rng)
    small = Via(cli=False, batch_size=SMALL_BATCHES)  # several coupling batches
    rounds = 0
    while len(match.kills) < 6 * SCALE:
        rounds += 1
        assert rounds <= 4 * SCALE, match.failure("too few kills")
        if rounds > 1:
            code, _ = run_child("uncouple", config, via(rng), None, tmp_path / "uncouple.log")
            assert code == 0, (tmp_path / "uncouple.log").read_text()
        match.attempt(KillPoint("match.coupling", rng.randint(1, 3)), small)
        match.attempt(KillPoint("match.coupled", rng.randint(1, 2)), small)
        phase = MATCH_SYNC_PHASES[(rounds - 1) % len(MATCH_SYNC_PHASES)]
        match.attempt(KillPoint(phase, rng.randint(1, 2)), small)
        match.attempt(KillPoint(delay=rng.uniform(0.8, 2.5)), via(rng))
        match.finish(via(rng))
        matched = Snapshot.take(config, original)
        assert matched.couplings == synced.couplings, match.failure(
            "\n".join(matched.differences(synced))
        )
        assert not coupling_problems(matched), match.failure("\n".join(coupling_problems(matched)))
    killed_at = set(match.phases())
    assert {"match.coupling", "match.coupled"} <= killed_at, match.failure("phases missed")
    assert killed_at & set(MATCH_SYNC_PHASES), match.failure("never killed while synchronizing")
    check_jobs(match)
    assert system_rows(config) == rows, match.failure("records changed")


def test_a_kill_point_is_named_by_phase_and_count() -> None:
    from accord.testing import killpoints

    assert killpoints._target(None) is None and killpoints._target("") is None
    assert killpoints._target("pass.pending:3") == ("pass.pending", 3)
    for bad in ("pass.pending", "pass.pending:0", ":2", "pass.pending:x"):
        with pytest.raises(ValueError, match="ACCORD_TEST_KILL_AT"):
            killpoints._target(bad)
    killpoints.reached("pass.pending")  # unset in this process: nothing happens
