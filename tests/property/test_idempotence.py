"""A full sync of any initial population couples everything, makes the pairs equal, and is
idempotent: a second sync (full or not) writes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.world import CUSTOMER_FIELDS, World, assert_one_to_one, mismatches

CODES = ("EUR", "USD", "NOK", "GBP")
TEXT = st.sampled_from([None, "", "a", "b", "A", "abc"])  # all fit the CRM's 5-character name
CREDIT = st.sampled_from([None, 0, Decimal("12.50"), 7, "", "3"])

CUSTOMER = st.fixed_dictionaries(
    {"name": TEXT, "city": TEXT, "phone": TEXT, "credit_limit": CREDIT, "website": TEXT}
)
ACCOUNT = st.fixed_dictionaries(
    {
        "name": TEXT,
        "address1_city": TEXT,
        "telephone1": TEXT,
        "websiteurl": TEXT,
        "creditlimit": st.sampled_from([None, Decimal("5"), 0]),
        "accountnumber": TEXT,
        "statecode": st.sampled_from([0, 0, 0, 1, None]),  # 1 and None are filtered out
    }
)
# Fields of an original record that flow from its own side: a full sync must not change them.
OWN_LOCAL = tuple(f for f, _, how in CUSTOMER_FIELDS if how != "from")
OWN_CRM = tuple(i for _, i, how in CUSTOMER_FIELDS if how in ("both", "lookup", "from"))


@settings(max_examples=30, deadline=None)
@given(
    currencies=st.lists(st.tuples(st.sampled_from(CODES), TEXT), unique_by=lambda t: t[0]),
    crm_currencies=st.lists(st.tuples(st.sampled_from((None, *CODES)), TEXT), max_size=2),
    customers=st.lists(CUSTOMER, max_size=15),
    accounts=st.lists(ACCOUNT, max_size=15),
    update_conflict=st.sampled_from(["none", "send", "get"]),
    clear_on_missing=st.booleans(),
    data=st.data(),
)
def test_full_sync_couples_everything_and_a_second_sync_writes_nothing(
    currencies: list[tuple[str, Any]],
    crm_currencies: list[tuple[Any, Any]],
    customers: list[dict[str, Any]],
    accounts: list[dict[str, Any]],
    update_conflict: str,
    clear_on_missing: bool,
    data: st.DataObject,
) -> None:
    world = World.create(update_conflict=update_conflict, clear_on_missing=clear_on_missing)
    try:
        erp, crm = world.erp, world.crm
        for code, description in currencies:
            erp.put("currency", code, {"description": description})
        for i, (iso, name) in enumerate(crm_currencies):  # never coupled: a one-way mapping
            crm.put(
                "transactioncurrency", f"cur-{i}", {"isocurrencycode": iso, "currencyname": name}
            )
        codes = st.sampled_from([None, "", *(c for c, _ in currencies)])
        for i, values in enumerate(customers):
            values["currency_code"] = data.draw(codes, label="currency_code")
            erp.put("customer", f"L{i:03d}", values)
        for i, values in enumerate(accounts):
            crm.put("account", f"acc-{i:03d}", values)
        local_before, crm_before = erp.rows("customer"), crm.rows("account")
        selected = {k for k, row in crm_before.items() if world.account_selected(row)}

        project = world.project
        run = project.sync(full=True, i_know=True)  # a fresh store by design
        assert run.ok, [(j.mapping, j.direction, project.job(j.id).errors) for j in run.jobs]

        # couplings: one-to-one, and every record that passes the filters is coupled
        currency = world.couplings("CURRENCY")
        customer = world.couplings("CUSTOMER")
        assert_one_to_one("CURRENCY", currency)
        assert_one_to_one("CUSTOMER", customer)
        assert {c.local_key for c in currency} == set(erp.rows("currency"))
        local_rows, crm_rows = erp.rows("customer"), crm.rows("account")
        assert {c.local_key for c in customer} == set(local_rows)
        assert {c.integration_key for c in customer} == {
            k for k, row in crm_rows.items() if world.account_selected(row)
        }
        # nothing created twice, filtered-out accounts not copied
        assert len(local_rows) == len(local_before) + len(selected)
        assert len(crm_rows) == len(crm_before) + len(local_before)
        for c in customer:
            assert (c.local_key in local_before) != (c.integration_key in crm_before), c

        # mapped fields equal across every pair (through the engine's own conversions)
        pairs = {c.local_key: c.integration_key for c in currency}
        for c in currency:
            row, remote = (
                erp.get("currency", c.local_key),
                crm.get("transactioncurrency", c.integration_key),
            )
            assert row is not None and remote is not None
            assert not mismatches(world, "CURRENCY", row, remote, pairs), (c, row, remote)
        for c in customer:
            row, remote = local_rows[c.local_key], crm_rows[c.integration_key]
            assert not mismatches(world, "CUSTOMER", row, remote, pairs), (c, row, remote)
            assert not c.skipped and c.last_result == "ok", c

        # the originals keep the values they own
        for key, before in local_before.items():
            after = local_rows[key]
            assert {f: after[f] for f in OWN_LOCAL} == {f: before[f] for f in OWN_LOCAL}, key
        for key, before in crm_before.items():
            after = crm_rows[key]
            assert {f: after[f] for f in OWN_CRM} == {f: before[f] for f in OWN_CRM}, key

        # idempotent: neither a full nor a modified-only sync writes anything more
        writes = world.writes()
        for full in (True, False):
            again = project.sync(full=full)
            assert again.ok and again.totals().written == 0, [
                (j.mapping, j.direction, j.counters) for j in again.jobs if j.counters.written
            ]
        assert world.writes() == writes
    finally:
        world.close()
