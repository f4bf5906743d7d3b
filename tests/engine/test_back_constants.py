"""A created record whose source already holds the constants the other direction writes.

The demo's CONTACT writes ``type = 'person'`` from-integration only: every contact the
to-integration pass created used to be left *deferred* the other way, and the
from-integration pass read, compared and re-saved each of them (issue 14: 5× the time of the
CUSTOMER pass). A record that holds the constants already is in sync both ways; one that does
not still gets them written by the opposite pass.
"""

from __future__ import annotations

from accord.model import Direction, SyncResult
from tests.engine.conftest import World


def _one_way_constants_only(world: World) -> None:
    """CUSTOMER with bidirectional fields and one constant each way, nothing else one-way."""
    text = world.path.read_text()
    for line in (
        '  { field = "credit_limit", integration_field = "creditlimit", direction = '
        '"to-integration" },\n',
        '  { field = "no", integration_field = "accountnumber", direction = "to-integration" },\n',
    ):
        assert line in text
        text = text.replace(line, "")
    text = text.replace(
        '  { constant = 0, integration_field = "statecode", direction = "to-integration" },\n',
        '  { constant = 0, integration_field = "statecode", direction = "to-integration" },\n'
        '  { constant = "no", field = "blocked", direction = "from-integration" },\n',
    )
    world.path.write_text(text)


def test_created_records_holding_the_constants_are_quiet_both_ways(world: World):
    _one_way_constants_only(world)
    world.erp.put("customer", "C00001", {"name": "Holds it", "city": "Oslo", "blocked": "no"})
    world.erp.put("customer", "C00002", {"name": "Lacks it", "city": "Oslo", "blocked": ""})
    world.crm.put("account", "acc-1", {"name": "Remote", "address1_city": "Rome", "statecode": 0})
    with world.project() as p:
        run = p.sync(["CUSTOMER"], full=True)
        assert run.ok, [(j.direction, j.message) for j in run.jobs]
        couplings = {c.local_key: c for c in p.couplings("CUSTOMER", limit=100)}
        again = p.sync(["CUSTOMER"])
    customers, accounts = world.erp.rows("customer"), world.crm.rows("account")
    assert len(customers) == 3 and len(accounts) == 3
    # the one lacking the constant got it from the opposite pass; the others kept theirs
    assert {c["blocked"] for c in customers.values()} == {"no"}
    assert {a["statecode"] for a in accounts.values()} == {0}
    holds = couplings["C00001"]
    assert holds.result_from is SyncResult.SUCCESS and holds.job_from is None
    lacks = couplings["C00002"]
    assert lacks.result_from is SyncResult.SUCCESS and lacks.job_from is not None
    from_passes = [j for j in run.jobs if j.direction is Direction.FROM_INTEGRATION]
    # the from-integration pass wrote the constant to C00002 only, and created one customer
    assert sum(j.counters.modified for j in from_passes) == 1
    assert sum(j.counters.inserted for j in from_passes) == 1
    # the customer created from the CRM holds statecode 0 already: no settle pass for it
    created = next(c for k, c in couplings.items() if k not in ("C00001", "C00002"))
    assert created.result_to is SyncResult.SUCCESS
    assert again.ok
    assert sum(j.counters.inserted + j.counters.modified for j in again.jobs) == 0
