"""Local Business Central: companies, CRUD with BC's status codes, ETags and If-Match rules,
number series, and companies that never see each other's records."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from accord.services.businesscentral import LocalBusinessCentral

USA = "CRONUS USA, Inc."
CANADA = "CRONUS Canada, Inc."
MS_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def customers(bc: LocalBusinessCentral, company: str = USA) -> str:
    return f"/companies({bc.company_ids[company]})/customers"


def test_companies_are_listed_with_their_ids(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    response = bc_api.get("/companies")
    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("/api/v2.0/$metadata#companies")
    names = {c["name"]: c["id"] for c in body["value"]}
    assert names == bc.company_ids
    one = bc_api.get(f"/companies({names[USA]})").json()
    assert one["displayName"] == USA and MS_UTC.match(one["systemModifiedAt"])
    filtered = bc_api.get("/companies", params={"$filter": f"name eq '{CANADA}'"}).json()
    assert [c["name"] for c in filtered["value"]] == [CANADA]


def test_post_answers_201_with_the_entity_its_etag_and_the_next_number(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    response = bc_api.post(customers(bc), json={"displayName": "Adatum", "creditLimit": 2500})
    assert response.status_code == 201
    body = response.json()
    assert body["displayName"] == "Adatum" and body["creditLimit"] == 2500
    assert re.fullmatch(r"C\d{5}", body["number"])
    assert uuid.UUID(body["id"])
    assert body["@odata.etag"].startswith('W/"') and response.headers["ETag"] == body["@odata.etag"]
    assert MS_UTC.match(body["lastModifiedDateTime"])
    # BC has no NULL: blanks are "", zero GUIDs and the first option
    assert body["city"] == "" and body["blocked"] == " "
    assert body["currencyId"] == "00000000-0000-0000-0000-000000000000"
    assert response.headers["Location"].endswith(f"/customers({body['id']})")
    again = bc_api.get(f"{customers(bc)}({body['id']})")
    assert again.status_code == 200 and again.json()["number"] == body["number"]
    second = bc_api.post(customers(bc), json={"displayName": "Fabrikam"}).json()
    assert int(second["number"][1:]) == int(body["number"][1:]) + 10  # CUST steps by 10


def test_a_given_number_is_kept_and_a_duplicate_is_refused(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    first = bc_api.post(customers(bc), json={"number": "web-0001", "displayName": "Kept"})
    assert first.status_code == 201
    assert first.json()["number"] == "WEB-0001"  # a Code field is upper-cased
    duplicate = bc_api.post(customers(bc), json={"number": "WEB-0001", "displayName": "Again"})
    assert duplicate.status_code == 400
    error = duplicate.json()["error"]
    assert error["code"] == "Internal_EntityWithSameKeyExists"
    assert "WEB-0001" in error["message"]
    # the same number in another company is another record
    other = bc_api.post(customers(bc, CANADA), json={"number": "WEB-0001"})
    assert other.status_code == 201


def test_the_series_skips_numbers_already_taken(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    company = "Series Test"
    bc.add_company(company)
    bc_api.post(customers(bc, company), json={"number": "C00010"})
    bc_api.post(customers(bc, company), json={"number": "C00020"})
    created = bc_api.post(customers(bc, company), json={"displayName": "next"}).json()
    assert created["number"] == "C00030"


def test_patch_needs_if_match_and_a_current_etag(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    created = bc_api.post(customers(bc), json={"displayName": "Contoso"}).json()
    url = f"{customers(bc)}({created['id']})"
    missing = bc_api.patch(url, json={"city": "Oslo"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "BadRequest_InvalidToken"
    updated = bc_api.patch(url, json={"city": "Oslo"}, headers={"If-Match": created["@odata.etag"]})
    assert updated.status_code == 200
    body = updated.json()
    assert body["city"] == "Oslo" and body["displayName"] == "Contoso"  # the full entity
    assert body["@odata.etag"] != created["@odata.etag"]
    assert body["lastModifiedDateTime"] >= created["lastModifiedDateTime"]
    stale = bc_api.patch(url, json={"city": "Bergen"}, headers={"If-Match": created["@odata.etag"]})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "Request_EntityChanged"
    assert bc_api.get(url).json()["city"] == "Oslo"
    star = bc_api.patch(url, json={"city": "Bergen"}, headers={"If-Match": "*"})
    assert star.status_code == 200 and star.json()["city"] == "Bergen"


def test_delete_needs_if_match_then_answers_204(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    created = bc_api.post(customers(bc), json={"displayName": "Doomed"}).json()
    url = f"{customers(bc)}({created['id']})"
    assert bc_api.delete(url).status_code == 400
    stale = bc_api.delete(url, headers={"If-Match": 'W/"JzE5OzE7MDA7Jw=="'})
    assert stale.status_code == 409
    deleted = bc_api.delete(url, headers={"If-Match": created["@odata.etag"]})
    assert deleted.status_code == 204 and deleted.content == b""
    gone = bc_api.get(url)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "Internal_RecordNotFound"
    assert bc_api.patch(url, json={}, headers={"If-Match": "*"}).status_code == 404


def test_bad_bodies_are_refused_in_bc_words(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    unknown = bc_api.post(customers(bc), json={"nickname": "x"})
    assert unknown.status_code == 400
    assert (
        "The property 'nickname' does not exist on type 'Microsoft.NAV.customer'"
        in (unknown.json()["error"]["message"])
    )
    too_long = bc_api.post(customers(bc), json={"displayName": "x" * 101})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "Application_StringExceededLength"
    wrong_type = bc_api.post(customers(bc), json={"creditLimit": "lots"})
    assert wrong_type.status_code == 400
    bad_option = bc_api.post(customers(bc), json={"blocked": "Sometimes"})
    assert bad_option.status_code == 400
    read_only = bc_api.post(customers(bc), json={"balanceDue": 5})
    assert read_only.status_code == 400
    not_json = bc_api.post(
        customers(bc), content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    assert bc_api.get(f"{customers(bc)}(not-a-guid)").status_code == 400


def test_companies_do_not_see_each_other(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    created = bc_api.post(customers(bc), json={"displayName": "Only in USA"}).json()
    elsewhere = bc_api.get(f"{customers(bc, CANADA)}({created['id']})")
    assert elsewhere.status_code == 404
    names = {c["displayName"] for c in bc_api.get(customers(bc, CANADA)).json()["value"]}
    assert "Only in USA" not in names
    patched = bc_api.patch(
        f"{customers(bc, CANADA)}({created['id']})", json={"city": "x"}, headers={"If-Match": "*"}
    )
    assert patched.status_code == 404


def test_unknown_companies_sets_and_environments_are_404(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    missing = bc_api.get(f"/companies({uuid.uuid4()})/customers")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "BadRequest_NotFound"
    assert bc_api.get(f"/companies({bc.company_ids[USA]})/spaceships").status_code == 404
    wrong_env = bc_api.get(f"{bc.root}/v2.0/{bc.tenant}/sandbox/api/v2.0/companies")
    assert wrong_env.status_code == 404
    # the tenant may be left out of the URL, as BC online allows
    short = bc_api.get(f"{bc.root}/v2.0/{bc.environment}/api/v2.0/companies")
    assert short.status_code == 200


def test_other_standard_entities(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    company = f"/companies({bc.company_ids[USA]})"
    currency = bc_api.post(f"{company}/currencies", json={"code": "eur", "displayName": "Euro"})
    assert currency.status_code == 201 and currency.json()["code"] == "EUR"
    no_code = bc_api.post(f"{company}/currencies", json={"displayName": "Nameless"})
    assert no_code.status_code == 400
    for entity_set, body in [
        ("contacts", {"displayName": "Ann", "type": "Person"}),
        ("items", {"displayName": "Bicycle", "unitPrice": 499.5}),
        ("vendors", {"displayName": "Supplier"}),
        ("salespeoplePurchasers", {"code": "JR", "displayName": "John Roberts"}),
        ("unitsOfMeasure", {"code": "PCS", "displayName": "Piece"}),
    ]:
        response = bc_api.post(f"{company}/{entity_set}", json=body)
        assert response.status_code == 201, (entity_set, response.text)
        assert all(response.json()[k] == v for k, v in body.items() if k != "code")
    item = bc_api.get(f"{company}/items", params={"$filter": "displayName eq 'Bicycle'"}).json()
    assert item["value"][0]["unitPrice"] == 499.5 and item["value"][0]["type"] == "Inventory"


def test_a_data_folder_keeps_companies_rows_series_and_credentials(tmp_path: Path) -> None:
    first = LocalBusinessCentral.start(data_dir=tmp_path, companies=("Keep Co",))
    try:
        company = first.company_ids["Keep Co"]
        token, tenant = first.token, first.tenant
        with httpx.Client(
            base_url=first.url,
            verify=first.ssl_context(),
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            created = client.post(
                f"/companies({company})/customers", json={"displayName": "Kept"}
            ).json()
    finally:
        first.stop()
    again = LocalBusinessCentral.start(data_dir=tmp_path, companies=("Keep Co", "New Co"))
    try:
        assert again.token == token and again.tenant == tenant
        assert again.company_ids["Keep Co"] == company and "New Co" in again.company_ids
        with httpx.Client(
            base_url=again.url,
            verify=again.ssl_context(),
            headers={"Authorization": f"Bearer {token}"},
        ) as client:
            read = client.get(f"/companies({company})/customers({created['id']})").json()
            assert read["@odata.etag"] == created["@odata.etag"]
            following = client.post(f"/companies({company})/customers", json={}).json()
            assert following["number"] == "C00020"
            patched = client.patch(
                f"/companies({company})/customers({created['id']})",
                json={"city": "Oslo"},
                headers={"If-Match": created["@odata.etag"]},
            ).json()
            assert patched["@odata.etag"] not in (created["@odata.etag"], following["@odata.etag"])
    finally:
        again.stop()


def test_insert_rows_may_stamp_lastmodified(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    (row_id,) = bc.insert_rows(
        CANADA,
        "items",
        [
            {
                "displayName": "Old",
                "inventory": 7,
                "lastModifiedDateTime": "2021-03-04T05:06:07.891Z",
            }
        ],
    )
    item = bc_api.get(f"/companies({bc.company_ids[CANADA]})/items({row_id})").json()
    assert item["lastModifiedDateTime"] == "2021-03-04T05:06:07.891Z" and item["inventory"] == 7


def test_a_key_cannot_be_blanked(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    created = bc_api.post(customers(bc), json={"displayName": "Keyed"}).json()
    url = f"{customers(bc)}({created['id']})"
    blanked = bc_api.patch(url, json={"number": ""}, headers={"If-Match": "*"})
    assert blanked.status_code == 400
    renamed = bc_api.patch(url, json={"number": "RENAMED-1"}, headers={"If-Match": "*"})
    assert renamed.status_code == 200 and renamed.json()["number"] == "RENAMED-1"


def test_a_client_may_choose_the_id_once(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    chosen = str(uuid.uuid4())
    created = bc_api.post(customers(bc), json={"id": chosen, "displayName": "Chosen"})
    assert created.status_code == 201 and created.json()["id"] == chosen
    again = bc_api.post(customers(bc), json={"id": chosen.upper(), "displayName": "Twice"})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "Internal_EntityWithSameKeyExists"
    assert bc_api.post(customers(bc), json={"id": "nope"}).status_code == 400
