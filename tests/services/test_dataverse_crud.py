"""Create, read, update, upsert and delete over HTTPS, with Dataverse's statuses and headers."""

from __future__ import annotations

import re

import httpx

from accord.services.dataverse import LocalDataverse
from tests.services.conftest import new_id


def test_post_answers_204_with_the_entity_id_and_the_record_reads_back(
    api: httpx.Client, dv: LocalDataverse
):
    response = api.post("accounts", json={"name": "Contoso", "creditlimit": 1500.25})
    assert response.status_code == 204
    entity = response.headers["OData-EntityId"]
    match = re.fullmatch(re.escape(dv.api_url) + r"accounts\(([0-9a-f-]{36})\)", entity)
    assert match, entity
    got = api.get(f"accounts({match.group(1)})")
    assert got.status_code == 200
    body = got.json()
    assert body["name"] == "Contoso"
    assert body["creditlimit"] == 1500.25
    assert body["accountid"] == match.group(1)
    assert body["statecode"] == 0 and body["statuscode"] == 1  # defaults
    assert re.fullmatch(r'W/"\d+"', body["@odata.etag"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["modifiedon"])
    assert body["@odata.context"].endswith("$metadata#accounts/$entity")


def test_client_chosen_id_and_return_representation(api: httpx.Client):
    record_id = new_id()
    response = api.post(
        "contacts?$select=lastname",
        json={"contactid": record_id, "lastname": "Ng"},
        headers={"Prefer": "return=representation"},
    )
    assert response.status_code == 201
    assert "OData-EntityId" not in response.headers
    assert response.json()["contactid"] == record_id
    assert response.json()["lastname"] == "Ng"
    assert "firstname" not in response.json()


def test_duplicate_id_is_412_with_the_duplicate_code(api: httpx.Client):
    record_id = new_id()
    assert api.post("accounts", json={"accountid": record_id, "name": "A"}).status_code == 204
    again = api.post("accounts", json={"accountid": record_id, "name": "B"})
    assert again.status_code == 412
    assert again.json()["error"]["code"] == "0x80040237"


def test_missing_record_is_404_does_not_exist(api: httpx.Client):
    record_id = new_id()
    response = api.get(f"accounts({record_id})")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "0x80040217",
        "message": f"account With Id = {record_id} Does Not Exist",
    }
    assert api.delete(f"accounts({record_id})").status_code == 404


def test_unknown_entity_set_is_404_bad_segment(api: httpx.Client):
    response = api.get("Accounts")  # names are case-sensitive
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "0x8006088a"
    assert "segment 'Accounts'" in response.json()["error"]["message"]


def test_patch_updates_and_bumps_the_etag(api: httpx.Client):
    record_id = new_id()
    api.post("accounts", json={"accountid": record_id, "name": "Old"})
    before = api.get(f"accounts({record_id})").json()["@odata.etag"]
    response = api.patch(f"accounts({record_id})", json={"name": "New"})
    assert response.status_code == 204
    after = api.get(f"accounts({record_id})").json()
    assert after["name"] == "New"
    assert after["@odata.etag"] != before


def test_if_match_with_a_stale_etag_is_412_and_changes_nothing(api: httpx.Client):
    record_id = new_id()
    api.post("accounts", json={"accountid": record_id, "name": "One"})
    stale = api.get(f"accounts({record_id})").json()["@odata.etag"]
    api.patch(f"accounts({record_id})", json={"name": "Two"})
    response = api.patch(
        f"accounts({record_id})", json={"name": "Three"}, headers={"If-Match": stale}
    )
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "0x80060882"
    assert api.get(f"accounts({record_id})").json()["name"] == "Two"
    current = api.get(f"accounts({record_id})").json()["@odata.etag"]
    ok = api.patch(f"accounts({record_id})", json={"name": "Three"}, headers={"If-Match": current})
    assert ok.status_code == 204
    delete_stale = api.delete(f"accounts({record_id})", headers={"If-Match": current})
    assert delete_stale.status_code == 412


def test_if_none_match_on_get_is_304_while_unchanged(api: httpx.Client):
    record_id = new_id()
    api.post("accounts", json={"accountid": record_id, "name": "Cache"})
    tag = api.get(f"accounts({record_id})").json()["@odata.etag"]
    assert api.get(f"accounts({record_id})", headers={"If-None-Match": tag}).status_code == 304
    api.patch(f"accounts({record_id})", json={"name": "Changed"})
    assert api.get(f"accounts({record_id})", headers={"If-None-Match": tag}).status_code == 200


def test_patch_upserts_a_missing_record_with_the_given_id(api: httpx.Client):
    record_id = new_id()
    created = api.patch(f"accounts({record_id})", json={"name": "Upserted"})
    assert created.status_code == 204
    assert created.headers["OData-EntityId"].endswith(f"accounts({record_id})")
    assert api.get(f"accounts({record_id})").json()["name"] == "Upserted"
    updated = api.patch(
        f"accounts({record_id})",
        json={"name": "Again"},
        headers={"Prefer": "return=representation"},
    )
    assert updated.status_code == 200
    assert updated.json()["name"] == "Again"
    other = new_id()
    made = api.patch(
        f"accounts({other})", json={"name": "X"}, headers={"Prefer": "return=representation"}
    )
    assert made.status_code == 201


def test_upsert_guards_if_match_star_and_if_none_match_star(api: httpx.Client):
    missing = new_id()
    response = api.patch(f"accounts({missing})", json={"name": "No"}, headers={"If-Match": "*"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "0x80040217"
    assert api.get(f"accounts({missing})").status_code == 404
    existing = new_id()
    api.post("accounts", json={"accountid": existing, "name": "Yes"})
    response = api.patch(
        f"accounts({existing})", json={"name": "No"}, headers={"If-None-Match": "*"}
    )
    assert response.status_code == 412
    assert (
        response.json()["error"]["message"] == "A record with matching key values already exists."
    )
    assert api.get(f"accounts({existing})").json()["name"] == "Yes"


def test_delete_is_204_then_404(api: httpx.Client):
    record_id = new_id()
    api.post("accounts", json={"accountid": record_id, "name": "Gone"})
    assert api.delete(f"accounts({record_id})").status_code == 204
    assert api.get(f"accounts({record_id})").status_code == 404


def test_lookups_bind_read_as_value_and_must_exist(api: httpx.Client):
    currency = new_id()
    api.post(
        "transactioncurrencies", json={"transactioncurrencyid": currency, "isocurrencycode": "EUR"}
    )
    account = new_id()
    response = api.post(
        "accounts",
        json={
            "accountid": account,
            "name": "With currency",
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({currency})",
        },
    )
    assert response.status_code == 204
    body = api.get(f"accounts({account})?$select=_transactioncurrencyid_value").json()
    assert body["_transactioncurrencyid_value"] == currency
    missing = new_id()
    bad = api.post(
        "accounts",
        json={
            "name": "Bad",
            "transactioncurrencyid@odata.bind": f"/transactioncurrencies({missing})",
        },
    )
    assert bad.status_code == 404
    assert (
        bad.json()["error"]["message"] == f"transactioncurrency With Id = {missing} Does Not Exist"
    )


def test_polymorphic_parentcustomerid_records_its_target(api: httpx.Client):
    account = new_id()
    api.post("accounts", json={"accountid": account, "name": "Parent"})
    contact = new_id()
    api.post(
        "contacts",
        json={
            "contactid": contact,
            "lastname": "Child",
            "parentcustomerid_account@odata.bind": f"accounts({account})",
        },
    )
    body = api.get(
        f"contacts({contact})?$select=_parentcustomerid_value,parentcustomeridtype",
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()
    assert body["_parentcustomerid_value"] == account
    assert body["parentcustomeridtype"] == "account"
    assert body["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    wrong = api.patch(
        f"contacts({contact})", json={"parentcustomerid_account@odata.bind": f"contacts({contact})"}
    )
    assert wrong.status_code == 400
    api.patch(f"contacts({contact})", json={"parentcustomerid_account@odata.bind": None})
    cleared = api.get(f"contacts({contact})?$select=_parentcustomerid_value").json()
    assert cleared["_parentcustomerid_value"] is None


def test_payload_errors_name_the_property(api: httpx.Client):
    unknown = api.post("accounts", json={"name": "X", "nosuchcolumn": 1})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "0x80048d19"
    assert "'nosuchcolumn'" in unknown.json()["error"]["message"]
    too_long = api.post("accounts", json={"name": "x" * 161})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "0x80044331"
    bad_option = api.post("accounts", json={"name": "x", "customertypecode": 99})
    assert bad_option.status_code == 400
    assert "outside the valid range" in bad_option.json()["error"]["message"]
    wrong_type = api.post("accounts", json={"name": 5})
    assert wrong_type.status_code == 400


def test_urls_longer_than_32k_are_refused_but_fit_in_a_batch(api: httpx.Client):
    known = new_id()
    api.post("accounts", json={"accountid": known, "name": "Found by a long filter"})
    # about 34,000 characters in the URL, 1,200 (60,000) in the batch
    ids = " or ".join(f"accountid eq {new_id()}" for _ in range(700))
    response = api.get("accounts", params={"$select": "name", "$filter": ids})
    assert response.status_code == 414
    assert "32,768" in response.json()["error"]["message"]
    long_ids = " or ".join(
        [*(f"accountid eq {new_id()}" for _ in range(1199)), f"accountid eq {known}"]
    )
    assert 32 * 1024 < len(long_ids) < 64 * 1024
    boundary = "batch_long"
    body = (
        f"--{boundary}\r\nContent-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n\r\n"
        f"GET accounts?$select=name&$filter={long_ids} HTTP/1.1\r\n"
        "Accept: application/json\r\n\r\n\r\n"
        f"--{boundary}--\r\n"
    )
    batched = api.post(
        "$batch", content=body, headers={"Content-Type": f"multipart/mixed; boundary={boundary}"}
    )
    assert batched.status_code == 200
    assert "HTTP/1.1 200 OK" in batched.text
    assert "Found by a long filter" in batched.text


def test_a_held_clock_stamps_writes_within_one_second(tmp_path):
    with LocalDataverse.start(data_dir=tmp_path, clock=lambda: 1_700_000_000.7) as held:
        held.load("account", [{"name": "a"}, {"name": "b"}])
        with httpx.Client(verify=held.ssl_context()) as client:
            rows = client.get(
                f"{held.api_url}accounts?$select=modifiedon,versionnumber",
                headers={"Authorization": f"Bearer {held.token}"},
            ).json()["value"]
    assert {r["modifiedon"] for r in rows} == {"2023-11-14T22:13:20Z"}
    assert len({r["versionnumber"] for r in rows}) == 2


def test_a_missing_privilege_is_403_naming_it(api: httpx.Client, dv: LocalDataverse):
    dv.deny("product", "create")
    try:
        response = api.post("products", json={"name": "x"})
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "0x80040220"
        assert "is missing prvCreateProduct privilege" in response.json()["error"]["message"]
        bulk = api.post(
            "products/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [{"name": "x"}]}
        )
        assert bulk.status_code == 403
        assert api.get("products?$top=1").status_code == 200  # reading is still allowed
    finally:
        dv.allow("product")
    assert api.post("products", json={"name": "x"}).status_code == 204


def test_a_body_id_that_contradicts_the_url_is_400(api: httpx.Client):
    record_id = new_id()
    response = api.patch(f"accounts({record_id})", json={"accountid": new_id(), "name": "x"})
    assert response.status_code == 400
    assert api.get(f"accounts({record_id})").status_code == 404
