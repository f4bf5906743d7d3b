"""Query options and server-driven paging, over HTTPS against the local Dataverse."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from accord.services.dataverse import LocalDataverse

PAGE = {"Prefer": "odata.maxpagesize=1000"}


@pytest.fixture(scope="module")
def people(dv: LocalDataverse) -> dict[str, str]:
    """A few accounts and contacts with known values (name -> id)."""
    currency = dv.load("transactioncurrency", [{"isocurrencycode": "EUR"}])[0]
    rows = [
        {"name": "Alpha Ltd", "address1_city": "Oslo", "creditlimit": 100.0, "statecode": 0},
        {"name": "beta gmbh", "address1_city": "Bergen", "creditlimit": 250.5, "statecode": 1},
        {"name": "Gamma O'Neil", "address1_city": None, "creditlimit": 75.0, "statecode": 0},
        {
            "name": "Delta 100%",
            "address1_city": "Oslo",
            "creditlimit": None,
            "statecode": 0,
            "transactioncurrencyid@odata.bind": f"transactioncurrencies({currency})",
        },
    ]
    ids = dv.load("account", rows)
    return {row["name"]: record_id for row, record_id in zip(rows, ids, strict=True)} | {
        "EUR": currency
    }


def names(api: httpx.Client, query: str) -> list[str]:
    response = api.get(f"accounts?$select=name&{query}")
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()["value"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("$filter=name eq 'alpha ltd'", ["Alpha Ltd"]),  # case-insensitive, as Dataverse
        ("$filter=name eq 'Gamma O''Neil'", ["Gamma O'Neil"]),
        ("$filter=address1_city eq null", ["Gamma O'Neil"]),
        ("$filter=address1_city ne null and statecode eq 0", ["Alpha Ltd", "Delta 100%"]),
        ("$filter=creditlimit gt 90 and creditlimit le 250.5", ["Alpha Ltd", "beta gmbh"]),
        ("$filter=not (statecode eq 0)", ["beta gmbh"]),
        (
            "$filter=(address1_city eq 'Oslo' or address1_city eq 'Bergen') and creditlimit ge 100",
            ["Alpha Ltd", "beta gmbh"],
        ),
        ("$filter=contains(name,'100%')", ["Delta 100%"]),  # % is not a wildcard
        ("$filter=startswith(name,'BETA')", ["beta gmbh"]),
        ("$filter=endswith(name,'ltd')", ["Alpha Ltd"]),
        (
            "$filter=Microsoft.Dynamics.CRM.In(PropertyName='address1_city',"
            "PropertyValues=['Bergen','Nowhere'])",
            ["beta gmbh"],
        ),
        (  # a list of literals is read as one token: quotes, commas and spaces inside
            "$filter=Microsoft.Dynamics.CRM.In(PropertyName='name',"
            "PropertyValues=[ 'Gamma O''Neil' , 'a,b', 'Delta 100%' ])",
            ["Gamma O'Neil", "Delta 100%"],
        ),
        ("$orderby=creditlimit desc", ["beta gmbh", "Alpha Ltd", "Gamma O'Neil", "Delta 100%"]),
        ("$orderby=name", ["Alpha Ltd", "beta gmbh", "Delta 100%", "Gamma O'Neil"]),
        ("$orderby=name desc&$top=2", ["Gamma O'Neil", "Delta 100%"]),
    ],
)
def test_filter_orderby_top(api: httpx.Client, people: dict[str, str], query: str, expected):
    got = names(api, query)
    if "$orderby" in query:
        assert got == expected
    else:
        assert sorted(got) == sorted(expected)


def test_filter_on_lookup_value_and_guid_literal(api: httpx.Client, people: dict[str, str]):
    got = names(api, f"$filter=_transactioncurrencyid_value eq {people['EUR']}")
    assert got == ["Delta 100%"]
    by_id = names(api, f"$filter=accountid eq {people['Alpha Ltd'].upper()}")
    assert by_id == ["Alpha Ltd"]


def test_filter_on_modifiedon_datetime(api: httpx.Client, people: dict[str, str]):
    assert len(names(api, "$filter=modifiedon ge 2000-01-01T00:00:00Z")) >= 4
    assert names(api, "$filter=modifiedon lt 2000-01-01T00:00:00Z") == []


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("name eq", "Expression expected at position 7 in 'name eq'."),
        ("name eq 'x' and", "Expression expected at position 15 in 'name eq 'x' and'."),
        ("(name eq 'x'", "')' or ',' expected at position 12 in '(name eq 'x''."),
        ("name eq 'x' 'y'", "Syntax error at position 12 in 'name eq 'x' 'y''."),
        ("name & 'x'", "Syntax error: character '&' is not valid at position 5 in 'name & 'x''."),
        (
            "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['a',1])",
            "String literal expected at position 66 in "
            "'Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['a',1])'.",
        ),
        ("name eq ['x']", "Syntax error at position 8 in 'name eq ['x']'."),
    ],
)
def test_bad_filter_names_the_position(api: httpx.Client, expression: str, message: str):
    response = api.get("accounts", params={"$filter": expression})
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "0x80060888", "message": message}


def test_unknown_property_and_type_mismatch_are_400(api: httpx.Client):
    unknown = api.get("accounts", params={"$filter": "nosuch eq 1"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == (
        "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'."
    )
    mismatch = api.get("accounts", params={"$filter": "name eq 5"})
    assert mismatch.status_code == 400
    assert "incompatible types" in mismatch.json()["error"]["message"]
    select = api.get("accounts", params={"$select": "name,nosuch"})
    assert select.status_code == 400
    skip = api.get("accounts", params={"$skip": "10"})
    assert skip.status_code == 400


def test_select_always_returns_the_primary_id_and_etag(api: httpx.Client, people):
    row = api.get("accounts", params={"$select": "name", "$top": "1"}).json()["value"][0]
    assert set(row) == {"@odata.etag", "name", "accountid"}


def test_count_and_expand(api: httpx.Client, people: dict[str, str]):
    body = api.get(
        "accounts",
        params={"$filter": "address1_city eq 'Oslo'", "$count": "true", "$select": "name"},
    ).json()
    assert body["@odata.count"] == 2
    expanded = api.get(
        f"accounts({people['Delta 100%']})",
        params={"$select": "name", "$expand": "transactioncurrencyid($select=isocurrencycode)"},
    ).json()
    assert expanded["transactioncurrencyid"]["isocurrencycode"] == "EUR"
    rows = api.get(
        "accounts", params={"$select": "name", "$expand": "transactioncurrencyid"}
    ).json()["value"]
    assert {r["name"]: r["transactioncurrencyid"] is None for r in rows}["Alpha Ltd"]


def test_annotations_give_formatted_values(api: httpx.Client, people: dict[str, str]):
    response = api.get(
        f"accounts({people['beta gmbh']})",
        params={"$select": "statecode"},
        headers={"Prefer": 'odata.include-annotations="*"'},
    )
    assert response.json()["statecode@OData.Community.Display.V1.FormattedValue"] == "Inactive"


def _pages(api: httpx.Client, url: str, headers: dict[str, str]) -> Iterator[httpx.Response]:
    next_url: str | None = url
    while next_url:
        response = api.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        yield response
        next_url = response.json().get("@odata.nextLink")


@pytest.fixture(scope="module")
def products(dv: LocalDataverse) -> int:
    """12,000 products (each test that pages or counts them asks for them: under xdist the
    tests of one module may run in different processes, each with its own service)."""
    dv.load("product", [{"name": f"P{i:05d}", "price": float(i)} for i in range(12_000)])
    return 12_000


def test_paging_through_12000_rows_with_maxpagesize_and_next_links(
    dv: LocalDataverse, api: httpx.Client, products: int
):
    seen: list[str] = []
    pages = list(_pages(api, "products?$select=name", PAGE))
    for page in pages:
        assert page.headers["Preference-Applied"] == "odata.maxpagesize=1000"
        seen.extend(r["name"] for r in page.json()["value"])
    assert len(pages) == 12
    assert all(len(p.json()["value"]) == 1000 for p in pages)
    assert len(seen) == len(set(seen)) == 12_000
    link = pages[0].json()["@odata.nextLink"]
    assert link.startswith(f"{dv.api_url}products?")  # absolute
    assert "$skiptoken=" in link and "$select=name" in link


def test_paging_default_and_cap_is_5000(api: httpx.Client, products: int):
    first = api.get("products?$select=name").json()
    assert len(first["value"]) == 5000 and "@odata.nextLink" in first
    huge = api.get("products?$select=name", headers={"Prefer": "odata.maxpagesize=20000"})
    assert len(huge.json()["value"]) == 5000
    assert huge.headers["Preference-Applied"] == "odata.maxpagesize=5000"


def test_paging_with_orderby_is_stable_under_concurrent_inserts(dv: LocalDataverse, api):
    dv.load("uomschedule", [{"name": f"U{i:04d}"} for i in range(0, 3000, 2)])  # even numbers
    before = {f"U{i:04d}" for i in range(0, 3000, 2)}
    seen: list[str] = []
    for number, page in enumerate(
        _pages(
            api, "uomschedules?$select=name&$orderby=name desc", {"Prefer": "odata.maxpagesize=200"}
        )
    ):
        seen.extend(r["name"] for r in page.json()["value"])
        # rows arrive between pages, before and after the cursor
        dv.load(
            "uomschedule",
            [{"name": f"U{number * 2 + 1:04d}"}, {"name": f"U{2999 - number * 2:04d}x"}],
        )
    assert len(seen) == len(set(seen))  # nothing twice
    assert before <= set(seen)  # nothing that was there is skipped
    assert seen == sorted(seen, reverse=True)  # the order holds across pages


def test_count_of_an_entity_set(api: httpx.Client, products: int):
    response = api.get("products/$count")
    assert response.status_code == 200
    assert response.text == "5000"  # Dataverse caps it


def test_include_annotations_honours_the_list_asked_for(api: httpx.Client, people):
    record = f"accounts({people['Delta 100%']})?$select=statecode,_transactioncurrencyid_value"
    only_lookups = api.get(
        record,
        headers={
            "Prefer": "odata.maxpagesize=10,odata.include-annotations="
            '"Microsoft.Dynamics.CRM.lookuplogicalname"'
        },
    ).json()
    assert only_lookups[
        "_transactioncurrencyid_value@Microsoft.Dynamics.CRM.lookuplogicalname"
    ] == ("transactioncurrency")
    assert "statecode@OData.Community.Display.V1.FormattedValue" not in only_lookups
    both = api.get(
        record,
        headers={
            "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue,'
            'Microsoft.Dynamics.CRM.*"'
        },
    ).json()
    assert both["statecode@OData.Community.Display.V1.FormattedValue"] == "Active"
    assert "_transactioncurrencyid_value@Microsoft.Dynamics.CRM.lookuplogicalname" in both


def test_expand_of_a_collection_valued_navigation_property(dv: LocalDataverse, api):
    account = dv.load("account", [{"name": "Parent with contacts"}])[0]
    dv.load(
        "contact",
        [
            {"lastname": "One", "parentcustomerid_account@odata.bind": f"accounts({account})"},
            {"lastname": "Two", "parentcustomerid_account@odata.bind": f"accounts({account})"},
        ],
    )
    body = api.get(
        f"accounts({account})",
        params={
            "$select": "name",
            "$expand": "contact_parentcustomerid_account($select=lastname)",
        },
    ).json()
    assert sorted(c["lastname"] for c in body["contact_parentcustomerid_account"]) == ["One", "Two"]
    rows = api.get(
        "accounts",
        params={
            "$select": "name",
            "$filter": "name eq 'Alpha Ltd'",
            "$expand": "contact_parentcustomerid_account($select=lastname)",
        },
    ).json()["value"]
    assert rows[0]["contact_parentcustomerid_account"] == []


@pytest.mark.parametrize(
    ("expression", "count"),
    [
        ("creditlimit gt -1.5", 3),
        ("creditlimit eq 250.5 or creditlimit eq 75", 2),
        ("modifiedon gt 1999-12-31T23:00:00-01:00", 4),  # an offset, not UTC
        ("modifiedon ge 2000-01-01", 4),  # a date is midnight UTC
        ("contains(name,'a') eq true and not startswith(name,'alpha')", 3),
        ("statecode ne 0 or address1_city eq null", 2),
    ],
)
def test_literals_and_operators(api: httpx.Client, people, expression: str, count: int):
    response = api.get(
        "accounts",
        params={"$filter": f"({expression}) and contains(name,' ')", "$select": "name"},
    )
    assert response.status_code == 200, response.text
    got = [r["name"] for r in response.json()["value"] if r["name"] in people]
    assert len(got) == count, got


def test_in_with_guids_reads_records_by_key(api: httpx.Client, people: dict[str, str]):
    wanted = [people["Alpha Ltd"], people["beta gmbh"]]
    values = ",".join(f"'{i}'" for i in wanted)
    response = api.get(
        "accounts",
        params={
            "$select": "name",
            "$filter": "Microsoft.Dynamics.CRM.In(PropertyName='accountid',"
            f"PropertyValues=[{values}])",
        },
    )
    assert sorted(r["accountid"] for r in response.json()["value"]) == sorted(wanted)


def test_text_compares_ignoring_case_and_accents_as_dataverse(dv: LocalDataverse, api):
    dv.load("account", [{"name": "Müller Straße"}, {"name": "Zoë Ltd"}])
    assert names(api, "$filter=name eq 'MULLER STRASSE'") == ["Müller Straße"]
    assert names(api, "$filter=contains(name,'zoe')") == ["Zoë Ltd"]
    assert names(api, "$filter=startswith(name,'mü')") == ["Müller Straße"]
