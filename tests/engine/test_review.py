"""The full-synchronization review (reference §2.11)."""

from __future__ import annotations

from accord.engine.review import Recommendation
from tests.engine.conftest import World
from tests.engine.test_sync import full, seed


def by_mapping(lines):
    return {line.mapping: line for line in lines}


def test_review_recommends_per_mapping_with_the_filters_counted(world: World):
    with world.project() as p:
        empty = by_mapping(p.review())
        assert {m: line.recommendation for m, line in empty.items()} == {
            "CURRENCY": Recommendation.NOTHING,
            "CUSTOMER": Recommendation.NOTHING,
        }
        seed(world)
        lines = by_mapping(p.review())
        currency, customer = lines["CURRENCY"], lines["CUSTOMER"]
        assert (currency.local_records, currency.integration_records) == (2, 0)
        assert currency.recommendation is Recommendation.FULL_SYNC
        # 3 active accounts pass the integration filter; the inactive one is not counted
        assert (customer.local_records, customer.integration_records) == (5, 3)
        assert customer.recommendation is Recommendation.COUPLE
        assert [d.lower() for d in customer.depends_on] == ["currency"]
        assert not customer.matches_first and "no match criteria" in customer.note

        full(p)
        after = by_mapping(p.review())
        assert after["CUSTOMER"].coupled == 8
        assert after["CUSTOMER"].recommendation is Recommendation.FULL_SYNC  # nothing to match
        assert p.review(["CUSTOMER"])[0].mapping == "CUSTOMER"
