"""Update and deletion conflicts on a bidirectional mapping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from accord import Project
from accord.errors import UsageError
from accord.model import Direction
from tests.engine.conftest import World
from tests.engine.test_sync import coupled_pairs, full, seed


@contextmanager
def synced(world: World) -> Iterator[Project]:
    """A project whose systems were seeded and fully synchronized."""
    seed(world)
    with world.project() as p:
        full(p)
        yield p


@contextmanager
def both_edited(world: World) -> Iterator[tuple[Project, str]]:
    """Both sides change the same bidirectional field of C00001 (the city) differently."""
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00001"]
        world.erp.put("customer", "C00001", {"city": "Bergen"})
        world.crm.put("account", remote, {"address1_city": "Milan"})
        yield p, remote


@contextmanager
def counterpart_deleted(world: World) -> Iterator[tuple[Project, str]]:
    """C00004's account is deleted in the CRM, then C00004 changes in the ERP."""
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00004"]
        world.crm.delete("account", remote)
        world.erp.put("customer", "C00004", {"city": "Tromsø"})
        yield p, remote


def test_conflict_none_fails_naming_fields_and_values(world_factory):
    world = world_factory(update_conflict="none")
    with both_edited(world) as (p, remote):
        run = p.sync(["CUSTOMER"])
        to_job, from_job = run.jobs
        assert to_job.counters.failed == 1 and from_job.counters.failed == 1
        message = p.job(to_job.id).errors[0].message
        assert "address1_city" in message and "Bergen" in message and "Milan" in message
        # neither side was overwritten
        assert world.erp.get("customer", "C00001")["city"] == "Bergen"
        assert world.crm.get("account", remote)["address1_city"] == "Milan"


def test_conflict_send_local_wins(world_factory):
    world = world_factory(update_conflict="send")
    with both_edited(world) as (p, remote):
        assert p.sync(["CUSTOMER"]).ok
        assert world.crm.get("account", remote)["address1_city"] == "Bergen"
        assert world.erp.get("customer", "C00001")["city"] == "Bergen"
        assert p.sync().totals().written == 0


def test_conflict_get_integration_wins(world_factory):
    world = world_factory(update_conflict="get")
    with both_edited(world) as (p, remote):
        run = p.sync(["CUSTOMER"])
        assert run.jobs[0].counters.skipped == 1
        assert world.erp.get("customer", "C00001")["city"] == "Milan"
        assert world.crm.get("account", remote)["address1_city"] == "Milan"
        assert p.sync().totals().written == 0


def test_both_changed_without_a_differing_bidirectional_field_is_not_a_conflict(world):
    """Reference §2.6: only a differing bidirectional field makes a conflict."""
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00002"]
        world.erp.put("customer", "C00002", {"credit_limit": 999})  # to-integration only
        world.crm.put("account", remote, {"statecode": 0})  # touched, same values
        run = p.sync(["CUSTOMER"])
        assert run.ok, [p.job(j.id).errors for j in run.jobs]
        assert world.crm.get("account", remote)["creditlimit"] == 999
        assert p.sync().totals().written == 0


def test_deleted_counterpart_fails_by_default(world):
    with counterpart_deleted(world) as (p, _):
        run = p.sync(["CUSTOMER"])
        assert run.jobs[0].counters.failed == 1
        assert "deleted record" in p.job(run.jobs[0].id).errors[0].message


def test_deleted_counterpart_restored(world_factory):
    world = world_factory(deletion_conflict="restore")
    with counterpart_deleted(world) as (p, remote):
        run = p.sync(["CUSTOMER"])
        assert run.jobs[0].counters.inserted == 1 and run.ok
        new_remote = coupled_pairs(p, "CUSTOMER")["C00004"]
        assert new_remote != remote
        assert world.crm.get("account", new_remote)["address1_city"] == "Tromsø"


def test_deleted_counterpart_uncoupled(world_factory):
    world = world_factory(deletion_conflict="uncouple")
    with counterpart_deleted(world) as (p, _):
        run = p.sync(["CUSTOMER"])
        assert run.jobs[0].counters.uncoupled == 1
        assert "C00004" not in coupled_pairs(p, "CUSTOMER")


def test_winning_side_does_not_lose_the_other_sides_one_way_changes(world_factory):
    """With `get`, the CRM wins the city, but the ERP's credit limit (to-only) still flows."""
    world = world_factory(update_conflict="get")
    with both_edited(world) as (p, remote):
        world.erp.put("customer", "C00001", {"credit_limit": 4321})
        run = p.sync(["CUSTOMER"])
        assert run.ok, [p.job(j.id).errors for j in run.jobs]
        assert world.erp.get("customer", "C00001")["city"] == "Milan"
        account = world.crm.get("account", remote)
        assert account["address1_city"] == "Milan"
        assert account["creditlimit"] == 4321
        assert p.sync().totals().written == 0


# -- merge: a field-level three-way merge against the values of the last sync ---------------
def test_merge_takes_each_side_s_own_changes(world_factory):
    """Different fields changed on each side: both edits survive, nothing fails."""
    world = world_factory(update_conflict="merge")
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00001"]
        world.erp.put("customer", "C00001", {"city": "Bergen"})
        world.crm.put("account", remote, {"name": "Renamed in CRM"})
        run = p.sync(["CUSTOMER"])
        assert run.ok, run.by_mapping()
        assert world.erp.get("customer", "C00001")["city"] == "Bergen"
        assert world.erp.get("customer", "C00001")["name"] == "Renamed in CRM"
        assert world.crm.get("account", remote)["address1_city"] == "Bergen"
        assert world.crm.get("account", remote)["name"] == "Renamed in CRM"
        assert p.sync().totals().written == 0


def test_merge_fails_only_when_the_same_field_changed_on_both_sides(world_factory):
    world = world_factory(update_conflict="merge")
    with both_edited(world) as (p, remote):
        run = p.sync(["CUSTOMER"])
        assert run.totals().failed >= 1
        message = p.job(run.jobs[0].id).errors[0].message
        assert "address1_city" in message and "Bergen" in message and "Milan" in message
        assert "at last sync" in message  # the base value is shown
        assert world.erp.get("customer", "C00001")["city"] == "Bergen"
        assert world.crm.get("account", remote)["address1_city"] == "Milan"


def test_merge_with_the_same_new_value_on_both_sides_is_not_a_conflict(world_factory):
    world = world_factory(update_conflict="merge")
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00002"]
        world.erp.put("customer", "C00002", {"city": "Oslo", "name": "Same Name"})
        world.crm.put("account", remote, {"address1_city": "Oslo"})
        assert p.sync(["CUSTOMER"]).ok
        assert world.crm.get("account", remote)["name"] == "Same Name"
        assert world.erp.get("customer", "C00002")["city"] == "Oslo"


def test_merge_keeps_the_base_across_runs(world_factory):
    """After a merged run, the next edits merge against the new agreed values."""
    world = world_factory(update_conflict="merge")
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00003"]
        world.erp.put("customer", "C00003", {"city": "Bergen"})
        world.crm.put("account", remote, {"name": "First"})
        assert p.sync(["CUSTOMER"]).ok
        world.erp.put("customer", "C00003", {"name": "Second"})
        world.crm.put("account", remote, {"address1_city": "Milan"})
        assert p.sync(["CUSTOMER"]).ok
        local, account = world.erp.get("customer", "C00003"), world.crm.get("account", remote)
        assert (local["name"], local["city"]) == ("Second", "Milan")
        assert (account["name"], account["address1_city"]) == ("Second", "Milan")


# -- listing and resolving ------------------------------------------------------------------
def test_open_conflicts_list_both_values_and_resolve_settles_them(world_factory):
    world = world_factory(update_conflict="none")
    with both_edited(world) as (p, remote):
        p.sync(["CUSTOMER"])
        (found,) = p.conflicts()
        assert (found.mapping, found.local_key, found.integration_key) == (
            "CUSTOMER",
            "C00001",
            remote,
        )
        (field,) = found.fields
        assert (field.field, field.integration_field) == ("city", "address1_city")
        assert (field.local, field.integration) == ("Bergen", "Milan")
        assert not field.known_base  # only the merge policy keeps the base

        run = p.resolve("CUSTOMER", [remote], Direction.FROM_INTEGRATION)  # either key names it
        assert run.ok
        assert world.erp.get("customer", "C00001")["city"] == "Milan"
        assert p.conflicts() == []
        assert p.sync().totals().written == 0 and p.sync().ok


def test_resolve_send_releases_a_quarantined_conflict(world_factory):
    world = world_factory(update_conflict="none")
    with both_edited(world) as (p, remote):
        for _ in range(3):  # the same conflict twice in a row quarantines it
            p.sync(["CUSTOMER"])
        (found,) = p.conflicts("CUSTOMER")
        assert found.skipped
        assert p.resolve("CUSTOMER", ["C00001"], Direction.TO_INTEGRATION).ok
        assert world.crm.get("account", remote)["address1_city"] == "Bergen"
        assert not p.store.get_coupling("CUSTOMER", local_key="C00001").skipped
        assert p.conflicts() == []


def test_merge_conflicts_show_the_value_at_the_last_sync(world_factory):
    world = world_factory(update_conflict="merge")
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00001"]
        before = world.erp.get("customer", "C00001")["city"]
        world.erp.put("customer", "C00001", {"city": "Bergen"})
        world.crm.put("account", remote, {"address1_city": "Milan"})
        p.sync(["CUSTOMER"])
        (found,) = p.conflicts()
        (field,) = found.fields
        assert field.known_base and field.at_last_sync == before


def test_resolve_refuses_what_cannot_be_resolved(world_factory):
    world = world_factory(update_conflict="none")
    with synced(world) as p:
        with pytest.raises(UsageError, match="not coupled"):
            p.resolve("CUSTOMER", ["NOPE"], Direction.TO_INTEGRATION)
        with pytest.raises(UsageError, match="to-integration: no conflicts"):
            p.resolve("CURRENCY", ["EUR"], Direction.TO_INTEGRATION)


def test_merge_on_a_coarse_clock_carries_both_edits(world_factory):
    """Found by the convergence machine with a CRM clock of whole seconds. Both sides edit
    other fields of a pair, all in one tick of the CRM's clock: the to-integration pass writes
    the ERP's edit and leaves the CRM's for the opposite pass. Its write carries the very
    version the coupling still holds for the CRM, so it must not be handed on as an echo of
    Accord's own write (the CRM's edit would be skipped and lost)."""
    world = world_factory(update_conflict="merge")
    world.crm.clock.resolution = timedelta(days=1)  # every CRM stamp of this test is one tick
    with synced(world) as p:
        remote = coupled_pairs(p, "CUSTOMER")["C00001"]
        world.erp.put("customer", "C00001", {"name": "Renamed in the ERP"})
        world.crm.put("account", remote, {"address1_city": "Moved in the CRM"})
        run = p.sync(["CUSTOMER"], full=True)  # a full sync hands its echoes to the next pass
        assert run.ok, [(j.direction, j.status, j.message) for j in run.jobs]
    erp = world.erp.rows("customer")["C00001"]
    crm = world.crm.rows("account")[remote]
    assert (erp["name"], erp["city"]) == ("Renamed in the ERP", "Moved in the CRM")
    assert (crm["name"], crm["address1_city"]) == ("Renamed in the ERP", "Moved in the CRM")
