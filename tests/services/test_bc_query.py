"""Local Business Central reads: $filter parsing and errors, $select, $orderby, $top, $skip,
$count, $expand, and server-driven paging through 25,000 rows."""

from __future__ import annotations

import calendar
from collections.abc import Iterator

import httpx
import pytest

from accord.services.businesscentral import LocalBusinessCentral

QUERY = "Query Co"
PAGING = "Paging Co"


@pytest.fixture(scope="module")
def seeded(bc: LocalBusinessCentral) -> Iterator[str]:
    """A company with a few known customers and a currency they point to."""
    bc.add_company(QUERY)
    (euro,) = bc.insert_rows(QUERY, "currencies", [{"code": "EUR", "displayName": "Euro"}])
    bc.insert_rows(
        QUERY,
        "customers",
        [
            {"number": "A1", "displayName": "Adatum", "city": "Oslo", "creditLimit": 100},
            {"number": "A2", "displayName": "Fabrikam", "city": "Bergen", "creditLimit": 2500.5},
            {
                "number": "A3",
                "displayName": "O'Brien & Sons",
                "city": "Oslo",
                "creditLimit": 0,
                "currencyId": euro,
                "currencyCode": "EUR",
                "taxLiable": True,
            },
            {"number": "B1", "displayName": "Trey Research", "city": "Lyon", "blocked": "All"},
        ],
    )
    yield f"/companies({bc.company_ids[QUERY]})/customers"


def numbers(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["number"] for row in response.json()["value"]]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("city eq 'Oslo'", ["A1", "A3"]),
        ("city eq 'OSLO'", ["A1", "A3"]),  # BC's collation ignores case
        ("city ne 'Oslo'", ["A2", "B1"]),
        ("creditLimit gt 100", ["A2"]),
        ("creditLimit ge 100 and city eq 'Oslo'", ["A1"]),
        ("(city eq 'Lyon' or city eq 'Bergen') and creditLimit lt 1000", ["B1"]),
        ("creditLimit le 0 or number eq 'A2'", ["A2", "A3", "B1"]),
        ("displayName eq 'O''Brien & Sons'", ["A3"]),
        ("startswith(displayName, 'Fab')", ["A2"]),
        ("contains(displayName, 'research')", ["B1"]),
        ("endswith(number, '1')", ["A1", "B1"]),
        ("not (city eq 'Oslo')", ["A2", "B1"]),
        ("taxLiable eq true", ["A3"]),
        ("taxLiable", ["A3"]),
        ("blocked eq 'All'", ["B1"]),
        ("creditLimit eq 2500.5", ["A2"]),
        ("lastModifiedDateTime gt 2000-01-01T00:00:00Z", ["A1", "A2", "A3", "B1"]),
        ("lastModifiedDateTime lt 2000-01-01", []),
        ("currencyId ne 00000000-0000-0000-0000-000000000000", ["A3"]),
    ],
)
def test_filter(bc_api: httpx.Client, seeded: str, expression: str, expected: list[str]) -> None:
    assert numbers(bc_api.get(seeded, params={"$filter": expression})) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("city eq", "Expression expected at position 7 in 'city eq'."),
        ("city eq 'Oslo' and", "Expression expected at position 18"),
        ("(city eq 'Oslo'", "')' expected at position 15"),
        ("city eq 'Oslo' 'x'", "Syntax error at position 15"),
        ("planet eq 'Mars'", "Could not find a property named 'planet' on type"),
        ("city eq 5", "A binary operator with incompatible types was detected"),
        ("city", "must evaluate to a single boolean value"),
        ("city eq 'Oslo' # 1", "character '#' is not valid at position 15"),
        ("length(city) eq 4", "Unknown function 'length'"),
    ],
)
def test_bad_filters_are_400_naming_the_position(
    bc_api: httpx.Client, seeded: str, expression: str, message: str
) -> None:
    response = bc_api.get(seeded, params={"$filter": expression})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    assert message in error["message"]


def test_lastmodified_filter_has_millisecond_precision(
    bc: LocalBusinessCentral, bc_api: httpx.Client, seeded: str
) -> None:
    created = bc_api.post(seeded, json={"number": "MS1"}).json()
    stamp = created["lastModifiedDateTime"]
    assert numbers(bc_api.get(seeded, params={"$filter": f"lastModifiedDateTime gt {stamp}"})) == []
    found = bc_api.get(seeded, params={"$filter": f"lastModifiedDateTime ge {stamp}"})
    assert "MS1" in numbers(found)
    bc_api.delete(f"{seeded}({created['id']})", headers={"If-Match": "*"})


def test_select_orderby_top_skip_count(bc_api: httpx.Client, seeded: str) -> None:
    response = bc_api.get(
        seeded,
        params={
            "$select": "number,city",
            "$orderby": "city desc,number",
            "$top": "2",
            "$skip": "1",
            "$count": "true",
            "$filter": "startswith(number, 'A') or number eq 'B1'",
        },
    )
    body = response.json()
    assert body["@odata.count"] == 4
    assert [(r["number"], r["city"]) for r in body["value"]] == [("A3", "Oslo"), ("B1", "Lyon")]
    assert set(body["value"][0]) == {"@odata.etag", "number", "city"}
    assert "@odata.nextLink" not in body
    count = bc_api.get(f"{seeded}/$count", params={"$filter": "city eq 'Oslo'"})
    assert count.status_code == 200 and count.text == "2"


def test_select_and_orderby_errors(bc_api: httpx.Client, seeded: str) -> None:
    assert bc_api.get(seeded, params={"$select": "number,shoeSize"}).status_code == 400
    assert bc_api.get(seeded, params={"$orderby": "shoeSize"}).status_code == 400
    assert bc_api.get(seeded, params={"$orderby": "city sideways"}).status_code == 400
    assert bc_api.get(seeded, params={"$top": "-1"}).status_code == 400
    assert bc_api.get(seeded, params={"$apply": "groupby(city)"}).status_code == 400


def test_expand_a_currency(bc_api: httpx.Client, seeded: str) -> None:
    body = bc_api.get(
        seeded,
        params={"$expand": "currency($select=code)", "$filter": "number eq 'A3' or number eq 'A1'"},
    ).json()
    by_number = {r["number"]: r for r in body["value"]}
    assert by_number["A3"]["currency"]["code"] == "EUR"
    assert set(by_number["A3"]["currency"]) == {"@odata.etag", "code"}
    assert by_number["A1"]["currency"] is None
    one = bc_api.get(f"{seeded}({by_number['A3']['id']})", params={"$expand": "currency"}).json()
    assert one["currency"]["displayName"] == "Euro"
    assert bc_api.get(seeded, params={"$expand": "salesOrders"}).status_code == 400


def test_paging_through_25000_rows(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    bc.add_company(PAGING)
    bc.insert_rows(PAGING, "customers", ({"displayName": f"Bulk {i}"} for i in range(25_000)))
    url: str | None = f"/companies({bc.company_ids[PAGING]})/customers"
    pages: list[int] = []
    seen: list[str] = []
    while url:
        body = bc_api.get(url).json()
        pages.append(len(body["value"]))
        seen += [r["number"] for r in body["value"]]
        url = body.get("@odata.nextLink")
    assert pages == [20_000, 5_000]  # BC's page is 20,000 entities
    assert len(set(seen)) == 25_000 and seen == sorted(seen)


def test_maxpagesize_and_rows_written_between_pages(
    bc: LocalBusinessCentral, bc_api: httpx.Client, seeded: str
) -> None:
    headers = {"Prefer": "odata.maxpagesize=2"}
    first = bc_api.get(seeded, headers=headers, params={"$select": "number"})
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=2"
    body = first.json()
    assert numbers(first) == ["A1", "A2"]
    link = body["@odata.nextLink"]
    assert "$skiptoken=" in link and "$select=number" in link
    # a row sorting before the page boundary, written now, does not shift the next page
    early = bc_api.post(seeded, json={"number": "A0"}).json()
    second = bc_api.get(link, headers=headers)
    assert numbers(second) == ["A3", "B1"]
    assert "@odata.nextLink" not in second.json()
    bc_api.delete(f"{seeded}({early['id']})", headers={"If-Match": "*"})
    limited = bc_api.get(seeded, headers=headers, params={"$top": "3"}).json()
    rest = bc_api.get(limited["@odata.nextLink"], headers=headers).json()
    assert len(limited["value"]) + len(rest["value"]) == 3
    assert bc_api.get(seeded, params={"$skiptoken": "garbage"}).status_code == 400


def test_clock_stamps_lastmodified() -> None:
    moment = calendar.timegm((2024, 5, 17, 8, 30, 0)) + 0.25
    with LocalBusinessCentral.start(clock=lambda: moment) as service:
        company = next(iter(service.company_ids.values()))
        with httpx.Client(
            base_url=service.url,
            verify=service.ssl_context(),
            headers={"Authorization": f"Bearer {service.token}"},
        ) as client:
            body = client.post(f"/companies({company})/customers", json={}).json()
    assert body["lastModifiedDateTime"] == "2024-05-17T08:30:00.250Z"


def test_navigation_paths(bc: LocalBusinessCentral, bc_api: httpx.Client, seeded: str) -> None:
    rows = {r["number"]: r for r in bc_api.get(seeded).json()["value"]}
    currency = bc_api.get(f"{seeded}({rows['A3']['id']})/currency")
    assert currency.status_code == 200 and currency.json()["code"] == "EUR"
    assert currency.headers["ETag"] == currency.json()["@odata.etag"]
    assert bc_api.get(f"{seeded}({rows['A1']['id']})/currency").status_code == 204
    assert bc_api.get(f"{seeded}({rows['A1']['id']})/planet").status_code == 404
