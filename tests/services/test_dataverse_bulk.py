"""CreateMultiple / UpdateMultiple / UpsertMultiple and $batch, all or nothing where promised."""

from __future__ import annotations

import json
import re
import uuid

import httpx

from accord.services.dataverse import LocalDataverse
from tests.services.conftest import new_id

TYPE = "Microsoft.Dynamics.CRM.account"


def _accounts(n: int, prefix: str) -> list[dict[str, object]]:
    return [{"@odata.type": TYPE, "accountid": new_id(), "name": f"{prefix}{i}"} for i in range(n)]


def test_create_multiple_returns_the_ids_in_order(api: httpx.Client, dv: LocalDataverse):
    targets = _accounts(1000, "bulk")
    response = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert response.status_code == 200
    assert response.json()["Ids"] == [t["accountid"] for t in targets]
    row = api.get(f"accounts({targets[999]['accountid']})").json()
    assert row["name"] == "bulk999"


def test_create_multiple_is_all_or_nothing(api: httpx.Client, dv: LocalDataverse):
    existing = new_id()
    api.post("accounts", json={"accountid": existing, "name": "already"})
    targets = _accounts(5, "atomic")
    targets[3]["accountid"] = existing
    before = dv.count("account")
    response = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert response.status_code == 412
    assert response.json()["error"]["code"] == "0x80040237"
    assert dv.count("account") == before
    assert api.get(f"accounts({targets[0]['accountid']})").status_code == 404
    too_long = _accounts(3, "long")
    too_long[1]["name"] = "x" * 500
    bad = api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": too_long})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "0x80044331"
    assert dv.count("account") == before


def test_update_multiple_and_a_missing_target(api: httpx.Client):
    targets = _accounts(3, "upd")
    api.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    changes = [
        {"@odata.type": TYPE, "accountid": t["accountid"], "name": "renamed"} for t in targets
    ]
    assert (
        api.post(
            "accounts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": changes}
        ).status_code
        == 204
    )
    assert api.get(f"accounts({targets[2]['accountid']})").json()["name"] == "renamed"
    missing = new_id()
    changes = [
        {"@odata.type": TYPE, "accountid": targets[0]["accountid"], "name": "not applied"},
        {"@odata.type": TYPE, "accountid": missing, "name": "x"},
    ]
    response = api.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": changes})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"account With Id = {missing} Does Not Exist"
    assert api.get(f"accounts({targets[0]['accountid']})").json()["name"] == "renamed"


def test_upsert_multiple_creates_and_updates(api: httpx.Client):
    existing = new_id()
    api.post("accounts", json={"accountid": existing, "name": "old"})
    fresh = new_id()
    targets = [
        {"@odata.type": TYPE, "@odata.id": f"accounts({existing})", "name": "updated"},
        {"@odata.type": TYPE, "accountid": fresh, "name": "created"},
    ]
    response = api.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": targets})
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"accounts({existing})").json()["name"] == "updated"
    assert api.get(f"accounts({fresh})").json()["name"] == "created"


# ---- $batch -----------------------------------------------------------------------------


def _part(method: str, url: str, body: object | None = None, content_id: str | None = None) -> str:
    head = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    if content_id:
        head += f"Content-ID: {content_id}\r\n"
    request = f"{method} {url} HTTP/1.1\r\n"
    if body is not None:
        request += "Content-Type: application/json; type=entry\r\n\r\n" + json.dumps(body)
    else:
        request += "Accept: application/json\r\n\r\n"
    return f"{head}\r\n{request}\r\n"


def _changeset(parts: list[str]) -> str:
    boundary = f"changeset_{uuid.uuid4().hex}"
    inner = "".join(f"--{boundary}\r\n{p}" for p in parts)
    return f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{inner}--{boundary}--\r\n"


def _batch(api: httpx.Client, items: list[str], prefer: str | None = None) -> httpx.Response:
    boundary = f"batch_{uuid.uuid4().hex}"
    body = "".join(f"--{boundary}\r\n{i}" for i in items) + f"--{boundary}--\r\n"
    headers = {"Content-Type": f"multipart/mixed; boundary={boundary}"}
    if prefer:
        headers["Prefer"] = prefer
    return api.post("$batch", content=body.encode(), headers=headers)


def _statuses(response: httpx.Response) -> list[int]:
    return [int(s) for s in re.findall(r"^HTTP/1\.1 (\d{3})", response.text, re.MULTILINE)]


def test_batch_with_a_change_set_and_content_id_reference(api: httpx.Client, dv: LocalDataverse):
    account = new_id()
    items = [
        _changeset(
            [
                _part(
                    "POST", f"{dv.api_url}accounts", {"accountid": account, "name": "batched"}, "1"
                ),
                _part(
                    "POST",
                    "contacts",
                    {"lastname": "Ref", "parentcustomerid_account@odata.bind": "$1"},
                    "2",
                ),
                _part("PATCH", "$1", {"telephone1": "555"}, "3"),
            ]
        ),
        _part("GET", f"accounts({account})?$select=name,telephone1"),
    ]
    response = _batch(api, items)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert _statuses(response) == [204, 204, 204, 200]
    assert "changesetresponse_" in response.text
    assert f"Location: {dv.api_url}accounts({account})" in response.text
    assert '"telephone1":"555"' in response.text
    contacts = api.get(
        "contacts",
        params={"$filter": f"_parentcustomerid_value eq {account}", "$select": "lastname"},
    ).json()["value"]
    assert [c["lastname"] for c in contacts] == ["Ref"]


def test_a_failing_change_set_rolls_back_and_stops_the_batch(api: httpx.Client):
    first, missing, after = new_id(), new_id(), new_id()
    items = [
        _changeset(
            [
                _part("POST", "accounts", {"accountid": first, "name": "rolled back"}, "1"),
                _part("PATCH", f"accounts({missing})", {"name": "x"}, "2"),  # upsert: fine
                _part("DELETE", f"accounts({new_id()})", None, "3"),  # 404
            ]
        ),
        _part("POST", "accounts", {"accountid": after, "name": "never run"}),
    ]
    response = _batch(api, items)
    assert response.status_code == 400
    assert _statuses(response) == [404]
    assert "0x80040217" in response.text
    for record_id in (first, missing, after):
        assert api.get(f"accounts({record_id})").status_code == 404


def test_continue_on_error_runs_every_part(api: httpx.Client):
    kept = new_id()
    items = [
        _part("DELETE", f"accounts({new_id()})"),
        _part("POST", "accounts", {"accountid": kept, "name": "kept"}),
    ]
    response = _batch(api, items, prefer="odata.continue-on-error")
    assert response.status_code == 200
    assert _statuses(response) == [404, 204]
    assert api.get(f"accounts({kept})").status_code == 200
    stopped = new_id()
    items = [
        _part("DELETE", f"accounts({new_id()})"),
        _part("POST", "accounts", {"accountid": stopped, "name": "x"}),
    ]
    response = _batch(api, items)
    assert response.status_code == 400
    assert api.get(f"accounts({stopped})").status_code == 404


def test_batch_limits(api: httpx.Client):
    too_many = [_part("GET", "WhoAmI") for _ in range(1001)]
    response = _batch(api, too_many)
    assert response.status_code == 400
    assert "1000" in response.json()["error"]["message"]
    get_in_changeset = _batch(api, [_changeset([_part("GET", "WhoAmI")])])
    assert get_in_changeset.status_code == 400
    forward = _batch(api, [_changeset([_part("PATCH", "$9", {"name": "x"}, "1")])])
    assert forward.status_code == 400


def test_stats_count_requests_and_a_batch_as_one(api: httpx.Client, dv: LocalDataverse):
    dv.stats.reset()
    api.get("WhoAmI")
    api.post("accounts", json={"name": "counted"})
    _batch(api, [_part("GET", "WhoAmI"), _part("GET", "WhoAmI")])
    api.get(f"accounts({new_id()})")
    assert dv.stats.total == 4
    assert dv.stats.by_method == {"GET": 2, "POST": 2}
    assert dv.stats.by_status[404] == 1
