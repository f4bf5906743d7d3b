from decimal import Decimal

from tests.engine.conftest import World


def test_full_sync_creates_both_ways(world: World):
    world.erp.put("currency", "EUR", {"description": "Euro"})
    world.erp.put("customer", "C00001", {"name": "Alpha", "city": "Oslo", "credit_limit": Decimal(5),
                                        "currency_code": "EUR"})
    world.crm.put("account", "a-1", {"name": "Beta", "address1_city": "Rome", "statecode": 0})
    with world.project() as p:
        run = p.sync(full=True)
        print([ (j.mapping, j.direction, j.counters) for j in run.jobs])
        assert run.ok
        run2 = p.sync()
        print([ (j.mapping, j.direction, j.counters) for j in run2.jobs])
        assert run2.totals().written == 0
    print(world.erp.rows("customer"))
    print(world.crm.rows("account"))
