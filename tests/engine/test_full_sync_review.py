"""``sync --full`` follows the review: couple what matches first, then create the rest."""

from __future__ import annotations

from accord.model import Action, Direction, JobType
from tests.engine.conftest import World
from tests.engine.test_match import account, criteria, customer
from tests.engine.test_sync import coupled_pairs


def test_full_sync_couples_matching_records_instead_of_duplicating_them(world_factory):
    world = world_factory(update_conflict="send")  # the local side wins where pairs differ
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Shared One", "Oslo")
    customer(world, "C00002", "Shared Two", "Oslo")
    customer(world, "C00003", "Only Local", "Oslo")
    account(world, "acc-1", "shared one")  # case-insensitive by default
    account(world, "acc-2", "Shared Two")
    account(world, "acc-3", "Only Remote")
    with world.project() as p:
        run = p.sync(full=True)
        assert run.ok, run.by_mapping()
        pairs = coupled_pairs(p, "CUSTOMER")
        assert pairs["C00001"] == "acc-1" and pairs["C00002"] == "acc-2"
        assert len(pairs) == 4  # + one created each way for the records only on one side
        assert len(world.crm.rows("account")) == 4 and len(world.erp.rows("customer")) == 4
        matching = [j for j in run.jobs if j.type is JobType.COUPLE]
        assert [j.mapping for j in matching] == ["CUSTOMER"]
        assert matching[0].counters.coupled == 2 and matching[0].counters.failed == 0
        # the bidirectional fields of the matched pairs now agree
        assert world.crm.get("account", "acc-1")["address1_city"] == "Oslo"
        assert world.crm.get("account", "acc-1")["name"] == "Shared One"
        assert p.sync().totals().written == 0


def test_matched_pairs_that_differ_are_conflicts_under_policy_none(world: World):
    """Never synchronized, both sides "changed": nothing is overwritten, a person decides."""
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Shared", "Oslo")
    account(world, "acc-1", "Shared", "Rome")
    with world.project() as p:
        run = p.sync(full=True)
        assert coupled_pairs(p, "CUSTOMER") == {"C00001": "acc-1"}
        assert run.totals().failed >= 1
        (conflict,) = p.conflicts()
        assert [(f.field, f.local, f.integration) for f in conflict.fields] == [
            ("city", "Oslo", "Rome")
        ]
        assert world.crm.get("account", "acc-1")["address1_city"] == "Rome"


def twins(world: World) -> None:
    """Matching on name; one customer "Twin", two accounts "Twin": an ambiguous match."""
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Twin")
    account(world, "acc-1", "Twin")
    account(world, "acc-2", "Twin")


def test_ambiguous_matches_are_held_back_not_duplicated(world: World):
    twins(world)
    customer(world, "C00002", "Solo")
    account(world, "acc-3", "Other")
    with world.project() as p:
        with p.dry_run() as plan:
            planned = p.sync(full=True)
        run = p.sync(full=True)
        assert [j.counters.as_dict() for j in planned.jobs] == [
            j.counters.as_dict() for j in run.jobs
        ]
        assert not run.ok  # the ambiguous record is a failure of the matching job
        pairs = coupled_pairs(p, "CUSTOMER")
        assert "C00001" not in pairs and not {"acc-1", "acc-2"} & set(pairs.values())
        assert len(world.crm.rows("account")) == 4  # Solo created; no third "Twin"
        assert len(world.erp.rows("customer")) == 3  # Other created; neither Twin copied
        held = [c for c in plan.changes if c.action is Action.SKIP and "ambiguous" in c.reason]
        assert sorted(c.key for c in held) == ["C00001", "acc-1", "acc-2"]


def test_no_match_option_keeps_the_plain_full_sync(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Shared")
    account(world, "acc-1", "Shared")
    with world.project() as p:
        run = p.sync(full=True, match_first=False)
        assert all(j.type is JobType.SYNC for j in run.jobs)
        assert len(coupled_pairs(p, "CUSTOMER")) == 2  # both copied: what --no-match means


def test_resolve_all_settles_every_conflict_of_a_mapping(world: World):
    criteria(world, name="priority = 0")
    for i in (1, 2):
        customer(world, f"C0000{i}", f"Shared {i}", "Oslo")
        account(world, f"acc-{i}", f"Shared {i}", "Rome")
    with world.project() as p:
        p.sync(full=True)
        assert len(p.conflicts()) == 2
        assert p.resolve("CUSTOMER", None, Direction.FROM_INTEGRATION).ok
        assert p.conflicts() == []
        assert {r["city"] for r in world.erp.rows("customer").values()} == {"Rome"}
        assert p.sync().totals().written == 0
        assert p.resolve("CUSTOMER", None, Direction.TO_INTEGRATION).jobs == []  # none left


def test_uncoupled_records_are_matched_even_when_stale_couplings_hide_them(world: World):
    # Couplings whose record was deleted still count as coupled: by the counts alone,
    # every CRM account looks coupled, and the twins would be copied both ways.
    twins(world)
    customer(world, "C00002", "Solo")
    customer(world, "C00003", "Solo too")
    with world.project() as p:
        p.sync(full=True)  # the twins are held back; the solos get accounts
        for c in p.couplings("CUSTOMER"):
            world.crm.delete("account", c.integration_key)  # two stale couplings
        (line,) = p.review(["CUSTOMER"])
        assert (line.local_records, line.integration_records, line.coupled) == (3, 2, 2)
        assert line.matches_first
        run = p.sync(full=True)
        pairs = coupled_pairs(p, "CUSTOMER")
        assert "C00001" not in pairs and not {"acc-1", "acc-2"} & set(pairs.values())
        assert sorted(world.crm.rows("account")) == ["acc-1", "acc-2"]  # no third twin
        assert len(world.erp.rows("customer")) == 3  # neither account copied
        assert p.sync(full=True).totals().written == 0
    assert any(j.type is JobType.COUPLE for j in run.jobs)


def test_a_fully_coupled_side_needs_no_matching(world: World):
    criteria(world, name="priority = 0")
    customer(world, "C00001", "Shared")
    account(world, "acc-1", "Shared")
    with world.project() as p:
        p.sync(full=True)
        customer(world, "C00002", "Only local")  # uncoupled on one side only
        (line,) = p.review(["CUSTOMER"])
        assert not line.matches_first
        run = p.sync(full=True)
    assert not any(j.type is JobType.COUPLE for j in run.jobs)
    assert len(world.crm.rows("account")) == 2
