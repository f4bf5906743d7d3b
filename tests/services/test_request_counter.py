"""``LocalDataverse.requests``: the Web API requests it served, counted on its side by kind."""

from __future__ import annotations

import httpx

from accord.services.dataverse import LocalDataverse
from tests.services.conftest import new_id


def test_requests_are_counted_by_method_entity_set_and_action(
    dv: LocalDataverse, api: httpx.Client
) -> None:
    dv.requests.clear()
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
    assert dict(dv.requests) == {
        "POST accounts/CreateMultiple": 1,
        "GET accounts": 2,
        "GET EntityDefinitions": 1,
    }


def test_a_refused_token_is_not_counted(dv: LocalDataverse) -> None:
    dv.requests.clear()
    answer = httpx.get(
        f"{dv.api_url}accounts",
        headers={"Authorization": "Bearer wrong"},
        verify=dv.ssl_context(),
    )
    assert answer.status_code == 401
    assert sum(dv.requests.values()) == 0
