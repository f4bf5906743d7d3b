"""Authentication, service protection (429) and injected faults, over real HTTPS."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import msal
import pytest
import requests

from accord.services.common import Budget, FaultConfig
from accord.services.dataverse import LocalDataverse
from tests.services.conftest import ca, new_id


def _msal_app(dv: LocalDataverse, secret: str | None = None) -> msal.ConfidentialClientApplication:
    # NOTE: requests lets REQUESTS_CA_BUNDLE override a session's verify; trust_env=False stops
    # that, so that the session trusts exactly the service's CA.
    session = requests.Session()
    session.trust_env = False
    session.verify = ca(dv)
    return msal.ConfidentialClientApplication(
        dv.client_id,
        client_credential=secret or dv.client_secret,
        authority=dv.authority,
        instance_discovery=False,
        http_client=session,
    )


def test_msal_client_credentials_token_is_accepted_and_cached(dv: LocalDataverse, api):
    app = _msal_app(dv)
    issued = dv.issuer.issued
    result = app.acquire_token_for_client(scopes=[f"{dv.url}/.default"])
    assert result["token_type"] == "Bearer", result
    again = app.acquire_token_for_client(scopes=[f"{dv.url}/.default"])
    assert again["access_token"] == result["access_token"]
    assert dv.issuer.issued == issued + 1  # the second came from msal's cache
    response = api.get("WhoAmI", headers={"Authorization": f"Bearer {result['access_token']}"})
    assert response.status_code == 200


def test_token_endpoint_errors_are_entra_errors(dv: LocalDataverse):
    wrong_secret = _msal_app(dv, "wrong").acquire_token_for_client(scopes=[f"{dv.url}/.default"])
    assert wrong_secret["error"] == "invalid_client"
    assert wrong_secret["error_description"].startswith("AADSTS7000215")
    wrong_scope = _msal_app(dv).acquire_token_for_client(scopes=["https://elsewhere/.default"])
    assert wrong_scope["error"] == "invalid_scope"
    with pytest.raises(ValueError):
        session = requests.Session()
        session.trust_env = False
        session.verify = ca(dv)
        msal.ConfidentialClientApplication(
            dv.client_id,
            client_credential=dv.client_secret,
            authority=f"{dv.url}/no-such-tenant",
            instance_discovery=False,
            http_client=session,
        )


def test_401_without_token_with_a_bad_one_and_with_an_expired_one(dv: LocalDataverse):
    with httpx.Client(base_url=dv.api_url, verify=dv.ssl_context()) as client:
        missing = client.get("accounts")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith(
            f"Bearer authorization_uri={dv.authority}/oauth2/authorize"
        )
        bad = client.get("accounts", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
        expired = dv.issuer.issue(lifetime=-1)
        assert (
            client.get("accounts", headers={"Authorization": f"Bearer {expired}"}).status_code
            == 401
        )
        fresh = dv.issuer.issue()
        assert (
            client.get("accounts", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
        )


def test_https_is_verified_against_the_ca_file(dv: LocalDataverse):
    with httpx.Client(verify=True) as client, pytest.raises(httpx.ConnectError):
        client.get(dv.api_url)  # the system store does not know our CA


def test_request_budget_answers_429_with_retry_after(dv: LocalDataverse, api: httpx.Client):
    dv.budget = Budget(requests=3, window=60)
    statuses = [api.get("WhoAmI").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = api.get("WhoAmI")
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    assert throttled.json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 3 over time window of 60 seconds.",
    }
    other_token = {"Authorization": f"Bearer {dv.issuer.issue()}"}
    assert api.get("WhoAmI", headers=other_token).status_code == 429  # same user, same budget
    dv.budget = None
    assert api.get("WhoAmI").status_code == 200


def test_injected_429_storm(dv: LocalDataverse, api: httpx.Client):
    dv.faults = FaultConfig(throttle_rate=1.0, throttle_burst=3, retry_after=7)
    first = api.get("WhoAmI")
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7"
    dv.faults = FaultConfig()  # no new storms; the current one runs its course
    assert [api.get("WhoAmI").status_code for _ in range(3)] == [429, 429, 200]


def test_injected_5xx_touches_nothing(dv: LocalDataverse, api: httpx.Client):
    dv.faults = FaultConfig(error_rate=1.0)
    record_id = new_id()
    response = api.post("accounts", json={"accountid": record_id, "name": "x"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "0x80040216"
    dv.faults = None
    assert api.get(f"accounts({record_id})").status_code == 404


def test_dropped_connection_before_and_after_the_write(dv: LocalDataverse, api: httpx.Client):
    before = new_id()
    dv.faults = FaultConfig(drop_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("accounts", json={"accountid": before, "name": "never written"})
    after = new_id()
    dv.faults = FaultConfig(drop_after_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("accounts", json={"accountid": after, "name": "written, answer lost"})
    dv.faults = None
    assert api.get(f"accounts({before})").status_code == 404
    assert api.get(f"accounts({after})").json()["name"] == "written, answer lost"


def test_seeded_faults_repeat(dv: LocalDataverse, api: httpx.Client):
    def run() -> list[int]:
        dv.faults = FaultConfig(error_rate=0.5, seed=1234)
        return [api.get("WhoAmI").status_code for _ in range(12)]

    first = run()
    dv.faults = None
    assert run() == first
    assert set(first) == {200, 503}


def test_concurrent_requests_over_the_cap_are_refused_at_once(dv: LocalDataverse, api):
    dv.budget = Budget(requests=1000, window=60, concurrent=1)
    dv.faults = FaultConfig(latency_ms=1500)  # holds each admitted request open meanwhile
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: api.get("WhoAmI"), range(4)))
    refused = [r for r in responses if r.status_code == 429]
    assert any(r.status_code == 200 for r in responses)
    assert refused, [r.status_code for r in responses]
    assert refused[0].json()["error"]["code"] == "0x80072326"
