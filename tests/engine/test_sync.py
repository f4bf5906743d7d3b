"""Synchronization semantics on the in-memory connector (reference §2, DESIGN §4)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from accord import JobStatus, Project
from accord.engine.progress import NoProgress
from accord.model import Direction, Job
from tests.engine.conftest import World


def seed(world: World) -> None:
    world.erp.put("currency", "EUR", {"description": "Euro"})
    world.erp.put("currency", "USD", {"description": "US Dollar"})
    for i in range(1, 6):
        world.erp.put(
            "customer",
            f"C0000{i}",
            {
                "name": f"Local {i}",
                "city": "Oslo",
                "credit_limit": Decimal(100 * i),
                "currency_code": "EUR" if i % 2 else "",
            },
        )
    for i in range(1, 4):
        world.crm.put(
            "account", f"acc-{i}", {"name": f"Remote {i}", "address1_city": "Rome", "statecode": 0}
        )
    world.crm.put("account", "acc-inactive", {"name": "Gone", "statecode": 1})


def full(project: Project):
    run = project.sync(full=True)
    assert run.ok, [(j.mapping, j.direction, j.message) for j in run.jobs]
    return run


def coupled_pairs(project: Project, mapping: str) -> dict[str, str]:
    return {c.local_key: c.integration_key for c in project.couplings(mapping, limit=1000)}


def test_full_sync_creates_and_couples_both_ways(world: World):
    seed(world)
    with world.project() as p:
        run = full(p)
        counters = run.by_mapping()
        assert counters["CURRENCY"].inserted == 2
        assert counters["CUSTOMER"].inserted == 5 + 3  # inactive account filtered out
        assert counters["CUSTOMER"].coupled == 8
        pairs = coupled_pairs(p, "CUSTOMER")
    assert len(pairs) == 8 and len(set(pairs.values())) == 8
    accounts = world.crm.rows("account")
    customers = world.erp.rows("customer")
    assert len(accounts) == 4 + 5 and len(customers) == 5 + 3
    for local, remote in pairs.items():
        assert customers[local]["name"] == accounts[remote]["name"]
        assert accounts[remote]["accountnumber"] == local  # to-only field sent back on creation
        assert accounts[remote]["statecode"] == 0
    # new ERP keys continue the configured series
    assert sorted(customers)[-3:] == ["C00006", "C00007", "C00008"]


def test_lookup_is_translated_through_couplings(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        currency = coupled_pairs(p, "CURRENCY")
        pairs = coupled_pairs(p, "CUSTOMER")
    accounts = world.crm.rows("account")
    assert accounts[pairs["C00001"]]["transactioncurrencyid"] == currency["EUR"]
    assert accounts[pairs["C00002"]]["transactioncurrencyid"] is None


def test_second_sync_writes_nothing(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        writes = world.erp.writes + world.crm.writes
        run = p.sync()
        assert run.ok and run.totals().written == 0
        assert world.erp.writes + world.crm.writes == writes
        run = p.sync(full=True)
        assert run.totals().written == 0


def test_modified_record_is_sent_once_and_its_echo_is_unchanged(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        p.sync()
        world.erp.put("customer", "C00003", {"city": "Bergen"})
        run = p.sync(["CUSTOMER"])
        to_job, from_job = run.jobs
        assert to_job.counters.modified == 1
        assert from_job.counters.written == 0
        remote = coupled_pairs(p, "CUSTOMER")["C00003"]
        assert world.crm.get("account", remote)["address1_city"] == "Bergen"
        assert p.sync().totals().written == 0


def test_change_on_integration_side_flows_back(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        remote = coupled_pairs(p, "CUSTOMER")["C00002"]
        world.crm.put("account", remote, {"name": "Renamed in CRM"})
        run = p.sync(["CUSTOMER"])
        assert run.by_mapping()["CUSTOMER"].modified == 1
        assert world.erp.get("customer", "C00002")["name"] == "Renamed in CRM"
        assert p.sync().totals().written == 0


def test_only_coupled_records_are_synchronized_by_default(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        world.erp.put("customer", "C00100", {"name": "New local"})
        run = p.sync(["CUSTOMER"])
        assert run.totals().inserted == 0 and run.totals().written == 0
        assert run.totals().failed == 0
        assert "C00100" not in coupled_pairs(p, "CUSTOMER")


def test_record_the_destination_rejects_fails_alone(world: World):
    seed(world)
    world.erp.put("customer", "C00009", {"name": "X" * 45})  # account.name holds 40
    with world.project() as p:
        run = p.sync(["CURRENCY", "CUSTOMER"], full=True)
        to_job = next(j for j in run.jobs if j.mapping == "CUSTOMER")
        assert to_job.counters.failed == 1 and to_job.counters.inserted == 5
        assert to_job.status is JobStatus.FAILED
        errors = p.job(to_job.id).errors
        assert [e.source_key for e in errors] == ["C00009"]
        assert "too long" in errors[0].message and "name" in errors[0].message
        assert not run.ok


def test_uncoupled_lookup_fails_the_record_until_coupled(world: World):
    seed(world)
    with world.project() as p:
        run = p.sync(["CUSTOMER"], full=True)  # CURRENCY not synchronized yet
        to_job = run.jobs[0]
        assert to_job.counters.failed == 3  # the three EUR customers
        message = p.job(to_job.id).errors[0].message
        assert "not coupled in mapping CURRENCY" in message
        p.sync(["CURRENCY"], full=True)
        run = p.sync(["CUSTOMER"], full=True)
        assert run.jobs[0].counters.inserted == 3 and run.ok


def test_failed_coupled_record_is_retried_and_quarantined_after_repeats(world: World):
    seed(world)
    with world.project() as p:
        full(p)
        world.erp.put("customer", "C00001", {"name": "Y" * 60})
        first = p.sync(["CUSTOMER"])
        assert first.jobs[0].counters.failed == 1
        # unchanged since, but retried because it failed; the same error twice → skipped
        second = p.sync(["CUSTOMER"])
        assert second.jobs[0].counters.failed == 1
        coupling = p.store.get_coupling("CUSTOMER", local_key="C00001")
        assert coupling is not None and coupling.skipped
        third = p.sync(["CUSTOMER"])
        assert third.jobs[0].counters.failed == 0
        world.erp.put("customer", "C00001", {"name": "Z" * 60})
        assert p.sync(["CUSTOMER"]).jobs[0].counters.skipped == 1


def test_writes_are_chunked_to_the_destinations_batch_size(world: World, monkeypatch):
    seed(world)
    with world.project() as p:
        connector = p.connector("crm")
        two_at_a_time = replace(connector.capabilities, batch_size=2)
        monkeypatch.setattr(connector, "capabilities", two_at_a_time)
        sizes: list[int] = []
        real_write = connector.write

        def write(table, changes):
            sizes.append(len(changes))
            return real_write(table, changes)

        monkeypatch.setattr(connector, "write", write)
        run = p.sync(["CURRENCY", "CUSTOMER"], full=True)
        assert run.ok and max(sizes) == 2 and sum(sizes) >= 7  # 2 currencies + 5 customers
    assert len(world.crm.rows("account")) == 4 + 5


class EditAfterFirstPass(NoProgress):
    """A user edits a record the first pass of a full run just created, before the second."""

    def __init__(self, world: World, project: Project, local_key: str) -> None:
        self.world, self.project, self.local_key = world, project, local_key
        self.edited = ""

    def pass_finished(self, job: Job) -> None:
        if job.direction is Direction.TO_INTEGRATION and not self.edited:
            coupling = self.project.store.get_coupling("CUSTOMER", local_key=self.local_key)
            assert coupling is not None
            self.edited = coupling.integration_key
            self.world.crm.put("account", self.edited, {"name": "Edited in the CRM"})


def test_full_sync_second_pass_tells_echoes_from_edits_made_between_the_passes(world: World):
    # The second pass of a full run counts the records the first one wrote as unchanged
    # from memory (their echoes): a record edited in between is not one of them.
    for i in range(1, 6):
        world.erp.put("customer", f"C{i}", {"name": f"Customer {i}", "city": "Oslo"})
    with world.project() as p:
        edit = EditAfterFirstPass(world, p, "C3")
        run = p.sync(["CUSTOMER"], full=True, progress=edit)
        assert run.ok, [(j.direction, j.message) for j in run.jobs]
        again = p.sync(["CUSTOMER"], full=True)
    assert edit.edited
    back = [j for j in run.jobs if j.direction is Direction.FROM_INTEGRATION]
    assert [(j.counters.modified, j.counters.unchanged) for j in back] == [(1, 4)]
    assert world.erp.get("customer", "C3")["name"] == "Edited in the CRM"
    assert again.totals().written == 0
