"""The Dataverse connector when things go wrong: sign-in, TLS, unreachable, throttled, lost.

Faults are the local service's own (``LocalDataverse.faults``), drawn from a seeded random
sequence; each test picks a seed whose draws hit exactly the requests it means to.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator

import pytest

from accord.connectors.dataverse.connector import DataverseConnector
from accord.errors import ConfigError, FatalConnectorError, RetriableConnectorError
from accord.filters import Filter, parse_filter
from accord.model import Change, ChangeKind
from accord.model.keys import new_uuids
from accord.services.common.faults import FaultConfig
from accord.services.dataverse import LocalDataverse
from tests.connectors.dataverse_support import connect, insert_accounts, read_all, tag

_used_seeds: set[int] = set()


def seed_for(hits: list[bool], rate: float = 0.5) -> int:
    """A fresh seed whose first draws fall under ``rate`` exactly where ``hits`` says.

    (The service reseeds only when the seed changes, so no two tests share one.)
    """
    for seed in range(1, 100_000):
        if seed in _used_seeds:
            continue
        draws = random.Random(seed)
        if all((draws.random() < rate) == hit for hit in hits):
            _used_seeds.add(seed)
            return seed
    raise AssertionError("no seed found")


@pytest.fixture(scope="module")
def dv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(data_dir=tmp_path_factory.mktemp("dataverse")) as service:
        yield service


@pytest.fixture
def crm(dv: LocalDataverse) -> Iterator[DataverseConnector]:
    connector = connect(dv)
    connector.describe("account")  # metadata read before any fault
    yield connector
    dv.faults = None
    connector.close()


def secret_options(dv: LocalDataverse, secret: str) -> dict[str, str]:
    return {
        "tenant": dv.tenant,
        "client_id": dv.client_id,
        "client_secret": secret,
        "authority": dv.authority,
        "ca_bundle": str(dv.ca_file),
    }


# -- signing in -------------------------------------------------------------------------
def test_client_credentials_through_msal(dv: LocalDataverse) -> None:
    connector = DataverseConnector(
        "crm", url=dv.url, tables={}, options=secret_options(dv, dv.client_secret)
    )
    prefix = tag()
    keys = insert_accounts(connector, prefix, [{"name": "signed in"}])
    assert [r.key for r in read_all(connector, "account", keys=keys)] == keys
    connector.close()


def test_tokens_are_refreshed_before_they_expire(tmp_path_factory: pytest.TempPathFactory) -> None:
    with LocalDataverse.start(data_dir=tmp_path_factory.mktemp("short"), token_lifetime=1) as dv:
        connector = DataverseConnector(
            "crm", url=dv.url, tables={}, options=secret_options(dv, dv.client_secret)
        )
        connector.describe("account")
        time.sleep(1.5)  # the first token has expired: the service refuses it now
        assert connector.count("account") == 0
        connector.close()


def test_a_wrong_secret_is_one_sentence_without_the_secret(dv: LocalDataverse) -> None:
    secret = "wrong-secret-a8Hq2Lp0"
    connector = DataverseConnector("crm", url=dv.url, tables={}, options=secret_options(dv, secret))
    with pytest.raises(FatalConnectorError) as info:
        connector.describe("account")
    message = str(info.value)
    assert "credentials of client" in message and "were refused" in message
    assert "check tenant, client_id and client_secret" in message
    assert secret not in message and "\n" not in message
    connector.close()


def test_sign_in_needs_tenant_client_and_secret_or_a_token(dv: LocalDataverse) -> None:
    with pytest.raises(ConfigError, match=r"options.client_secret is not set"):
        DataverseConnector("crm", url=dv.url, tables={}, options={"tenant": "t", "client_id": "c"})
    with pytest.raises(ConfigError, match=r"options.tenent: unknown option"):
        DataverseConnector("crm", url=dv.url, tables={}, options={"tenent": "t"})


def test_a_refused_token_is_a_clear_error(dv: LocalDataverse) -> None:
    connector = connect(dv, token="not-a-token-Zq81")
    with pytest.raises(FatalConnectorError, match="refused the credentials") as info:
        connector.describe("account")
    assert "not-a-token-Zq81" not in str(info.value)
    connector.close()


# -- reaching the service ---------------------------------------------------------------
def test_an_untrusted_certificate_says_to_set_ca_bundle(dv: LocalDataverse) -> None:
    connector = connect(dv, ca_bundle=None)
    with pytest.raises(FatalConnectorError, match=r"TLS certificate .* is not trusted") as info:
        connector.describe("account")
    assert "options.ca_bundle" in str(info.value)
    connector.close()


def test_an_unreachable_url_is_one_sentence(dv: LocalDataverse) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connector = DataverseConnector(
        "crm", url=f"https://127.0.0.1:{port}", tables={}, options={"token": "secret-Tk9"}
    )
    with pytest.raises(RetriableConnectorError, match=f"cannot reach https://127.0.0.1:{port}"):
        connector.describe("account")
    connector.close()


# -- service protection and passing failures --------------------------------------------
def test_a_429_storm_is_waited_out_as_asked(dv: LocalDataverse, crm: DataverseConnector) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": "a"}, {"name": "b"}])
    # the first request meets a storm of two 429s (Retry-After: 1), then nothing more
    dv.faults = FaultConfig(
        throttle_rate=0.5, throttle_burst=2, retry_after=1, seed=seed_for([True] + [False] * 6)
    )
    found = read_all(crm, "account", keys=keys, fields=["name"])
    dv.faults = None
    assert sorted(r.key for r in found) == sorted(keys)
    assert crm.waited == 2.0


def test_waiting_is_bounded_by_max_wait(dv: LocalDataverse) -> None:
    connector = connect(dv, max_wait=0)
    connector.describe("account")
    dv.faults = FaultConfig(throttle_rate=0.5, retry_after=1, seed=seed_for([True, False]))
    with pytest.raises(RetriableConnectorError, match="kept asking to wait") as info:
        connector.count("account")
    dv.faults = None
    assert "options.max_wait" in str(info.value)
    connector.close()


def test_a_5xx_read_is_tried_again(dv: LocalDataverse, crm: DataverseConnector) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": "x"}])
    dv.faults = FaultConfig(error_rate=0.5, error_status=502, seed=seed_for([True, False, False]))
    before = crm.http.requests
    found = read_all(crm, "account", keys=keys)
    dv.faults = None
    assert [r.key for r in found] == keys
    assert crm.http.requests - before == 2


def test_a_5xx_that_outlasts_the_retries_is_retriable(dv: LocalDataverse) -> None:
    """A server still failing after the connector's own retries may answer later: the
    engine's retries (and the next run) try again, where a fatal error would not."""
    from accord.connectors.retry import RetryPolicy

    fresh = connect(dv)  # its table's metadata not read yet
    fresh.http.policy = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.02)
    dv.faults = FaultConfig(error_rate=1.0, error_status=500)
    try:
        with pytest.raises(RetriableConnectorError, match="reading the definition of table"):
            fresh.describe("account")
    finally:
        dv.faults = None
    assert fresh.describe("account").key == "accountid"  # once it answers, all is well
    fresh.close()


def test_a_create_whose_answer_was_lost_is_not_made_twice(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = new_uuids(10)
    changes = [
        Change(ChangeKind.INSERT, key, {"accountnumber": f"{prefix}{i:03d}", "name": f"n{i}"})
        for i, key in enumerate(keys)
    ]
    # CreateMultiple is applied, then its connection drops before the answer; no more faults
    dv.faults = FaultConfig(drop_after_rate=0.5, seed=seed_for([True] + [False] * 8))
    before = crm.http.requests
    results = crm.write("account", changes)
    dv.faults = None
    assert [r.ok for r in results] == [True] * 10, [r.error for r in results]
    assert all(r.version is not None for r in results)
    assert crm.http.requests - before == 2  # the create, then one read of what it made
    found = read_all(crm, "account", filter=_own(prefix), fields=["name"])
    assert sorted((r.key, r.values["name"]) for r in found) == sorted(
        (k, f"n{i}") for i, k in enumerate(keys)
    )


def test_a_create_dropped_before_it_was_handled_is_sent_again(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = new_uuids(3)
    changes = [
        Change(ChangeKind.INSERT, key, {"accountnumber": f"{prefix}{i:03d}", "name": "mine"})
        for i, key in enumerate(keys)
    ]
    dv.faults = FaultConfig(drop_rate=0.5, seed=seed_for([True] + [False] * 8))
    results = crm.write("account", changes)  # dropped before handling: sent again
    dv.faults = None
    assert all(r.ok for r in results), [r.error for r in results]
    assert len(read_all(crm, "account", filter=_own(prefix))) == 3


def _own(prefix: str) -> Filter:
    return parse_filter(f"startswith(accountnumber, '{prefix}')")


def test_a_lost_create_with_lookups_is_recognised_when_read_back(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    [account] = insert_accounts(crm, tag(), [{"name": "parent"}])
    crm.describe("contact")
    contacts = new_uuids(2)
    changes = [
        Change(
            ChangeKind.INSERT,
            key,
            {
                "lastname": "child",
                "parentcustomerid": account.upper(),
                "parentcustomeridtype": "account",
            },
        )
        for key in contacts
    ]
    dv.faults = FaultConfig(drop_after_rate=0.5, seed=seed_for([True] + [False] * 8))
    results = crm.write("contact", changes)
    dv.faults = None
    assert all(r.ok for r in results), [r.error for r in results]
    found = read_all(crm, "contact", keys=contacts, fields=["parentcustomerid"])
    assert [r.values["parentcustomerid"] for r in found] == [account, account]


def test_a_missing_privilege_is_one_sentence(dv: LocalDataverse, crm: DataverseConnector) -> None:
    dv.deny("account", "read", "create")
    try:
        with pytest.raises(
            FatalConnectorError, match="permission denied reading table 'account'"
        ) as read:
            crm.count("account")
        with pytest.raises(
            FatalConnectorError, match="permission denied writing table 'account'"
        ) as wrote:
            crm.write("account", [Change(ChangeKind.INSERT, new_uuids(1)[0], {"name": "x"})])
    finally:
        dv.allow("account")
    for info in (read, wrote):
        assert "security role" in str(info.value) and "\n" not in str(info.value)


def test_a_create_answered_by_a_gateway_error_is_settled_by_reading(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = new_uuids(4)
    changes = [
        Change(ChangeKind.INSERT, key, {"accountnumber": f"{prefix}{i:03d}", "name": "gw"})
        for i, key in enumerate(keys)
    ]
    dv.faults = FaultConfig(error_rate=0.5, error_status=504, seed=seed_for([True] + [False] * 8))
    before = crm.http.requests
    results = crm.write("account", changes)
    dv.faults = None
    assert all(r.ok for r in results), [r.error for r in results]
    assert crm.http.requests - before == 4  # 504; read back (none made); create; versions
    assert len(read_all(crm, "account", filter=_own(prefix))) == 4
