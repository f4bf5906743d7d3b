"""Renamed keys (issue 9 class 7) on the in-memory systems, state on SQLite and PostgreSQL."""

from __future__ import annotations

from accord.model import Action
from tests.engine.conftest import World
from tests.engine.test_sync import coupled_pairs, full, seed


def rename(db, table: str, old: str, new: str) -> None:
    """Give a record a new key, every other value the same (an ERP renumbering)."""
    values = db.get(table, old)
    db.delete(table, old)
    db.put(table, new, values)


def test_a_renamed_local_key_is_not_created_again_nor_restored(world_factory):
    world: World = world_factory(deletion_conflict="restore")
    seed(world)
    with world.project() as p:
        full(p)
        pairs = coupled_pairs(p, "CUSTOMER")
        rename(world.erp, "customer", "C00002", "C90002")
        accounts, customers = len(world.crm.rows("account")), len(world.erp.rows("customer"))

        with p.dry_run() as plan:
            p.sync(full=True)
        assert not [c for c in plan.changes if c.action is Action.INSERT]
        run = p.sync(full=True)

        assert not run.ok  # a person must re-couple it
        assert len(world.crm.rows("account")) == accounts  # no second account
        assert len(world.erp.rows("customer")) == customers  # C00002 not restored
        assert world.erp.get("customer", "C00002") is None
        assert coupled_pairs(p, "CUSTOMER") == pairs
        (problem,) = p.errors("CUSTOMER")
        assert (problem.local_key, problem.integration_key) == ("C00002", pairs["C00002"])
        assert f"accord couple CUSTOMER C90002 --to {pairs['C00002']}" in problem.message
        counters = run.by_mapping()["CUSTOMER"]
        assert counters.inserted == 0 and counters.skipped == 2 and counters.failed == 1

        p.couple("CUSTOMER", "C90002", pairs["C00002"])
        assert p.sync().ok
        assert world.crm.get("account", pairs["C00002"])["accountnumber"] == "C90002"
        assert full(p).totals().inserted == 0 and p.errors("CUSTOMER") == []


def test_a_renamed_integration_key_is_not_created_in_the_erp(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        local = next(k for k, v in coupled_pairs(p, "CUSTOMER").items() if v == "acc-1")
        rename(world.crm, "account", "acc-1", "acc-9")
        customers = len(world.erp.rows("customer"))

        run = p.sync(full=True)

        assert len(world.erp.rows("customer")) == customers
        problems = {(e.local_key, e.integration_key): e.message for e in p.errors("CUSTOMER")}
        assert any("it looks like acc-1 renamed to acc-9" in m for m in problems.values())
        assert f"accord couple CUSTOMER {local} --to acc-9" in problems[(local, "acc-1")]
        assert not run.ok


def test_a_new_record_like_a_coupled_one_is_created_when_nothing_is_gone(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        twin = dict(world.erp.get("customer", "C00002"))
        world.erp.put("customer", "C00099", twin)  # same values, but C00002 still exists

        run = p.sync(full=True)

        assert run.ok and run.by_mapping()["CUSTOMER"].inserted == 1
        assert "C00099" in coupled_pairs(p, "CUSTOMER")
