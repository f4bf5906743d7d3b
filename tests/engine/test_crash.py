"""A run that dies between recording a pending coupling and finishing leaves no duplicate."""

from __future__ import annotations

import pytest

from tests.engine.test_sync import coupled_pairs, seed


class Crash(BaseException):
    """Stands in for the process being killed (not caught by the engine)."""


def die_on_write(p, monkeypatch, system: str, *, table: str | None = None, after: bool) -> None:
    """The next CUSTOMER sync dies at ``system``'s write (of ``table``), before or ``after`` it
    is applied; the connector is whole again once the sync has died."""
    connector = p.connector(system)
    real_write = connector.write

    def write(t, changes):
        if table is not None and t != table:
            return real_write(t, changes)
        if after:
            real_write(t, changes)
        raise Crash()

    monkeypatch.setattr(connector, "write", write)
    with pytest.raises(Crash):
        p.sync(["CUSTOMER"], full=True)
    monkeypatch.undo()


def test_crash_before_the_write_then_rerun(world, monkeypatch):
    seed(world)
    with world.project() as p:
        p.sync(["CURRENCY"], full=True)
        die_on_write(p, monkeypatch, "crm", after=False)
        assert len(world.crm.rows("account")) == 4  # nothing was written
        run = p.sync(["CUSTOMER"], full=True)
        assert run.ok
    assert len(world.crm.rows("account")) == 4 + 5


def test_crash_after_the_write_before_confirming_then_rerun(world, monkeypatch):
    seed(world)
    with world.project() as p:
        p.sync(["CURRENCY"], full=True)
        die_on_write(p, monkeypatch, "crm", after=True)
        assert len(world.crm.rows("account")) == 4 + 5  # written, couplings still pending
        assert len(p.store.attention("CUSTOMER")) == 5
        run = p.sync(["CUSTOMER"], full=True)
        assert run.ok and run.totals().inserted == 3  # only the CRM-only accounts
        pairs = coupled_pairs(p, "CUSTOMER")
        assert not [c for c in p.store.attention("CUSTOMER") if c.pending]
    accounts = world.crm.rows("account")
    assert len(accounts) == 4 + 5  # no duplicate
    assert len(pairs) == 8 and set(pairs.values()) <= set(accounts)


def test_crash_before_the_write_back_then_rerun_creates_what_was_pending(world, monkeypatch):
    """A pending creation of the from-integration pass is not taken for the to-integration
    pass's own: the next run's to-integration pass, finding no ERP record under the pending
    key, must leave it for its creator (once it confirmed it as coupled to nothing)."""
    seed(world)
    with world.project() as p:
        p.sync(["CURRENCY"], full=True)
        die_on_write(p, monkeypatch, "erp", table="customer", after=False)
        erp_before = len(world.erp.rows("customer"))
        assert len([c for c in p.store.attention("CUSTOMER") if c.pending]) == 3
        run = p.sync(["CUSTOMER"], full=True)
        assert run.ok, [e.message for j in run.jobs for e in p.job(j.id).errors]
        assert not [c for c in p.store.attention("CUSTOMER") if c.pending]
        pairs = coupled_pairs(p, "CUSTOMER")
    customers = world.erp.rows("customer")
    assert len(customers) == erp_before + 3  # the CRM-only accounts, created once
    assert len(pairs) == 8 and set(pairs) <= set(customers)


def test_a_source_deleted_while_its_creation_was_unconfirmed_is_not_re_created(world, monkeypatch):
    """The from-integration pass wrote new ERP customers and died before confirming them; then
    a user deleted one of their CRM accounts. The next run's to-integration pass meets the
    written customer first: it must not bring the deleted account back."""
    seed(world)
    with world.project() as p:
        p.sync(["CURRENCY"], full=True)
        die_on_write(p, monkeypatch, "erp", table="customer", after=True)
        pending = [c for c in p.store.attention("CUSTOMER") if c.pending]
        assert len(pending) == 3
        gone = pending[0].integration_key
        world.crm.delete("account", gone)
        p.sync(["CUSTOMER"], full=True)
        assert gone not in world.crm.rows("account")  # not brought back
        assert not [c for c in p.store.attention("CUSTOMER") if c.pending]
        # the pair is now an ordinary deleted counterpart (deletion_conflict = none: a failure)
        assert [c.integration_key for c in p.couplings("CUSTOMER", limit=1000)].count(gone) == 1
        run = p.sync(["CUSTOMER"], full=True)
        assert "no longer exists" in " ".join(
            e.message for j in run.jobs for e in p.job(j.id).errors
        )


def test_interrupted_job_is_marked_on_next_start(world, monkeypatch):
    seed(world)
    with world.project() as p:
        connector = p.connector("crm")
        monkeypatch.setattr(connector, "write", lambda t, c: (_ for _ in ()).throw(Crash()))
        # record a pid that is not alive, as if the process had been killed
        monkeypatch.setattr("accord.state.store.current_pid", lambda: 2**22 + 12345)
        with pytest.raises(Crash):
            p.sync(["CURRENCY"], full=True)
        monkeypatch.undo()
        assert p.jobs()[0].status.value == "running"
        p.sync(["CURRENCY"], full=True)
        statuses = [j.status.value for j in p.jobs()]
        assert "running" not in statuses and "interrupted" in statuses
