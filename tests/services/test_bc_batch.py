"""Local Business Central JSON $batch: per-request results, the 100 limit, snapshot
isolation (all or nothing), dependsOn, and relative and absolute request URLs."""

from __future__ import annotations

from typing import Any

import httpx

from accord.services.businesscentral import LocalBusinessCentral

COMPANY = "CRONUS USA, Inc."


def post(url: str, body: dict[str, Any], request_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": request_id,
        "method": "POST",
        "url": url,
        "headers": {"Content-Type": "application/json"},
        "body": body,
        **extra,
    }


def customers(bc: LocalBusinessCentral) -> str:
    return f"companies({bc.company_ids[COMPANY]})/customers"


def test_each_request_gets_its_own_result(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    url = customers(bc)
    existing = bc_api.post(f"/{url}", json={"number": "BATCH-1"}).json()
    requests = [
        post(url, {"number": "BATCH-2", "displayName": "Two"}, "a"),
        post(url, {"number": "BATCH-1"}, "b"),  # duplicate: fails alone
        {
            "id": "c",
            "method": "PATCH",
            "url": f"{url}({existing['id']})",
            "headers": {"If-Match": existing["@odata.etag"]},
            "body": {"city": "Oslo"},
        },
        {"id": "d", "method": "GET", "url": f"{url}({existing['id']})?$select=number"},
        {"id": "e", "method": "PATCH", "url": f"{url}({existing['id']})", "body": {"city": "x"}},
    ]
    response = bc_api.post("/$batch", json={"requests": requests})
    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert [r["id"] for r in response.json()["responses"]] == ["a", "b", "c", "d", "e"]
    assert answers["a"]["status"] == 201 and answers["a"]["body"]["displayName"] == "Two"
    assert answers["a"]["headers"]["etag"] == answers["a"]["body"]["@odata.etag"]
    assert answers["b"]["status"] == 400
    assert answers["b"]["body"]["error"]["code"] == "Internal_EntityWithSameKeyExists"
    assert answers["c"]["status"] == 200 and answers["c"]["body"]["city"] == "Oslo"
    assert answers["d"]["status"] == 200 and set(answers["d"]["body"]) >= {"number"}
    assert answers["e"]["status"] == 400  # no If-Match
    numbers = {r["number"] for r in bc.rows(COMPANY, "customers")}
    assert {"BATCH-1", "BATCH-2"} <= numbers


def test_more_than_100_requests_is_400(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    before = bc.count(COMPANY, "customers")
    requests = [post(customers(bc), {"displayName": f"n{i}"}, str(i)) for i in range(101)]
    response = bc_api.post("/$batch", json={"requests": requests})
    assert response.status_code == 400
    assert "maximum number of operations in a batch is 100" in response.json()["error"]["message"]
    assert bc.count(COMPANY, "customers") == before
    hundred = bc_api.post("/$batch", json={"requests": requests[:100]})
    assert hundred.status_code == 200
    assert {r["status"] for r in hundred.json()["responses"]} == {201}
    assert bc.count(COMPANY, "customers") == before + 100


def test_snapshot_isolation_rolls_back_everything(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    url = customers(bc)
    bc_api.post(f"/{url}", json={"number": "SNAP-TAKEN"})
    before = bc.rows(COMPANY, "customers")
    requests = [
        post(url, {"number": "SNAP-1"}, "1"),
        post(url, {"displayName": "numbered by the series"}, "2"),
        post(url, {"number": "SNAP-TAKEN"}, "3"),
        post(url, {"number": "SNAP-4"}, "4"),
    ]
    response = bc_api.post(
        "/$batch", json={"requests": requests}, headers={"Isolation": "snapshot"}
    )
    assert response.status_code == 200
    statuses = {r["id"]: r["status"] for r in response.json()["responses"]}
    assert statuses == {"1": 424, "2": 424, "3": 400, "4": 424}
    assert bc.rows(COMPANY, "customers") == before  # nothing applied, not even the series
    nexts = bc_api.post(f"/{url}", json={}).json()["number"]
    again = bc_api.post(
        "/$batch", json={"requests": requests[:2]}, headers={"Isolation": "snapshot"}
    )
    assert [r["status"] for r in again.json()["responses"]] == [201, 201]
    assert nexts != again.json()["responses"][1]["body"]["number"]


def test_depends_on_a_failed_request_is_not_run(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    url = customers(bc)
    requests = [
        post(url, {"creditLimit": "lots"}, "bad"),
        post(url, {"number": "DEP-1"}, "after", dependsOn=["bad"]),
        post(url, {"number": "DEP-2"}, "free"),
        post(url, {"number": "DEP-3"}, "unknown", dependsOn=["later"]),
    ]
    answers = bc_api.post("/$batch", json={"requests": requests}).json()["responses"]
    assert [a["status"] for a in answers] == [400, 424, 201, 400]
    numbers = {r["number"] for r in bc.rows(COMPANY, "customers")}
    assert "DEP-2" in numbers and "DEP-1" not in numbers and "DEP-3" not in numbers


def test_absolute_urls_and_custom_headers(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    absolute = f"{bc.url}/{customers(bc)}"
    path_only = absolute[len(bc.root) :]
    requests = [
        post(absolute, {"number": "ABS-1"}, "1"),
        post(path_only, {"number": "ABS-2"}, "2"),
        {
            "id": "3",
            "method": "GET",
            "url": f"{absolute}?$filter=startswith(number,'ABS')",
            "headers": {"Prefer": "odata.maxpagesize=1"},
        },
    ]
    answers = bc_api.post(f"{bc.url}/$batch", json={"requests": requests}).json()["responses"]
    assert [a["status"] for a in answers] == [201, 201, 200]
    page = answers[2]["body"]
    assert [r["number"] for r in page["value"]] == ["ABS-1"] and "@odata.nextLink" in page


def test_malformed_batches_are_400(bc_api: httpx.Client) -> None:
    assert (
        bc_api.post(
            "/$batch", content=b"{", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert bc_api.post("/$batch", json={"operations": []}).status_code == 400
    duplicate_ids = [{"id": "1", "method": "GET", "url": "companies"}] * 2
    assert bc_api.post("/$batch", json={"requests": duplicate_ids}).status_code == 400
    nested = [{"id": "1", "method": "POST", "url": "$batch", "body": {"requests": []}}]
    answer = bc_api.post("/$batch", json={"requests": nested}).json()["responses"][0]
    assert answer["status"] == 400
    odd = [{"id": "1", "method": "BREW", "url": "companies"}]
    assert bc_api.post("/$batch", json={"requests": odd}).json()["responses"][0]["status"] == 400
