"""The Business Central connector when things go wrong: sign-in, TLS, unreachable, throttled,
lost answers. Faults are the local service's own, drawn from a seeded random sequence; each
test picks a seed whose draws hit exactly the requests it means to."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from accord.connectors.businesscentral.connector import BusinessCentralConnector
from accord.errors import ConfigError, FatalConnectorError, RetriableConnectorError
from accord.model import Change, ChangeKind
from accord.services.businesscentral import LocalBusinessCentral
from accord.services.common.faults import FaultConfig
from tests.connectors.businesscentral_support import (
    USA,
    connect,
    insert_customers,
    mine,
    read_all,
    seed_for,
    tag,
)


@pytest.fixture(scope="module")
def bc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBusinessCentral]:
    with LocalBusinessCentral.start(data_dir=tmp_path_factory.mktemp("bc")) as service:
        yield service


@pytest.fixture
def erp(bc: LocalBusinessCentral) -> Iterator[BusinessCentralConnector]:
    connector = connect(bc)
    connector.describe("customers")  # company and metadata read before any fault
    yield connector
    bc.faults = None
    connector.close()


def secret_options(bc: LocalBusinessCentral, secret: str) -> dict[str, str]:
    return {
        "tenant": bc.tenant,
        "client_id": bc.client_id,
        "client_secret": secret,
        "authority": bc.authority,
        "ca_bundle": str(bc.ca_file),
        "company": USA,
    }


# -- signing in -------------------------------------------------------------------------
def test_client_credentials_through_msal(bc: LocalBusinessCentral) -> None:
    options = secret_options(bc, bc.client_secret)
    connector = BusinessCentralConnector("erp", url=bc.url, tables={}, options=options)
    prefix = tag()
    numbers = insert_customers(connector, prefix, [{"displayName": "signed in"}])
    assert [r.key for r in read_all(connector, "customers", keys=numbers)] == numbers
    connector.close()


def test_a_wrong_secret_is_one_sentence_without_the_secret(bc: LocalBusinessCentral) -> None:
    secret = "wrong-secret-b9Jr3Mq1"
    options = secret_options(bc, secret)
    connector = BusinessCentralConnector("erp", url=bc.url, tables={}, options=options)
    with pytest.raises(FatalConnectorError) as info:
        connector.describe("customers")
    message = str(info.value)
    assert "credentials of client" in message and "were refused" in message
    assert secret not in message and "\n" not in message
    connector.close()


def test_a_refused_token_is_a_clear_error(bc: LocalBusinessCentral) -> None:
    connector = connect(bc, token="not-a-token-Yp72")
    with pytest.raises(FatalConnectorError, match="refused the credentials") as info:
        connector.describe("customers")
    assert "not-a-token-Yp72" not in str(info.value) and "\n" not in str(info.value)
    connector.close()


# -- reaching the service ---------------------------------------------------------------
def test_an_untrusted_certificate_says_to_set_ca_bundle(bc: LocalBusinessCentral) -> None:
    connector = connect(bc, ca_bundle=None)
    with pytest.raises(FatalConnectorError, match=r"TLS certificate .* is not trusted") as info:
        connector.describe("customers")
    assert "options.ca_bundle" in str(info.value)
    connector.close()


def test_an_unreachable_url_is_one_sentence() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"https://127.0.0.1:{port}/v2.0/t/production/api/v2.0"
    connector = BusinessCentralConnector(
        "erp", url=url, tables={}, options={"token": "secret-Tk9", "company": USA}
    )
    with pytest.raises(RetriableConnectorError, match=f"cannot reach https://127.0.0.1:{port}"):
        connector.describe("customers")
    connector.close()


def test_a_missing_company_or_table_at_the_url_is_config(bc: LocalBusinessCentral) -> None:
    connector = connect(bc, company="Nobody Ltd")
    with pytest.raises(ConfigError, match="has no company 'Nobody Ltd'"):
        connector.count("customers")
    connector.close()


# -- service protection and passing failures --------------------------------------------
def test_a_429_storm_is_waited_out_as_asked(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    prefix = tag()
    numbers = insert_customers(erp, prefix, [{"displayName": "a"}, {"displayName": "b"}])
    # the first request meets a storm of two 429s (Retry-After: 1), then nothing more
    bc.faults = FaultConfig(
        throttle_rate=0.5, throttle_burst=2, retry_after=1, seed=seed_for([True] + [False] * 6)
    )
    found = read_all(erp, "customers", keys=numbers, fields=["displayName"])
    bc.faults = None
    assert [r.key for r in found] == numbers
    assert erp.waited == 2.0


def test_a_429_on_a_write_batch_is_waited_out_and_sent_once(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    prefix = tag()
    changes = [
        Change(ChangeKind.INSERT, f"{prefix}{i}", {"displayName": f"w{i}"}) for i in range(3)
    ]
    bc.faults = FaultConfig(throttle_rate=0.5, retry_after=1, seed=seed_for([True] + [False] * 6))
    results = erp.write("customers", changes)
    bc.faults = None
    assert all(r.ok for r in results), [r.error for r in results]
    assert erp.waited >= 1.0
    assert len(read_all(erp, "customers", filter=mine(prefix))) == 3


def test_waiting_is_bounded_by_max_wait(bc: LocalBusinessCentral) -> None:
    connector = connect(bc, max_wait=0)
    connector.describe("customers")
    bc.faults = FaultConfig(throttle_rate=0.5, retry_after=1, seed=seed_for([True, False]))
    with pytest.raises(RetriableConnectorError, match="kept asking to wait") as info:
        connector.count("customers")
    bc.faults = None
    assert "options.max_wait" in str(info.value)
    connector.close()


def test_a_create_whose_answer_was_lost_is_not_made_twice(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    prefix = tag()
    changes = [
        Change(ChangeKind.INSERT, f"{prefix}{i:03d}", {"displayName": f"n{i}"}) for i in range(10)
    ]
    # the $batch is applied, then its connection drops before the answer; no more faults
    bc.faults = FaultConfig(drop_after_rate=0.5, seed=seed_for([True] + [False] * 8))
    before = erp.http.requests
    results = erp.write("customers", changes)
    bc.faults = None
    assert [r.ok for r in results] == [True] * 10, [r.error for r in results]
    assert all(r.version is not None for r in results)
    assert erp.http.requests - before == 2  # the batch, then one read by number
    found = read_all(erp, "customers", filter=mine(prefix), fields=["displayName"])
    assert [(r.key, r.values["displayName"]) for r in found] == [
        (c.key, c.values["displayName"]) for c in changes
    ]


def test_a_batch_dropped_before_it_was_handled_is_sent_again(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    prefix = tag()
    [kept] = insert_customers(erp, prefix, [{"displayName": "kept"}])
    changes = [
        Change(ChangeKind.INSERT, f"{prefix}5", {"displayName": "new"}),
        Change(ChangeKind.UPDATE, kept, {"displayName": "renamed"}),
    ]
    bc.faults = FaultConfig(drop_rate=0.5, seed=seed_for([True] + [False] * 8))
    results = erp.write("customers", changes)
    bc.faults = None
    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    found = {
        r.key: r.values["displayName"] for r in read_all(erp, "customers", filter=mine(prefix))
    }
    assert found == {kept: "renamed", f"{prefix}5": "new"}


def test_a_write_answered_by_a_gateway_error_is_settled_by_reading(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    prefix = tag()
    changes = [
        Change(ChangeKind.INSERT, f"{prefix}{i}", {"displayName": f"g{i}"}) for i in range(3)
    ]
    bc.faults = FaultConfig(error_rate=0.5, error_status=504, seed=seed_for([True] + [False] * 8))
    results = erp.write("customers", changes)
    bc.faults = None
    assert all(r.ok for r in results), [r.error for r in results]
    assert len(read_all(erp, "customers", filter=mine(prefix))) == 3


# -- permissions and layouts -----------------------------------------------------------
def test_a_missing_permission_is_one_sentence(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    [number] = insert_customers(erp, tag(), [{"displayName": "x"}])
    bc.deny("customers", "read", "insert")
    try:
        with pytest.raises(FatalConnectorError, match="permission denied reading table") as read:
            erp.count("customers")
        change = Change(ChangeKind.INSERT, f"{tag()}1", {"displayName": "x"})
        with pytest.raises(FatalConnectorError, match="permission denied writing table") as wrote:
            erp.write("customers", [change])
        # a permission still held works
        update = Change(ChangeKind.UPDATE, number, {"displayName": "y"})
        assert erp.write("customers", [update])[0].ok
    finally:
        bc.allow("customers")
    for info in (read, wrote):
        message = str(info.value)
        assert "permission sets" in message and "\n" not in message and bc.token not in message


def test_the_on_premises_layout_reaches_the_same_company(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    numbers = insert_customers(erp, tag(), [{"displayName": "both"}])
    options = {"token": bc.token, "ca_bundle": str(bc.ca_file), "company": USA}
    onprem = BusinessCentralConnector("onprem", url=bc.onprem_url, tables={}, options=options)
    assert [r.key for r in read_all(onprem, "customers", keys=numbers)] == numbers
    onprem.close()
