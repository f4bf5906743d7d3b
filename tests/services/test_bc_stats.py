"""The local Business Central's request stats: by route, and what its batches hold."""

from __future__ import annotations

import httpx

from accord.services.businesscentral import LocalBusinessCentral
from accord.services.common.stats import route

COMPANY = "CRONUS USA, Inc."


def test_routes_and_batch_parts_are_counted(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    url = f"companies({bc.company_ids[COMPANY]})/customers"
    bc.stats.reset()
    assert bc_api.get(f"/{url}", params={"$top": "1"}).status_code == 200
    assert bc_api.get(f"/{url}", params={"$filter": "number eq 'STATS-0'"}).status_code == 200
    requests = [
        {"id": "1", "method": "POST", "url": url, "body": {"number": "STATS-1"}},
        {"id": "2", "method": "POST", "url": url, "body": {"number": "STATS-2"}},
        {"id": "3", "method": "GET", "url": f"{url}?$filter=number eq 'STATS-1'"},
    ]
    answer = bc_api.post("/$batch", json={"requests": requests})
    assert answer.status_code == 200, answer.text
    assert [r["status"] for r in answer.json()["responses"]] == [201, 201, 200]
    assert bc.stats.by_route == {
        "GET customers": 1,
        "GET customers $filter": 1,
        "POST $batch": 1,
    }
    assert bc.stats.batch_parts == {"POST customers": 2, "GET customers $filter": 1}
    assert bc.stats.batch_sizes == {3: 1}
    bc.stats.reset()
    assert not bc.stats.by_route and not bc.stats.batch_parts and not bc.stats.batch_sizes


def test_a_route_is_the_last_segment_without_its_key() -> None:
    assert route("/v2.0/t/production/api/v2.0/companies(1)/customers(2)") == "customers"
    assert route("/api/v2.0/$batch") == "$batch"
    assert route("/x/customers", "%24filter=number%20eq%20%27C%27") == "customers $filter"
    assert route("/x/customers", "$select=number") == "customers"
