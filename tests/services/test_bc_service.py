"""Local Business Central around the data: tokens (401, msal), request limits (429), injected
faults, $metadata, custom APIs from a schema file, and ``accord dev businesscentral``."""

from __future__ import annotations

import signal
import ssl
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import msal
import pytest
import requests

from accord.services.businesscentral import LocalBusinessCentral, SchemaError, load_schema
from accord.services.common import Budget, FaultConfig
from tests.cli.support import accord, explain, plain
from tests.services.test_dev_cli import READY_TIMEOUT, Served

COMPANY = "CRONUS USA, Inc."
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
SCHEMA = """
[apis."contoso/loyalty/v1.0".entities.loyaltyCards]
entity = "loyaltyCard"
caption = "Loyalty Card"
key = "number"
series = "LC0001"
[apis."contoso/loyalty/v1.0".entities.loyaltyCards.fields]
number = { type = "Code", max_length = 20 }
customerId = { type = "Guid" }
points = { type = "Integer" }
tier = { type = "Enum", options = ["Bronze", "Silver", "Gold"] }
expires = { type = "Date" }
"""


def companies_url(bc: LocalBusinessCentral) -> str:
    return f"{bc.url}/companies"


def test_no_token_or_a_bad_one_is_401(bc: LocalBusinessCentral) -> None:
    with httpx.Client(verify=bc.ssl_context()) as client:
        bare = client.get(companies_url(bc))
        assert bare.status_code == 401
        assert "authorization_uri=" in bare.headers["WWW-Authenticate"]
        wrong = client.get(companies_url(bc), headers={"Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]


def msal_app(bc: LocalBusinessCentral, secret: str) -> msal.ConfidentialClientApplication:
    # NOTE: requests lets REQUESTS_CA_BUNDLE override a session's verify; trust_env=False stops
    # that, so that the session trusts exactly the service's CA.
    session = requests.Session()
    session.trust_env = False
    session.verify = str(bc.ca_file)
    return msal.ConfidentialClientApplication(
        bc.client_id,
        client_credential=secret,
        authority=bc.authority,
        instance_discovery=False,
        http_client=session,
    )


@pytest.mark.parametrize("resource", ["local", "cloud"])
def test_msal_client_credentials_token_is_accepted(bc: LocalBusinessCentral, resource: str) -> None:
    scope = bc.scope if resource == "local" else "https://api.businesscentral.dynamics.com/.default"
    result = msal_app(bc, bc.client_secret).acquire_token_for_client(scopes=[scope])
    assert "access_token" in result, result
    with httpx.Client(verify=bc.ssl_context()) as client:
        headers = {"Authorization": f"Bearer {result['access_token']}"}
        assert client.get(companies_url(bc), headers=headers).status_code == 200
    wrong = msal_app(bc, "wrong").acquire_token_for_client(scopes=[scope])
    assert wrong.get("error") == "invalid_client"


def test_over_budget_is_429_with_retry_after(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    bc.budget = Budget(requests=3, window=60, concurrent=100)
    answers = [bc_api.get("/companies") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "x-ms-ratelimit-burst-remaining-xrm-requests" not in answers[0].headers  # Dataverse's
    throttled = bc_api.get("/companies")
    assert throttled.json()["error"]["code"] == "Application_TooManyRequests"
    assert int(throttled.headers["Retry-After"]) >= 1
    bc.budget = None
    assert bc_api.get("/companies").status_code == 200


def test_injected_faults(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    bc.faults = FaultConfig(error_rate=1.0)
    failed = bc_api.get("/companies")
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "Internal_ServerError"
    bc.faults = FaultConfig(throttle_rate=1.0, throttle_burst=2, retry_after=7)
    storm = [bc_api.get("/companies") for _ in range(2)]
    assert [r.status_code for r in storm] == [429, 429]
    assert storm[0].headers["Retry-After"] == "7"
    bc.faults = FaultConfig(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        bc_api.get("/companies")
    bc.faults = None
    assert bc_api.get("/companies").status_code == 200


def test_metadata_is_csdl_with_the_entity_types(bc_api: httpx.Client) -> None:
    response = bc_api.get("/$metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    types = {t.get("Name"): t for t in root.iter(f"{EDM}EntityType")}
    assert {"company", "customer", "contact", "item", "currency", "vendor"} <= set(types)
    assert {"salespersonPurchaser", "unitOfMeasure"} <= set(types)
    customer = {p.get("Name"): p for p in types["customer"].iter(f"{EDM}Property")}
    assert customer["number"].get("MaxLength") == "20"
    assert customer["id"].get("Type") == "Edm.Guid"
    assert customer["lastModifiedDateTime"].get("Type") == "Edm.DateTimeOffset"
    sets = {s.get("Name") for s in root.iter(f"{EDM}EntitySet")}
    assert {"companies", "customers", "salespeoplePurchasers", "unitsOfMeasure"} <= sets
    document = bc_api.get("/").json()
    assert {"name": "customers", "kind": "EntitySet", "url": "customers"} in document["value"]


def test_custom_api_from_a_schema_file(tmp_path: Path) -> None:
    schema = tmp_path / "bc.toml"
    schema.write_text(SCHEMA)
    with LocalBusinessCentral.start(schema=schema, companies=("A", "B")) as service:
        base = service.api_url("contoso/loyalty/v1.0")
        company = service.company_ids["A"]
        with httpx.Client(
            base_url=base,
            verify=service.ssl_context(),
            headers={"Authorization": f"Bearer {service.token}"},
        ) as client:
            created = client.post(
                f"/companies({company})/loyaltyCards", json={"points": 5, "tier": "Gold"}
            )
            assert created.status_code == 201, created.text
            body = created.json()
            assert body["number"] == "LC0001" and body["expires"] == "0001-01-01"
            read = client.get(
                f"/companies({company})/loyaltyCards", params={"$filter": "points ge 5"}
            ).json()
            assert [r["id"] for r in read["value"]] == [body["id"]]
            metadata = client.get("/$metadata").text
            assert 'EntityType Name="loyaltyCard"' in metadata
            assert 'EntityType Name="customer"' not in metadata
            # the custom API's sets are not in the standard one, and vice versa
            standard = f"{service.url}/companies({company})"
            assert client.get(f"{standard}/loyaltyCards").status_code == 404
            assert client.get(f"/companies({company})/customers").status_code == 404
            batch = client.post(
                "/$batch",
                json={
                    "requests": [
                        {
                            "id": "1",
                            "method": "POST",
                            "url": f"companies({company})/loyaltyCards",
                            "body": {"tier": "Silver"},
                        }
                    ]
                },
            )
            assert batch.json()["responses"][0]["body"]["number"] == "LC0002"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[apis."x".entities.a.fields]\nn = "String"\n', "is not 'publisher/group/vX.Y'"),
        ("[entities.things.fields]\nsize = { type = 'Huge' }\n", "things.size needs a type"),
        ("[entities.things]\nkey = 'nope'\n", "the key 'nope' of things"),
        ("[entities.things.fields]\nt = { type = 'Enum' }\n", "Enum things.t needs options"),
    ],
)
def test_bad_schemas_are_one_clear_error(text: str, message: str) -> None:
    import tomllib

    with pytest.raises(SchemaError, match=message):
        load_schema(tomllib.loads(text))


def test_cli_starts_serves_and_stops(tmp_path: Path) -> None:
    served = Served(
        "--data",
        str(tmp_path / "bc"),
        "--company",
        "Alpha",
        "--company",
        "Beta",
        service="businesscentral",
    )
    try:
        url, token = served.printed["url"], served.printed["token"]
        assert url.startswith("https://127.0.0.1:") and url.endswith("/production/api/v2.0")
        assert served.printed["tenant"] in url
        companies = dict(
            reversed(line.split(":", 1)[1].split(None, 1))
            for line in served.output
            if line.strip().startswith("company:")
        )
        assert set(map(str.strip, companies)) == {"Alpha", "Beta"}
        context = ssl.create_default_context(cafile=served.printed["ca file"])
        with httpx.Client(verify=context, headers={"Authorization": f"Bearer {token}"}) as client:
            listed = client.get(f"{url}/companies").json()["value"]
            assert {c["name"] for c in listed} == {"Alpha", "Beta"}
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(timeout=READY_TIMEOUT) == 0
        assert "stopped" in served.rest()
    finally:
        served.close()
    assert (tmp_path / "bc" / "businesscentral.db").exists()


def test_cli_help_and_a_bad_schema(tmp_path: Path) -> None:
    result = accord("dev", "businesscentral", "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0, explain(result)
    for option in ("--port", "--http", "--data", "--schema", "--company", "--budget", "--latency"):
        assert option in plain(result.stdout)
    schema = tmp_path / "bad.toml"
    schema.write_text("[entities.things.fields]\nsize = { type = 'Huge' }\n")
    bad = accord("dev", "businesscentral", "--schema", str(schema))
    assert bad.exit_code == 2, explain(bad)
    assert "things.size needs a type" in plain(bad.stderr)
    assert "Traceback" not in bad.stderr


def test_missing_permissions_are_403(bc: LocalBusinessCentral, bc_api: httpx.Client) -> None:
    url = f"/companies({bc.company_ids[COMPANY]})/vendors"
    bc.deny("vendors", "insert")
    try:
        refused = bc_api.post(url, json={"displayName": "No"})
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "Authorization_InsufficientPermissions"
        assert "TableData Vendor: Insert" in error["message"]
        assert bc_api.get(url).status_code == 200
        batch = bc_api.post(
            "/$batch",
            json={"requests": [{"id": "1", "method": "POST", "url": url[1:], "body": {}}]},
        )
        assert batch.json()["responses"][0]["status"] == 403
    finally:
        bc.allow("vendors")
    assert bc_api.post(url, json={"displayName": "Yes"}).status_code == 201


def test_the_on_premises_url_layout_serves_the_same_data(
    bc: LocalBusinessCentral, bc_api: httpx.Client
) -> None:
    assert bc.onprem_url == f"{bc.root}/BC/api/v2.0"
    company = bc.company_ids[COMPANY]
    created = bc_api.post(f"{bc.onprem_url}/companies({company})/items", json={"displayName": "Op"})
    assert created.status_code == 201
    assert created.json()["@odata.context"].startswith(f"{bc.onprem_url}/$metadata#")
    online = bc_api.get(f"/companies({company})/items({created.json()['id']})")
    assert online.json()["displayName"] == "Op"
    with httpx.Client(verify=bc.ssl_context()) as anonymous:
        assert anonymous.get(f"{bc.onprem_url}/companies").status_code == 401
