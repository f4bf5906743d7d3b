"""Coupling one record by hand, synchronizing selected records, uncoupling."""

from __future__ import annotations

import pytest

from accord import Direction, UsageError
from accord.model import Action
from tests.engine.test_sync import coupled_pairs, full, seed


def test_couple_by_hand_then_sync_selected_record(world):
    seed(world)
    with world.project() as p:
        p.sync(["CURRENCY"], full=True)
        result = p.couple("CUSTOMER", "C00002", "acc-1", sync=Direction.TO_INTEGRATION)
        assert result.coupling.integration_key == "acc-1"
        assert result.sync is not None and result.sync.totals().modified == 1
    assert world.crm.get("account", "acc-1")["name"] == "Local 2"


def test_couple_is_one_to_one(world):
    seed(world)
    with world.project() as p:
        p.couple("CUSTOMER", "C00001", "acc-1")
        with pytest.raises(UsageError, match="already coupled"):
            p.couple("CUSTOMER", "C00002", "acc-1")
        with pytest.raises(UsageError, match="already coupled"):
            p.couple("CUSTOMER", "C00001", "acc-2")
        with pytest.raises(UsageError, match="has no record"):
            p.couple("CUSTOMER", "C99999", "acc-2")


def test_stale_coupling_to_a_deleted_record_is_replaced(world):
    seed(world)
    with world.project() as p:
        p.couple("CUSTOMER", "C00001", "acc-1")
        world.crm.delete("account", "acc-1")
        result = p.couple("CUSTOMER", "C00001", "acc-2")
        assert result.replaced is not None and result.replaced.integration_key == "acc-1"
        assert coupled_pairs(p, "CUSTOMER") == {"C00001": "acc-2"}


def test_couple_create_new(world):
    seed(world)
    with world.project() as p:
        p.sync(["CURRENCY"], full=True)
        result = p.couple("CUSTOMER", "C00003", create_new=True)
        assert result.created
        account = world.crm.get("account", result.coupling.integration_key)
        assert account is not None and account["name"] == "Local 3"


def test_sync_selected_records_needs_a_direction_when_bidirectional(world):
    seed(world)
    with world.project() as p:
        full(p)
        with pytest.raises(UsageError, match="--direction"):
            p.sync(["CUSTOMER"], records=["C00001"])
        remote = coupled_pairs(p, "CUSTOMER")["C00001"]
        world.crm.put("account", remote, {"name": "CRM name"})
        run = p.sync(["CUSTOMER"], records=["C00001"], direction=Direction.TO_INTEGRATION)
        assert run.totals().modified == 1
        assert world.crm.get("account", remote)["name"] == "Local 1"  # forced one way
        run = p.sync(["CUSTOMER"], records=["C00001", "C00404"], direction=Direction.TO_INTEGRATION)
        assert run.totals().failed == 1
        assert "not found" in p.job(run.jobs[0].id).errors[0].message


def test_uncouple_keys_and_all(world):
    seed(world)
    with world.project() as p:
        full(p)
        remote = coupled_pairs(p, "CUSTOMER")["C00002"]
        with pytest.raises(UsageError, match="no coupling for 'nope': nothing was uncoupled"):
            p.uncouple("CUSTOMER", ["C00001", remote, "nope"])
        assert len(coupled_pairs(p, "CUSTOMER")) == 8
        # both keys of C00002's pair name one coupling: counted once
        job = p.uncouple("CUSTOMER", ["C00001", remote, "C00002"])
        assert job.counters.uncoupled == 2 and job.counters.skipped == 0
        assert set(coupled_pairs(p, "CUSTOMER")) == {
            "C00003",
            "C00004",
            "C00005",
            "C00006",
            "C00007",
            "C00008",
        }
        job = p.uncouple("CUSTOMER", all=True)
        assert job.counters.uncoupled == 6
        assert coupled_pairs(p, "CUSTOMER") == {}
    # records stay
    assert len(world.erp.rows("customer")) == 8


def test_couple_create_new_refuses_a_record_outside_the_filters(world_factory):
    """Issue 9 class 14: a counterpart no sync would keep is refused, the filter named."""
    w = world_factory(table_filter="blocked eq ''")
    seed(w)
    w.erp.put("customer", "C00003", {"blocked": "all"})
    with w.project() as p:
        p.sync(["CURRENCY"], full=True)
        accounts = len(w.crm.rows("account"))
        with pytest.raises(UsageError, match=r"outside the table_filter .*\(blocked eq ''\)"):
            p.couple("CUSTOMER", "C00003", create_new=True)
        assert len(w.crm.rows("account")) == accounts and not coupled_pairs(p, "CUSTOMER")

        result = p.couple("CUSTOMER", "C00003", create_new=True, force=True)
        assert result.created and len(w.crm.rows("account")) == accounts + 1
        with p.dry_run() as plan:
            p.sync(["CUSTOMER"], full=True)
        # the blocked record is not sent again, nor its counterpart brought back as a new one
        assert [c.key for c in plan.changes if c.action is Action.INSERT].count("C00003") == 0
        assert result.coupling.integration_key not in [
            c.key for c in plan.changes if c.action is Action.INSERT
        ]


def test_couple_create_new_refuses_a_counterpart_outside_the_integration_filter(world):
    seed(world)
    text = world.path.read_text()
    world.path.write_text(
        text.replace(
            '{ constant = 0, integration_field = "statecode"',
            '{ constant = 1, integration_field = "statecode"',
        )
    )
    with world.project() as p:
        p.sync(["CURRENCY"], full=True)
        with pytest.raises(UsageError, match=r"integration_table_filter .*\(statecode eq 0\)"):
            p.couple("CUSTOMER", "C00001", create_new=True)
        assert not coupled_pairs(p, "CUSTOMER")
