"""``LocalDataverse.stats``: the Web API requests it answered, counted on its side by method,
status and kind: one counter, three views that always agree."""

from __future__ import annotations

import httpx

from accord.services.dataverse import LocalDataverse
from tests.services.conftest import new_id


def test_requests_are_counted_by_method_entity_set_and_action(
    dv: LocalDataverse, api: httpx.Client
) -> None:
    dv.stats.reset()
    account = new_id()
    created = api.post(
        "accounts/Microsoft.Dynamics.CRM.CreateMultiple",
        json={
            "Targets": [
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.account",
                    "accountid": account,
                    "name": "Counted",
                }
            ]
        },
    )
    assert created.status_code == 200, created.text
    assert api.get(f"accounts({account})").status_code == 200
    assert api.get("accounts", params={"$top": "1"}).status_code == 200
    assert api.get("EntityDefinitions(LogicalName='account')").status_code == 200
    assert dict(dv.stats.kinds()) == {
        "POST accounts/CreateMultiple": 1,
        "GET accounts": 2,
        "GET EntityDefinitions": 1,
    }
    assert dict(dv.stats.by_method) == {"POST": 1, "GET": 3}
    assert dv.stats.total == 4 and dv.stats.by_status[200] == 4


def test_a_refused_token_is_not_counted(dv: LocalDataverse) -> None:
    dv.stats.reset()
    answer = httpx.get(
        f"{dv.api_url}accounts",
        headers={"Authorization": "Bearer wrong"},
        verify=dv.ssl_context(),
    )
    assert answer.status_code == 401
    assert dv.stats.total == 0 and sum(dv.stats.kinds().values()) == 0


def test_a_batch_is_one_request_of_its_own_kind(dv: LocalDataverse, api: httpx.Client) -> None:
    dv.stats.reset()
    boundary = "batch_counted"
    body = (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
        "\r\n\r\nGET accounts?$top=1 HTTP/1.1\r\nAccept: application/json\r\n\r\n"
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary"
        "\r\n\r\nGET contacts?$top=1 HTTP/1.1\r\nAccept: application/json\r\n\r\n"
        f"--{boundary}--\r\n"
    )
    answer = api.post(
        "$batch",
        content=body.encode(),
        headers={"Content-Type": f'multipart/mixed; boundary="{boundary}"'},
    )
    assert answer.status_code == 200, answer.text
    assert dict(dv.stats.kinds()) == {"POST $batch": 1}
    assert dv.stats.total == 1
