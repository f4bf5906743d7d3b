"""Deterministic reproductions of what the property tests found, shrunk by hand.

Each failed on the engine when it was found; all are fixed now and stay as regression tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from accord import Direction, Project
from tests.property.world import World


@pytest.fixture
def make_world() -> Iterator[Any]:
    made: list[World] = []

    def make(update_conflict: str, *, clear_on_missing: bool = False) -> World:
        made.append(
            World.create(update_conflict=update_conflict, clear_on_missing=clear_on_missing)
        )
        return made[-1]

    yield make
    for w in made:
        w.close()


def written(project: Project) -> int:
    return project.sync().totals().written


def coupled_world(make_world: Any, policy: str, **kw: bool) -> tuple[World, Project]:
    """L001 coupled to A00001 (created by a full sync)."""
    w = make_world(policy, **kw)
    w.erp.put("customer", "L001", {"name": "a", "credit_limit": 0})
    p = w.project
    assert p.sync(full=True).ok
    assert w.crm.get("account", "A00001") is not None
    return w, p


def test_get_a_record_repaired_by_the_winning_side_converges_in_one_sync(make_world: Any):
    """update_conflict = get. The local record cannot go over (its name is too long for the
    CRM) and both sides changed it: the from-integration pass overwrites the local name with
    the CRM's, which makes the record valid, but its to-integration failure (with the local
    credit limit) is retried only by the next run: that second sync writes."""
    w, p = coupled_world(make_world, "get")
    w.erp.put("customer", "L001", {"name": "toolong", "credit_limit": None})
    w.crm.put("account", "A00001", {"name": "b"})
    p.sync()
    assert w.erp.get("customer", "L001")["name"] == "b"  # integration wins
    assert written(p) == 0  # fails: the second sync sends credit_limit None
    assert w.crm.get("account", "A00001")["creditlimit"] is None


@pytest.mark.parametrize("policy", ["none", "get"])
def test_conflict_on_a_lookup_cleared_on_missing_is_not_overwritten_later(
    make_world: Any, policy: str
):
    """clear_on_missing = true. The CRM points the account at a currency that is not coupled
    while the ERP edits the customer. The to-integration pass sees the conflict (fails, or
    skips for get); the from-integration pass translates the CRM value to blank (cleared),
    finds nothing to change, and stores the CRM version as synchronized. The next run's
    to-integration pass no longer sees a conflict and overwrites the CRM's currency with
    blank: the conflict policy (fail / integration wins) is bypassed, and a second sync writes.
    """
    w, p = coupled_world(make_world, policy, clear_on_missing=True)
    w.crm.put("transactioncurrency", "cur-1", {"isocurrencycode": "EUR"})  # not coupled
    w.erp.put("customer", "L001", {"credit_limit": 7})  # no bidirectional field changed
    w.crm.put("account", "A00001", {"transactioncurrencyid": "cur-1"})
    p.sync()
    assert w.crm.get("account", "A00001")["transactioncurrencyid"] == "cur-1"
    assert written(p) == 0  # fails: the to-integration pass now overwrites cur-1
    assert w.crm.get("account", "A00001")["transactioncurrencyid"] == "cur-1"


def test_get_keeps_the_local_one_way_fields(make_world: Any):
    """update_conflict = get: the CRM wins the conflicting name, but the ERP's credit limit
    (to-integration only, no conflict possible) is never sent: the from-integration pass
    stores the local record's new version as synchronized. Silent: the coupling is 'ok'."""
    w, p = coupled_world(make_world, "get")
    w.erp.put("customer", "L001", {"name": "x", "credit_limit": 7})
    w.crm.put("account", "A00001", {"name": "y"})
    p.sync()
    p.sync()
    assert w.erp.get("customer", "L001")["name"] == "y"
    assert w.crm.get("account", "A00001")["creditlimit"] == 7  # fails: still 0


def test_send_keeps_the_integration_one_way_fields(make_world: Any):
    """update_conflict = send: the ERP wins the conflicting name, but the CRM's website
    (from-integration only) never reaches the ERP."""
    w, p = coupled_world(make_world, "send")
    w.erp.put("customer", "L001", {"name": "x"})
    w.crm.put("account", "A00001", {"name": "y", "websiteurl": "w"})
    p.sync()
    p.sync()
    assert w.crm.get("account", "A00001")["name"] == "x"
    assert w.erp.get("customer", "L001")["website"] == "w"  # fails: None


def test_coupling_by_hand_with_a_sync_completes_the_other_direction(make_world: Any):
    """Couple L001 to an existing account and synchronize it from the CRM: the pair's
    to-integration-only fields (account number, credit limit) are never sent, because the
    from-integration pass stored both versions as synchronized."""
    w = make_world("none")
    w.erp.put("customer", "L001", {"name": "a", "credit_limit": 7})
    w.crm.put("account", "acc-1", {"name": "b", "statecode": 0})
    p = w.project
    p.couple("CUSTOMER", "L001", "acc-1", sync=Direction.FROM_INTEGRATION)
    p.sync()
    assert w.erp.get("customer", "L001")["name"] == "b"
    account = w.crm.get("account", "acc-1")
    assert (account["accountnumber"], account["creditlimit"]) == ("L001", 7)  # fails: None


@pytest.mark.parametrize("policy", ["none", "send"])
def test_full_sync_keeps_an_edit_made_on_the_integration_side_only(make_world: Any, policy: str):
    """Only the CRM edited the account since the last sync, then a full sync runs. Its
    to-integration pass compares every coupled record and counts the pair as "both changed"
    because the destination changed (the source did not): with send it overwrites the CRM's
    edit with the unchanged ERP values (lost update); with none it reports a false update
    conflict (the from-integration pass then carries the edit over)."""
    w, p = coupled_world(make_world, policy)
    w.crm.put("account", "A00001", {"name": "b"})  # the ERP does not change
    run = p.sync(full=True)
    assert w.crm.get("account", "A00001")["name"] == "b"  # send: fails, reverted to 'a'
    assert w.erp.get("customer", "L001")["name"] == "b"
    assert run.ok, [p.job(j.id).errors for j in run.jobs]  # none: fails, false conflict


@pytest.mark.parametrize("local_edit", [False, True])
def test_one_record_sync_keeps_the_other_sides_one_way_changes(make_world: Any, local_edit: bool):
    """The CRM edits the website (from-integration only), then the user synchronizes the
    record to-integration (``sync --records L001 --direction to-integration``). That pass never
    writes the website, yet it stores the CRM record's version as synchronized: the edit never
    reaches the ERP, not even in a full sync (see F7). The coupling says "ok"."""
    w, p = coupled_world(make_world, "none")
    w.crm.put("account", "A00001", {"websiteurl": "w"})
    if local_edit:
        w.erp.put("customer", "L001", {"name": "x"})
    p.sync(["CUSTOMER"], records=["L001"], direction=Direction.TO_INTEGRATION)
    p.sync()
    p.sync(full=True)
    assert w.erp.get("customer", "L001")["website"] == "w"  # fails: None


def test_one_record_sync_from_integration_keeps_the_local_one_way_changes(make_world: Any):
    """The mirror image: the ERP edits the credit limit (to-integration only), the user
    synchronizes the record from-integration; the next (modified) sync does not send the
    credit limit. Only a full sync does, because its to-integration pass compares every pair."""
    w, p = coupled_world(make_world, "none")
    w.erp.put("customer", "L001", {"credit_limit": 7})
    p.sync(["CUSTOMER"], records=["L001"], direction=Direction.FROM_INTEGRATION)
    p.sync()
    assert w.crm.get("account", "A00001")["creditlimit"] == 7  # fails: 0


def test_full_sync_restores_a_one_way_field_edited_on_its_destination(make_world: Any):
    """The ERP's copy of a from-integration-only field is edited by hand; a full sync must
    make it match the CRM again. Its to-integration pass finds nothing to send and marks the
    pair synchronized in this run, so its from-integration pass skips the pair ("echo known to
    be in sync"), which is only true of the fields the first pass writes."""
    w = make_world("none")
    w.crm.put("account", "acc-1", {"name": "a", "websiteurl": "w", "statecode": 0})
    p = w.project
    p.sync(full=True)
    w.erp.put("customer", "C00001", {"website": "edited"})
    p.sync(full=True)
    assert w.erp.get("customer", "C00001")["website"] == "w"  # fails: 'edited'


def test_a_direction_due_for_its_one_way_fields_does_not_hold_back_a_cleared_lookup(
    make_world: Any,
):
    """clear_on_missing = true, update_conflict = send. A pair coupled by hand and synchronized
    to the CRM leaves the other direction due (deferred) for its one-way fields. Both sides then
    edit the currency, the local one to a code not coupled yet: the to-integration pass took
    the due direction for one that had cleared a lookup, kept the CRM's currency, and cleared
    it only on the next sync (which wrote again)."""
    w = make_world("send", clear_on_missing=True)
    w.erp.put("currency", "EUR", {"description": "euro"})
    w.erp.put("customer", "L001", {"name": "a"})
    w.crm.put("account", "acc-1", {"name": "a", "statecode": 0})
    p = w.project
    assert p.sync(["CURRENCY"], full=True).ok
    (currency,) = w.crm.rows("transactioncurrency")
    p.couple("CUSTOMER", "L001", "acc-1", sync=Direction.TO_INTEGRATION)
    w.erp.put("customer", "L001", {"currency_code": "ZZZ"})  # no such currency coupled
    w.crm.put("account", "acc-1", {"transactioncurrencyid": currency})
    p.sync()
    assert w.crm.get("account", "acc-1")["transactioncurrencyid"] is None  # send: local wins
    assert written(p) == 0  # failed: the second sync cleared it


def test_a_direction_due_for_its_one_way_fields_is_no_update_conflict(make_world: Any):
    """update_conflict = none. A pair coupled by hand and synchronized from the CRM leaves the
    to-integration direction due for its one-way fields (account number). The CRM then edits
    the name, the ERP nothing: the to-integration pass counted the due direction as a local
    change and failed the pair with an update conflict, then wrote on the next sync."""
    w = make_world("none")
    w.erp.put("customer", "L001", {"name": "a", "credit_limit": 7})
    w.crm.put("account", "acc-1", {"name": "a", "statecode": 0})
    p = w.project
    p.couple("CUSTOMER", "L001", "acc-1", sync=Direction.FROM_INTEGRATION)
    w.crm.put("account", "acc-1", {"name": "b"})
    run = p.sync()
    assert run.ok, [j.message for j in run.jobs]  # failed: an update conflict
    assert w.erp.get("customer", "L001")["name"] == "b"
    account = w.crm.get("account", "acc-1")
    assert (account["name"], account["accountnumber"], account["creditlimit"]) == ("b", "L001", 7)
    assert written(p) == 0
