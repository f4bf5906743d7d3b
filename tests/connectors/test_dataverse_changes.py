"""Change tracking through the Dataverse connector: tokens, feeds, deletions, expiry.

Real HTTPS against one local Dataverse for the module; each test filters on its own account
numbers (``tag()``), so the others' changes, which the feed also carries, do not count.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from accord.connectors.base import ChangeTracking
from accord.connectors.dataverse.connector import DataverseConnector
from accord.errors import ChangeTokenExpired
from accord.filters import parse_filter
from accord.model import Change, ChangeKind, Record
from accord.services.dataverse import LocalDataverse
from tests.connectors.dataverse_support import connect, insert_accounts, tag


@pytest.fixture(scope="module")
def dv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDataverse]:
    schema = {
        "tables": {
            "account": {
                "primary_name": "name",
                "columns": {
                    "name": {"type": "String", "max_length": 160},
                    "accountnumber": {"type": "String", "max_length": 20},
                    "creditlimit": {"type": "Money"},
                },
            },
            "lead": {
                "primary_name": "subject",
                "change_tracking": False,
                "columns": {"subject": {"type": "String", "max_length": 100}},
            },
        }
    }
    with LocalDataverse.start(data_dir=tmp_path_factory.mktemp("dv"), schema=schema) as service:
        yield service


@pytest.fixture(scope="module")
def crm(dv: LocalDataverse) -> Iterator[DataverseConnector]:
    connector = connect(dv)
    yield connector
    connector.close()


def feed_of(
    crm: DataverseConnector, token: str | None, prefix: str, **options: object
) -> tuple[dict[str, Record], list[str], str | None]:
    """The records (of this test's accounts), deleted keys and next token of one feed."""
    feed = crm.read_changes(
        "account",
        token,
        filter=parse_filter(f"startswith(accountnumber, '{prefix}')"),
        **options,  # type: ignore[arg-type]
    )
    records: dict[str, Record] = {}
    deleted: list[str] = []
    for batch in feed:
        for r in batch.records:
            assert r.key not in records, "a record came twice"
            records[r.key] = r
        deleted.extend(batch.deleted)
    return records, deleted, feed.token


def test_the_capability_follows_the_tables_metadata(crm: DataverseConnector) -> None:
    assert crm.capabilities.change_tracking
    assert isinstance(crm, ChangeTracking)
    assert crm.tracks("account") is True
    assert crm.tracks("lead") is False  # ChangeTrackingEnabled is false: it is polled


def test_a_token_then_the_changes_since_it(dv: LocalDataverse, crm: DataverseConnector) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": f"n{i}", "creditlimit": i} for i in range(30)])
    token = crm.track("account")

    records, deleted, after = feed_of(crm, token, prefix)
    assert records == {} and deleted == [] and after is not None  # nothing changed since

    changes = [Change(ChangeKind.UPDATE, k, {"name": "edited"}) for k in keys[:5]]
    changes.append(Change(ChangeKind.DELETE, keys[9], {}))
    assert all(r.ok for r in crm.write("account", changes))
    [new] = insert_accounts(crm, prefix + "N", [{"name": "new"}])

    requests = dv.stats.total
    records, deleted, next_token = feed_of(crm, after, prefix, fields=["name"])
    assert dv.stats.total - requests == 1  # a few changes: one page
    assert set(records) == {*keys[:5], new}
    assert {records[k].values["name"] for k in keys[:5]} == {"edited"}
    assert set(records[new].values) == {"name", "accountid", "modifiedon"}  # $select, no more
    assert records[new].version is not None
    assert deleted == [keys[9]]
    assert next_token is not None and next_token != after

    # the next feed starts after these changes
    assert feed_of(crm, next_token, prefix)[:2] == ({}, [])
    # the same token again gives the same changes (a pass that died re-reads them)
    assert set(feed_of(crm, after, prefix)[0]) == {*keys[:5], new}


def test_the_filter_is_checked_here_and_deletions_pass_it(crm: DataverseConnector) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": f"n{i}", "creditlimit": 10} for i in range(6)])
    token = crm.track("account")
    updates = [
        Change(ChangeKind.UPDATE, keys[0], {"creditlimit": 500}),
        Change(ChangeKind.UPDATE, keys[1], {"creditlimit": 5}),
        Change(ChangeKind.DELETE, keys[2], {}),
    ]
    assert all(r.ok for r in crm.write("account", updates))
    feed = crm.read_changes(
        "account",
        token,
        filter=parse_filter(f"startswith(accountnumber, '{prefix}') and creditlimit gt 100"),
        fields=["name"],
    )
    batches = list(feed)
    records = [r for b in batches for r in b.records]
    assert [r.key for r in records] == [keys[0]]
    assert set(records[0].values) == {"name", "accountid", "modifiedon"}  # filter field hidden
    # deletions carry no values to filter by: all are reported (the engine checks couplings)
    assert keys[2] in [k for b in batches for k in b.deleted]


def test_many_changes_come_in_batches_over_next_links(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": "x"} for _ in range(250)])
    token = crm.track("account")
    small = connect(dv, page_size=100)
    changes = [Change(ChangeKind.UPDATE, k, {"creditlimit": Decimal(7)}) for k in keys]
    assert all(r.ok for r in crm.write("account", changes))
    feed = small.read_changes(
        "account", token, filter=parse_filter(f"startswith(accountnumber, '{prefix}')"),
        fields=["creditlimit"], batch_size=60,
    )  # fmt: skip
    sizes = [len(b.records) for b in feed]
    assert sum(sizes) == 250 and max(sizes) <= 60
    assert feed.token is not None
    small.close()


def test_an_expired_token_is_refused_at_once(dv: LocalDataverse, crm: DataverseConnector) -> None:
    token = crm.track("account")
    dv.expire_delta_tokens()
    with pytest.raises(ChangeTokenExpired) as caught:
        crm.read_changes("account", token)
    message = str(caught.value)
    assert "token of table 'account' was refused" in message and "\n" not in message
    assert dv.token not in message
    fresh = crm.track("account")  # a new token works
    assert list(crm.read_changes("account", fresh)) == []


def test_a_token_older_than_the_retention_expires(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    token = crm.track("account")
    dv.records.change_days = -1.0  # every token is older than that
    try:
        with pytest.raises(ChangeTokenExpired):
            crm.read_changes("account", token)
    finally:
        dv.records.change_days = 7.0
    assert list(crm.read_changes("account", token)) == []  # within 7 days again


def test_a_full_read_with_change_tracking_ends_with_the_token(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": f"n{i}"} for i in range(12)])
    requests = dv.stats.total
    records, deleted, token = feed_of(crm, None, prefix, fields=["name"])
    assert dv.stats.total - requests == 1  # one page of every account: no second paging
    assert set(records) == set(keys) and deleted == []
    assert {r.values["name"] for r in records.values()} == {f"n{i}" for i in range(12)}
    assert token is not None
    assert feed_of(crm, token, prefix)[:2] == ({}, [])  # nothing changed since


def test_an_edit_made_during_a_full_read_is_not_lost(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": f"n{i}"} for i in range(40)])
    small = connect(dv, page_size=5)
    feed = small.read_changes(
        "account",
        None,
        filter=parse_filter(f"startswith(accountnumber, '{prefix}')"),
        fields=["name"],
        batch_size=5,
    )
    batches = iter(feed)
    seen: dict[str, Record] = {}
    first = next(batches)  # the read has begun; its delta link is pages away
    seen.update({r.key: r for r in first.records})
    # edits while it is read: records read already and records not read yet
    edits = [Change(ChangeKind.UPDATE, k, {"name": "edited"}) for k in keys[:20]]
    edits.append(Change(ChangeKind.DELETE, keys[39], {}))
    assert all(r.ok for r in crm.write("account", edits))
    [new] = insert_accounts(crm, prefix + "N", [{"name": "new"}])
    for batch in batches:
        for r in batch.records:
            assert r.key not in seen, "a record came twice"
            seen[r.key] = r
        assert batch.deleted == []  # the initial read reports no deletions
    token = feed.token
    assert token is not None
    assert set(seen) <= set(keys)
    assert set(keys[20:39]) <= set(seen)  # untouched: read once
    # everything changed after the read began is in the token's feed, whichever page it was on
    records, deleted, _ = feed_of(crm, token, prefix)
    assert set(records) == {*keys[:20], new}
    assert {records[k].values["name"] for k in keys[:20]} == {"edited"}
    assert deleted == [keys[39]]
    small.close()
