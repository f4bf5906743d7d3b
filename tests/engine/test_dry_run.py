"""Dry runs: the real code path, nothing kept; the plan matches what the real run then does."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord import Project
from accord.errors import UsageError
from accord.model import Action, Direction
from accord.testing import drop_database
from tests.engine.conftest import World, make_world
from tests.engine.test_conflicts import both_edited, synced
from tests.engine.test_sync import coupled_pairs, seed


def counters(run) -> list[tuple[str, object, dict[str, int]]]:
    return [(j.mapping, j.direction, j.counters.as_dict()) for j in run.jobs]


def snapshot(world: World, p: Project) -> tuple[object, ...]:
    return (
        world.erp.writes,
        world.crm.writes,
        {t: world.erp.rows(t) for t in ("currency", "customer")},
        {t: world.crm.rows(t) for t in ("transactioncurrency", "account")},
        {m: p.couplings(m, limit=10_000) for m in ("CURRENCY", "CUSTOMER")},
        p.jobs(limit=10_000),
    )


def test_dry_full_sync_changes_nothing_and_plans_what_the_run_does(world: World):
    seed(world)
    with world.project() as p:
        before = snapshot(world, p)
        with p.dry_run() as plan:
            dry = p.sync(full=True)
        assert snapshot(world, p) == before
        real = p.sync(full=True)
        assert counters(dry) == counters(real)
        inserted = {m: c.inserted for m, c in real.by_mapping().items()}
        assert {m: by.get("inserted", 0) for m, by in plan.counts().items()} == inserted
        insert = next(c for c in plan.changes if c.mapping == "CUSTOMER" and c.key == "C00001")
        assert insert.action is Action.INSERT and insert.direction is Direction.TO_INTEGRATION
        assert insert.fields["name"] == (None, "Local 1")
        # numbers of a key series are the same in the plan and in the run (GUIDs are new)
        created_locally = {
            c.target: c.key
            for c in plan.changes
            if c.action is Action.INSERT and c.direction is Direction.FROM_INTEGRATION
        }
        pairs = coupled_pairs(p, "CUSTOMER")
        assert created_locally and all(pairs[k] == v for k, v in created_locally.items())


def test_dry_run_lists_field_changes_before_and_after(world: World):
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00002"]
        world.erp.put("customer", "C00002", {"city": "Bergen"})
        with p.dry_run() as plan:
            dry = p.sync(["CUSTOMER"])
        assert world.crm.get("account", remote)["address1_city"] == "Oslo"
        (change,) = plan.changes
        assert (change.action, change.key, change.target) == (Action.MODIFY, "C00002", remote)
        assert change.fields == {"address1_city": ("Oslo", "Bergen")}
        assert counters(p.sync(["CUSTOMER"])) == counters(dry)


def test_dry_run_reports_failures_with_their_reason(world: World):
    with synced(world) as p:
        world.erp.put("customer", "C00003", {"name": "N" * 45})  # the CRM holds 40 characters
        with p.dry_run() as plan:
            dry = p.sync(["CUSTOMER"])
        (change,) = plan.changes
        assert change.action is Action.FAIL and "too long" in change.reason
        real = p.sync(["CUSTOMER"])
        assert counters(real) == counters(dry) and real.totals().failed == 1


def test_dry_run_marks_conflicts(world_factory):
    world = world_factory(update_conflict="none")
    with both_edited(world) as (p, _):
        with p.dry_run() as plan:
            p.sync(["CUSTOMER"])
        conflicts = [c for c in plan.changes if c.conflict]
        assert conflicts and all(c.action is Action.FAIL for c in conflicts)
        assert "update conflict" in conflicts[0].reason
        assert p.conflicts() == []  # nothing was recorded


def test_dry_couple_and_uncouple(world: World):
    with synced(world) as p:
        pairs = coupled_pairs(p, "CUSTOMER")
        local, remote = next(iter(pairs.items()))
        with p.dry_run() as plan:
            p.uncouple("CUSTOMER", [local])
            p.couple("CUSTOMER", local, remote)
            p.uncouple("CUSTOMER", all=True)
        actions = [(c.action, c.key) for c in plan.changes]
        assert actions[:2] == [(Action.UNCOUPLE, local), (Action.COUPLE, local)]
        assert sorted(k for a, k in actions[2:] if a is Action.UNCOUPLE) == sorted(pairs)
        assert coupled_pairs(p, "CUSTOMER") == pairs


def test_dry_run_of_a_new_project_leaves_no_state_store(tmp_path: Path):
    state = tmp_path / "fresh" / "state.db"
    world = make_world(tmp_path / "w", f"sqlite:///{state}")
    try:
        seed(world)
        with world.project() as p, p.dry_run():
            assert p.sync(full=True).ok
        assert not state.parent.exists()  # neither the file nor its folder
    finally:
        for url in world.urls:
            drop_database(url)


def test_dry_runs_do_not_nest(world: World):
    with world.project() as p, p.dry_run(), pytest.raises(UsageError), p.dry_run():
        pass
