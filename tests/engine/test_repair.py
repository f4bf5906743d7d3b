"""Failed, skipped and broken couplings: errors, find-deleted, retry, restore, delete, uncouple.

Reference §2.7 (deletions) and §2.8 (failure, skipped, retry, restore), on the in-memory
connector world with the state store on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest

from accord import Direction, JobType, Project, UsageError
from accord.engine.plan import Plan
from accord.engine.repair import Outcome
from accord.model import Action
from tests.engine.conftest import World
from tests.engine.test_sync import coupled_pairs, full, seed


def quarantine(world: World, p: Project, key: str = "C00001") -> None:
    """Make ``key`` fail with the same error twice in a row (skip_after = 2): skipped."""
    world.erp.put("customer", key, {"name": "Y" * 60})  # longer than crm.account.name (40)
    for _ in range(2):
        assert p.sync(["CUSTOMER"]).jobs[0].counters.failed == 1


def coupling(p: Project, local_key: str):
    c = p.store.get_coupling("CUSTOMER", local_key=local_key)
    assert c is not None
    return c


def test_quarantine_then_retry_then_the_next_sync_processes_it(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        quarantine(world, p)
        assert coupling(p, "C00001").skipped
        run = p.sync(["CUSTOMER"])
        assert run.jobs[0].counters.failed == 0  # not processed while skipped
        world.erp.put("customer", "C00001", {"name": "Short again"})
        run = p.sync(["CUSTOMER"])
        assert run.jobs[0].counters.skipped == 1 and run.jobs[0].counters.modified == 0

        result = p.retry("CUSTOMER", ["C00001"])
        assert result.ok and [o.outcome for o in result.outcomes] == [Outcome.RETRIED]
        c = coupling(p, "C00001")
        assert not c.skipped and c.repeats == 0
        assert p.errors("CUSTOMER")[0].state == "failed"  # still failed until synchronized

        run = p.sync(["CUSTOMER"])
        assert run.jobs[0].counters.modified == 1 and run.ok
        assert world.crm.get("account", c.integration_key)["name"] == "Short again"
        assert p.errors() == []
        job = p.job(result.jobs[0].id)
        assert job.type is JobType.RETRY and job.counters.modified == 1


def test_retry_with_sync_runs_the_failed_direction_at_once(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        quarantine(world, p)
        remote = coupling(p, "C00001").integration_key
        world.erp.put("customer", "C00001", {"name": "Fixed"})
        result = p.retry("CUSTOMER", [remote], sync=True)  # named by the integration key
        assert result.sync is not None and result.ok
        assert [(j.direction, j.counters.modified) for j in result.sync.jobs] == [
            (Direction.TO_INTEGRATION, 1)
        ]
        assert world.crm.get("account", remote)["name"] == "Fixed"
        assert coupling(p, "C00001").last_result == "ok"


def test_retry_reports_unknown_keys_and_all_needs_no_mapping(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        quarantine(world, p)
        jobs = len(p.jobs(limit=1000))
        with pytest.raises(UsageError, match="no coupling for 'nope': nothing was retried"):
            p.retry("CUSTOMER", ["C00002", "nope"])
        assert len(p.jobs(limit=1000)) == jobs  # refused before any job was logged
        result = p.retry("CUSTOMER", ["C00002", p.couplings("CUSTOMER")[1].integration_key])
        assert result.ok
        assert {o.local_key: o.outcome for o in result.outcomes} == {"C00002": Outcome.NOTHING}
        assert coupling(p, "C00001").skipped

        result = p.retry(all=True)  # every mapping: jobs only where something was retried
        assert result.ok and [j.mapping for j in result.jobs] == ["CUSTOMER"]
        assert not coupling(p, "C00001").skipped
        with pytest.raises(UsageError, match="--all"):
            p.retry("CUSTOMER")
        with pytest.raises(UsageError, match="mapping"):
            p.retry(keys=["C00001"])


def test_errors_lists_failed_and_skipped_couplings_with_their_last_message(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        quarantine(world, p, "C00001")
        world.erp.put("customer", "C00002", {"name": "Z" * 41})
        last = p.sync(["CUSTOMER"])
        problems = p.errors()
        assert [(e.local_key, e.state, e.repeats) for e in problems] == [
            ("C00001", "skipped", 2),
            ("C00002", "failed", 1),
        ]
        second = problems[1]
        assert second.mapping == "CUSTOMER" and second.direction is Direction.TO_INTEGRATION
        assert second.integration_key == coupled_pairs(p, "CUSTOMER")["C00002"]
        assert "too long" in second.message or "41" in second.message
        assert second.job_id == last.jobs[0].id
        assert second.at == last.jobs[0].started_at
        assert len(p.errors(limit=1)) == 1
        assert p.errors("CURRENCY") == []


def test_find_deleted_marks_both_sides(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        pairs = coupled_pairs(p, "CUSTOMER")
        world.crm.delete("account", pairs["C00001"])  # integration side gone
        world.erp.delete("customer", "C00002")  # local side gone
        world.erp.delete("customer", "C00003")  # both gone
        world.crm.delete("account", pairs["C00003"])

        job = p.find_deleted("CUSTOMER")

        assert job.type is JobType.CHECK
        assert job.counters.failed == 3 and job.counters.unchanged == len(pairs) - 3
        found = {e.local_key: e for e in p.errors("CUSTOMER")}
        assert set(found) == {"C00001", "C00002", "C00003"}
        assert found["C00001"].direction is Direction.TO_INTEGRATION
        assert f"crm.account '{pairs['C00001']}' no longer exists" in found["C00001"].message
        assert found["C00002"].direction is Direction.FROM_INTEGRATION
        assert "erp.customer 'C00002' no longer exists" in found["C00002"].message
        assert "both records no longer exist" in found["C00003"].message
        assert all(e.state == "failed" and e.job_id == job.id for e in found.values())
        assert len(p.job(job.id).errors) == 3

        again = p.find_deleted("CUSTOMER")  # marking the same failure again is no repeat
        assert again.counters.failed == 3
        assert coupling(p, "C00001").repeats == 1 and not coupling(p, "C00001").skipped


def test_a_sync_after_find_deleted_fails_the_same_way_and_quarantines(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        remote = coupled_pairs(p, "CUSTOMER")["C00001"]
        world.crm.delete("account", remote)
        p.find_deleted("CUSTOMER")
        run = p.sync(["CUSTOMER"])  # retried because failed: the same error → skipped
        assert run.jobs[0].counters.failed == 1
        assert coupling(p, "C00001").skipped


def test_restore_recreates_the_integration_record(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        old = coupled_pairs(p, "CUSTOMER")["C00001"]
        world.crm.delete("account", old)
        assert p.sync(["CUSTOMER"], full=True).jobs[0].counters.failed == 1

        result = p.restore("CUSTOMER", ["C00001"])

        assert result.ok, result
        [outcome] = result.outcomes
        assert outcome.outcome is Outcome.RESTORED and outcome.created_key != old
        new = coupled_pairs(p, "CUSTOMER")["C00001"]
        assert new == outcome.created_key
        account = world.crm.get("account", new)
        assert account["name"] == "Local 1" and account["accountnumber"] == "C00001"
        assert p.errors() == []
        assert result.jobs[0].type is JobType.SYNC and result.jobs[0].counters.uncoupled == 1
        assert [j.counters.inserted for j in result.jobs[1:]] == [1]
        writes = world.erp.writes + world.crm.writes
        run = p.sync()
        assert run.ok and world.erp.writes + world.crm.writes == writes


def test_restore_recreates_the_local_record(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        remote = coupled_pairs(p, "CUSTOMER")["C00002"]
        world.erp.delete("customer", "C00002")
        p.find_deleted("CUSTOMER")

        result = p.restore("CUSTOMER", all=True)

        assert result.ok, result
        [outcome] = result.outcomes
        assert outcome.outcome is Outcome.RESTORED and outcome.integration_key == remote
        local = outcome.local_key
        assert local != "C00002" and local.startswith("C")  # the series' next number
        assert world.erp.get("customer", local)["name"] == "Local 2"
        assert world.crm.get("account", remote)["accountnumber"] == local  # settled back
        assert coupled_pairs(p, "CUSTOMER")[local] == remote
        writes = world.erp.writes + world.crm.writes
        assert p.sync().ok and world.erp.writes + world.crm.writes == writes


def test_restore_leaves_healthy_and_doubly_deleted_pairs(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        pairs = coupled_pairs(p, "CUSTOMER")
        world.erp.delete("customer", "C00003")
        world.crm.delete("account", pairs["C00003"])
        before = (world.erp.rows("customer"), world.crm.rows("account"))

        with pytest.raises(UsageError, match="no coupling for 'ghost': nothing was restored"):
            p.restore("CUSTOMER", ["C00002", "ghost"])
        result = p.restore("CUSTOMER", ["C00002", "C00003"])

        outcomes = {o.local_key: o.outcome for o in result.outcomes}
        assert outcomes == {"C00002": Outcome.NOT_BROKEN, "C00003": Outcome.FAILED}
        assert not result.ok
        assert (world.erp.rows("customer"), world.crm.rows("account")) == before
        assert coupled_pairs(p, "CUSTOMER") == pairs  # the doubly broken one stays
        job = p.job(result.jobs[0].id)
        assert job.counters.unchanged == 1 and job.counters.failed == 1
        assert {e.source_key for e in job.errors} == {"C00003"}


def test_restore_needs_the_direction_that_creates(world_factory):
    world = world_factory(direction="to-integration")
    seed(world)
    with world.project() as p:
        full(p)
        world.erp.delete("customer", "C00001")
        result = p.restore("CUSTOMER", ["C00001"])
        [outcome] = result.outcomes
        assert outcome.outcome is Outcome.FAILED
        assert "never creates records in erp.customer" in outcome.message
        assert "C00001" in coupled_pairs(p, "CUSTOMER")


def test_delete_removes_the_survivor_and_the_coupling_never_a_healthy_pair(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        pairs = coupled_pairs(p, "CUSTOMER")
        world.crm.delete("account", pairs["C00001"])  # the ERP customer survives
        world.erp.delete("customer", "C00002")  # the CRM account survives
        p.recorder = plan = Plan()

        result = p.delete("CUSTOMER", ["C00001", pairs["C00002"], "C00004"])

        assert result.ok, result
        assert {o.local_key: o.outcome for o in result.outcomes} == {
            "C00001": Outcome.DELETED,
            "C00002": Outcome.DELETED,
            "C00004": Outcome.NOT_BROKEN,
        }
        assert world.erp.get("customer", "C00001") is None
        assert world.crm.get("account", pairs["C00002"]) is None
        assert world.erp.get("customer", "C00004") is not None
        assert world.crm.get("account", pairs["C00004"]) is not None
        left = coupled_pairs(p, "CUSTOMER")
        assert "C00001" not in left and "C00002" not in left and "C00004" in left
        job = p.job(result.jobs[0].id)
        assert job.type is JobType.DELETE
        assert (job.counters.deleted, job.counters.uncoupled, job.counters.unchanged) == (2, 2, 1)
        assert {(c.action, c.key) for c in plan.changes} == {
            (Action.DELETE, "C00001"),
            (Action.DELETE, pairs["C00002"]),
            (Action.UNCHANGED, "C00004"),
        }


def test_delete_all_takes_the_errors_page_and_uncouples_doubly_deleted(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        pairs = coupled_pairs(p, "CUSTOMER")
        world.crm.delete("account", pairs["C00001"])
        world.erp.delete("customer", "C00003")
        world.crm.delete("account", pairs["C00003"])
        quarantine(world, p, "C00005")  # failed for another reason: both records exist
        p.find_deleted("CUSTOMER")

        result = p.delete("CUSTOMER", all=True)

        assert {o.local_key: o.outcome for o in result.outcomes} == {
            "C00001": Outcome.DELETED,
            "C00003": Outcome.UNCOUPLED,
            "C00005": Outcome.NOT_BROKEN,
        }
        assert world.erp.get("customer", "C00005") is not None
        assert set(pairs) - set(coupled_pairs(p, "CUSTOMER")) == {"C00001", "C00003"}


def test_uncouple_failed_or_skipped(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        quarantine(world, p, "C00001")  # skipped
        world.erp.put("customer", "C00002", {"name": "Z" * 41})
        p.sync(["CUSTOMER"])  # C00002 failed once
        total = len(coupled_pairs(p, "CUSTOMER"))

        job = p.uncouple("CUSTOMER", failed=True)
        assert job.counters.uncoupled == 1
        assert "C00002" not in coupled_pairs(p, "CUSTOMER")
        assert "C00001" in coupled_pairs(p, "CUSTOMER")

        job = p.uncouple("CUSTOMER", skipped=True)
        assert job.counters.uncoupled == 1
        assert len(coupled_pairs(p, "CUSTOMER")) == total - 2
        assert p.errors() == []
        with pytest.raises(UsageError, match="--failed"):
            p.uncouple("CUSTOMER", ["C00003"], failed=True)


def test_recorder_hears_find_deleted_retry_and_restore(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        remote = coupled_pairs(p, "CUSTOMER")["C00001"]
        world.crm.delete("account", remote)
        p.recorder = plan = Plan()
        p.find_deleted("CUSTOMER")
        assert [(c.action, c.key, c.target, c.direction) for c in plan.changes] == [
            (Action.FAIL, "C00001", remote, Direction.TO_INTEGRATION)
        ]
        plan.changes.clear()
        p.retry("CUSTOMER", ["C00001"])
        assert [(c.action, c.key) for c in plan.changes] == [(Action.MODIFY, "C00001")]
        plan.changes.clear()
        p.restore("CUSTOMER", ["C00001"])
        actions = [(c.action, c.key) for c in plan.changes]
        assert (Action.UNCOUPLE, "C00001") in actions
