"""The Dataverse connector over real HTTPS against the local Dataverse service.

One service serves the whole module; each test works on accounts whose account number
starts with its own prefix (``tag()``), so the tests do not see each other's records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from accord.connectors.dataverse.connector import DataverseConnector
from accord.errors import ConfigError
from accord.filters import Filter, parse_filter
from accord.model import STALE, Change, ChangeKind, Expected, FieldInfo, Record, TableSettings
from accord.model.keys import new_uuids
from accord.services.dataverse import LocalDataverse
from tests.connectors.dataverse_support import (
    connect,
    failures,
    insert_accounts,
    read_all,
    tag,
)


@pytest.fixture(scope="module")
def dv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(data_dir=tmp_path_factory.mktemp("dataverse")) as service:
        yield service


@pytest.fixture(scope="module")
def crm(dv: LocalDataverse) -> Iterator[DataverseConnector]:
    connector = connect(dv)
    yield connector
    connector.close()


def mine(prefix: str, text: str | None = None) -> Filter:
    """The filter of one test's accounts (and ``text``)."""
    own = f"startswith(accountnumber, '{prefix}')"
    return parse_filter(own if text is None else f"{own} and ({text})")


# -- describe ---------------------------------------------------------------------------
def test_describe_names_key_modified_kinds_and_lookups(crm: DataverseConnector) -> None:
    schema = crm.describe("account")
    assert (schema.key, schema.modified) == ("accountid", "modifiedon")
    fields = schema.fields
    assert fields["name"] == FieldInfo("name", "text", nullable=True, length=160)
    assert fields["accountid"] == FieldInfo("accountid", "text", nullable=False)
    assert fields["creditlimit"].kind == "decimal"
    assert fields["statecode"].kind == "integer" and fields["customertypecode"].kind == "integer"
    assert fields["modifiedon"].kind == "datetime"
    assert fields["transactioncurrencyid"].kind == "text"
    contact = crm.entity("contact")
    assert contact.attributes["parentcustomerid"].navigation == {
        "account": "parentcustomerid_account",
        "contact": "parentcustomerid_contact",
    }
    kind = contact.attributes["parentcustomeridtype"]  # read from the lookup's annotation
    assert (kind.type_of, kind.wire_name) == ("parentcustomerid", "_parentcustomerid_value")
    assert crm.entity("transactioncurrency").entity_set == "transactioncurrencies"
    assert crm.describe("account") is schema  # cached


def test_unknown_table_and_column_are_one_clear_sentence(crm: DataverseConnector) -> None:
    with pytest.raises(ConfigError, match=r"has no table 'acount' \(tables are named") as info:
        crm.describe("acount")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"no column 'nmae' \(did you mean 'name'\?\)"):
        list(crm.read("account", fields=["nmae"]))
    with pytest.raises(ConfigError, match="not a Dataverse table's logical name"):
        crm.describe("Account(1)")


# -- reads ------------------------------------------------------------------------------
def test_written_values_read_back_with_their_types(crm: DataverseConnector) -> None:
    prefix = tag()
    rows = [
        {"name": "Zürich ✓", "creditlimit": Decimal("1234.56"), "customertypecode": 3},
        {"name": "O'Brien", "creditlimit": Decimal("-0.01"), "statecode": 0},
        {"name": None, "creditlimit": None},
    ]
    names = ["name", "creditlimit", "customertypecode", "statecode"]
    keys = insert_accounts(crm, prefix, rows)
    found = {
        r.key: r for r in read_all(crm, "account", keys=[k.upper() for k in keys], fields=names)
    }
    assert sorted(found) == sorted(keys)  # keys are GUIDs, compared lower-case
    for key, row in zip(keys, rows, strict=True):
        record = found[key]
        assert {n: record.values[n] for n in row} == row
        assert set(record.values) == {*names, "accountid", "modifiedon"}
        assert record.version is not None and record.version.tzinfo is None
        assert record.version == record.values["modifiedon"]
        assert record.version.microsecond == 0  # Dataverse keeps whole seconds
    assert type(found[keys[0]].values["creditlimit"]) is Decimal


def test_reads_page_by_next_link_and_batch_as_asked(dv: LocalDataverse) -> None:
    connector = connect(dv, page_size=7)
    prefix = tag()
    keys = insert_accounts(connector, prefix, [{"name": f"n{i}"} for i in range(30)])
    before = connector.http.requests
    batches = list(connector.read("account", filter=mine(prefix), fields=[], batch_size=4))
    pages = connector.http.requests - before
    assert [len(b) for b in batches] == [4] * 7 + [2]
    read = [r.key for b in batches for r in b]
    assert read == sorted(keys)  # ordered by id
    assert pages >= 5  # 30 records, 7 a page
    assert connector.count("account", filter=mine(prefix)) == 30
    connector.close()


def test_keys_are_read_in_chunks_that_fit_a_url(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": f"k{i}"} for i in range(400)])
    missing = new_uuids(400)
    wanted = [k for pair in zip(missing, reversed(keys), strict=True) for k in pair]
    before = crm.http.requests
    batches = list(crm.read("account", keys=wanted, fields=["name"], batch_size=150))
    assert [r.key for b in batches for r in b] == sorted(keys)
    assert max(len(b) for b in batches) == 150
    # 800 GUIDs do not fit one URL of 32 KB: the chunks go in one $batch
    assert crm.http.requests - before == 1
    plain = connect(dv)
    plain.batches = False  # a service that takes no $batch: one GET per chunk
    before = plain.http.requests
    assert [r.key for r in read_all(plain, "account", keys=wanted, fields=[])] == sorted(keys)
    assert plain.http.requests - before >= 2
    plain.close()
    assert list(crm.read("account", keys=[])) == []
    assert list(crm.read("account", keys=["not-a-guid"])) == []


FILTER_NAMES = ("O'Brien", "50% off", "500 off", "a_b", "axb", "ABC", "abc", None, "abc ", "a[b]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name eq 'abc'", ["abc"]),
        ("name eq 'ABC'", ["ABC"]),
        ("name in ('abc', 'x')", ["abc"]),
        (
            "name in ('abc', 'O''Brien', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i')",
            ["abc", "O'Brien"],
        ),
        ("name eq 'O''Brien'", ["O'Brien"]),
        ("contains(name, '%')", ["50% off"]),
        ("startswith(name, 'a_')", ["a_b"]),
        ("contains(name, 'B')", ["O'Brien", "ABC"]),
        ("contains(name, '[b]')", ["a[b]"]),
        ("endswith(name, 'c')", ["abc"]),
        ("name ne 'abc'", ["O'Brien", "50% off", "500 off", "a_b", "axb", "ABC", "abc ", "a[b]"]),
        (
            "not (name eq 'abc')",
            ["O'Brien", "50% off", "500 off", "a_b", "axb", "ABC", "abc ", "a[b]"],
        ),
        ("name gt 'abc'", ["axb", "abc "]),
        ("name eq null", [None]),
    ],
)
def test_filters_select_what_accord_means(
    crm: DataverseConnector, filter_accounts: str, text: str, expected: list[str | None]
) -> None:
    """Dataverse compares text without case; what Accord's filter says is what is read."""
    condition = mine(filter_accounts, text)
    read = read_all(crm, "account", filter=condition, fields=["name"])
    assert sorted(read_names(read), key=str) == sorted(expected, key=str)
    assert crm.count("account", filter=condition) == len(expected)


@pytest.fixture(scope="module")
def filter_accounts(crm: DataverseConnector) -> str:
    prefix = tag()
    insert_accounts(crm, prefix, [{"name": n} for n in FILTER_NAMES])
    return prefix


def read_names(records: list[Record]) -> list[str | None]:
    return [r.values["name"] for r in records]


def test_modified_after_rereads_the_boundary_second(crm: DataverseConnector) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": "a"}, {"name": "b"}])
    records = read_all(crm, "account", keys=keys, fields=[])
    versions = {r.version for r in records}
    newest = max(v for v in versions if v is not None)
    at = read_all(crm, "account", filter=mine(prefix), modified_after=newest, fields=[])
    assert {r.key for r in at} == {r.key for r in records if r.version == newest}
    past = read_all(
        crm, "account", filter=mine(prefix), modified_after=newest + timedelta(microseconds=1)
    )
    assert past == []
    before = read_all(
        crm, "account", filter=mine(prefix), modified_after=newest - timedelta(seconds=5)
    )
    assert [r.key for r in before] == [
        r.key for r in sorted(records, key=lambda r: (r.version, r.key))
    ]
    assert crm.count("account", filter=mine(prefix), modified_after=newest) == len(at)


def test_max_key(crm: DataverseConnector) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": "m"}] * 3)
    shared = keys[0][:9]  # the time-ordered head of the GUIDs of one batch
    assert crm.max_key("account", shared) == max(k for k in keys if k.startswith(shared))
    assert crm.max_key("account", "zzzz") is None


# -- writes -----------------------------------------------------------------------------
def test_a_bad_record_fails_alone_in_a_bulk_create(crm: DataverseConnector) -> None:
    prefix = tag()
    keys = new_uuids(20)
    changes = [
        Change(
            ChangeKind.INSERT,
            key,
            {"accountnumber": f"{prefix}{i:03d}", "customertypecode": 99 if i == 13 else 3},
            checked=True,  # sent as it is: Dataverse refuses the option value
        )
        for i, key in enumerate(keys)
    ]
    before = crm.http.requests
    results = crm.write("account", changes)
    assert list(failures(results)) == [keys[13]]
    assert "0x80044331" in results[13].error and "outside the valid range" in results[13].error
    assert crm.http.requests - before <= 12  # halves, not one request per record
    assert {r.key for r in read_all(crm, "account", filter=mine(prefix), fields=[])} == set(
        keys
    ) - {keys[13]}
    assert all(r.version is not None for r in results if r.ok)


def test_duplicate_ids_fail_alone(crm: DataverseConnector) -> None:
    prefix = tag()
    [existing] = insert_accounts(crm, prefix, [{"name": "first"}])
    fresh = new_uuids(2)
    changes = [
        Change(ChangeKind.INSERT, fresh[0], {"name": "ok"}),
        Change(ChangeKind.INSERT, existing, {"name": "again"}),
        Change(ChangeKind.INSERT, fresh[1], {"name": "twice"}),
        Change(ChangeKind.INSERT, fresh[1], {"name": "twice again"}),
    ]
    results = crm.write("account", changes)
    assert [r.ok for r in results] == [True, False, True, False]
    assert "0x80040237" in results[1].error
    names = {r.key: r.values["name"] for r in read_all(crm, "account", keys=[existing, *fresh])}
    assert names == {existing: "first", fresh[0]: "ok", fresh[1]: "twice"}


def test_updates_send_only_their_fields_and_a_missing_record_fails(
    crm: DataverseConnector,
) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": f"u{i}", "telephone1": "555"} for i in range(3)])
    ghost = new_uuids(1)[0]
    changes = [Change(ChangeKind.UPDATE, k, {"name": f"changed {k[-4:]}"}) for k in keys]
    changes.insert(1, Change(ChangeKind.UPDATE, ghost, {"name": "ghost"}))
    results = crm.write("account", changes)
    assert failures(results) == {ghost: "record not found"}
    found = {r.key: r for r in read_all(crm, "account", keys=keys, fields=["name", "telephone1"])}
    for key, result in zip(keys, [results[0], *results[2:]], strict=True):
        assert found[key].values["name"] == f"changed {key[-4:]}"
        assert found[key].values["telephone1"] == "555"
        assert result.version == found[key].version


def test_conditional_update_of_a_record_edited_since_is_stale(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": "as read"}, {"name": "untouched"}])
    read = {r.key: r for r in read_all(crm, "account", keys=keys, fields=["name"])}
    other = connect(dv, name="someone else")  # a user editing the record meanwhile
    assert other.write("account", [Change(ChangeKind.UPDATE, keys[0], {"name": "user's edit"})])[
        0
    ].ok
    other.close()
    changes = [
        Change(
            ChangeKind.UPDATE,
            key,
            {"name": "engine's"},
            expected=Expected(read[key].version, {"name": read[key].values["name"]}),
        )
        for key in keys
    ]
    results = crm.write("account", changes)
    assert (results[0].ok, results[0].stale, results[0].error) == (False, True, STALE)
    assert results[1].ok and not results[1].stale and results[1].version is not None
    names = {r.key: r.values["name"] for r in read_all(crm, "account", keys=keys, fields=["name"])}
    assert names == {keys[0]: "user's edit", keys[1]: "engine's"}


def test_conditional_update_without_a_known_etag_reads_the_record_first(
    dv: LocalDataverse, crm: DataverseConnector
) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": "a"}, {"name": "b"}, {"name": "c"}])
    read = {r.key: r for r in read_all(crm, "account", keys=keys, fields=["name"])}
    fresh = connect(dv)  # knows no ETag
    changes = [
        Change(
            ChangeKind.UPDATE,
            keys[0],
            {"name": "A"},
            expected=Expected(read[keys[0]].version, {"name": "a"}),
        ),
        Change(
            ChangeKind.UPDATE,
            keys[1],
            {"name": "B"},
            expected=Expected(read[keys[1]].version, {"name": "not b"}),
        ),
        Change(ChangeKind.UPDATE, new_uuids(1)[0], {"name": "?"}, expected=Expected(None, {})),
    ]
    results = fresh.write("account", changes)
    assert [(r.ok, r.stale) for r in results] == [(True, False), (False, True), (False, False)]
    assert results[2].error == "record not found"
    fresh.close()


def test_lookups_are_bound_and_read_under_their_field_name(crm: DataverseConnector) -> None:
    [currency] = new_uuids(1)
    made = crm.write(
        "transactioncurrency",
        [Change(ChangeKind.INSERT, currency, {"isocurrencycode": "EUR", "currencyname": "Euro"})],
    )
    assert made[0].ok, made[0].error
    prefix = tag()
    [account] = insert_accounts(
        crm, prefix, [{"name": "parent", "transactioncurrencyid": currency}]
    )
    contacts = new_uuids(3)
    results = crm.write(
        "contact",
        [
            Change(
                ChangeKind.INSERT,
                contacts[0],
                {"lastname": "of account", "parentcustomerid": account},
            ),
            Change(
                ChangeKind.INSERT,
                contacts[1],
                {"lastname": "of contact", "parentcustomerid": f"contact:{contacts[0]}"},
            ),
            Change(
                ChangeKind.INSERT,
                contacts[2],
                {"lastname": "of nobody", "parentcustomerid": new_uuids(1)[0]},
            ),
        ],
    )
    assert [r.ok for r in results] == [True, True, False]
    assert "no account or contact has id" in results[2].error
    [read_account] = read_all(crm, "account", keys=[account], fields=["transactioncurrencyid"])
    assert read_account.values["transactioncurrencyid"] == currency
    parents = {
        r.key: r.values["parentcustomerid"]
        for r in read_all(crm, "contact", keys=contacts, fields=["parentcustomerid"])
    }
    assert parents == {contacts[0]: account, contacts[1]: contacts[0]}
    kinds = {
        r.key: r.values["parentcustomeridtype"]
        for r in read_all(crm, "contact", keys=contacts, fields=["parentcustomeridtype"])
    }
    assert kinds == {contacts[0]: "account", contacts[1]: "contact"}
    typed = crm.write(
        "contact",
        [
            Change(
                ChangeKind.UPDATE,
                contacts[1],
                {"parentcustomerid": account, "parentcustomeridtype": "account"},
            )
        ],
    )
    assert typed[0].ok, typed[0].error
    by_type = read_all(
        crm, "contact", keys=contacts, filter=parse_filter("parentcustomeridtype eq 'account'")
    )
    assert sorted(r.key for r in by_type) == sorted(contacts[:2])
    by_parent = read_all(crm, "contact", filter=parse_filter(f"parentcustomerid eq {account}"))
    assert sorted(r.key for r in by_parent) == sorted(contacts[:2])
    cleared = crm.write(
        "contact", [Change(ChangeKind.UPDATE, contacts[1], {"parentcustomerid": None})]
    )
    assert cleared[0].ok, cleared[0].error
    [again] = read_all(crm, "contact", keys=[contacts[1]], fields=["parentcustomerid"])
    assert again.values["parentcustomerid"] is None


def test_deletes_and_records_already_gone(crm: DataverseConnector) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": "x"}, {"name": "y"}, {"name": "z"}])
    changes = [
        Change(ChangeKind.DELETE, keys[0]),
        Change(ChangeKind.DELETE, new_uuids(1)[0]),
        Change(ChangeKind.DELETE, keys[2]),
        Change(ChangeKind.DELETE, keys[2]),
    ]
    results = crm.write("account", changes)
    assert all(r.ok for r in results), failures(results)
    assert [r.key for r in read_all(crm, "account", filter=mine(prefix), fields=[])] == [keys[1]]


def test_values_the_table_cannot_hold_fail_alone(crm: DataverseConnector) -> None:
    prefix = tag()
    [key] = insert_accounts(crm, prefix, [{"name": "kept"}])
    changes = [
        Change(ChangeKind.UPDATE, key, {"name": "x" * 161}),
        Change(ChangeKind.UPDATE, key, {"nope": 1}),
        Change(ChangeKind.INSERT, "K0001", {"name": "not a guid"}),
        Change(ChangeKind.UPDATE, key, {"telephone1": "ok"}),
    ]
    results = crm.write("account", changes)
    assert [r.ok for r in results] == [False, False, False, True]
    assert "name" in results[0].error and "160" in results[0].error
    assert "field 'nope'" in results[1].error
    assert "not a GUID" in results[2].error
    [record] = read_all(crm, "account", keys=[key], fields=["name", "telephone1"])
    assert (record.values["name"], record.values["telephone1"]) == ("kept", "ok")


def test_conditional_updates_go_in_one_batch(crm: DataverseConnector) -> None:
    prefix = tag()
    keys = insert_accounts(crm, prefix, [{"name": f"b{i}"} for i in range(20)])
    read = {r.key: r for r in read_all(crm, "account", keys=keys, fields=["name"])}
    changes = [
        Change(
            ChangeKind.UPDATE,
            key,
            {"name": f"batched {i}"},
            expected=Expected(read[key].version, {"name": read[key].values["name"]}),
        )
        for i, key in enumerate(keys)
    ]
    before = crm.http.requests
    results = crm.write("account", changes)
    assert all(r.ok and r.version is not None for r in results), failures(results)
    # one read of the values and ETags they hold now (the condition names values), one
    # $batch of PATCHes with If-Match; versions come back in its answers
    assert crm.http.requests - before == 2
    names = {r.key: r.values["name"] for r in read_all(crm, "account", keys=keys, fields=["name"])}
    assert names == {key: f"batched {i}" for i, key in enumerate(keys)}


def test_table_settings_must_fit_dataverse(dv: LocalDataverse) -> None:
    options = {"token": dv.token, "ca_bundle": str(dv.ca_file)}
    keyed = DataverseConnector(
        "crm", url=dv.url, tables={"account": TableSettings(key="accountnumber")}, options=options
    )
    with pytest.raises(ConfigError, match="the key is the primary id 'accountid'") as info:
        keyed.describe("account")
    assert info.value.setting == "key"
    keyed.close()
    dated = DataverseConnector(
        "crm", url=dv.url, tables={"account": TableSettings(modified="modifedon")}, options=options
    )
    with pytest.raises(ConfigError, match=r"did you mean 'modifiedon'") as info:
        dated.describe("account")
    assert info.value.setting == "modified"
    dated.close()
    with pytest.raises(ConfigError, match="url must be the environment's address"):
        DataverseConnector("crm", url="org.crm.dynamics.com", tables={}, options=options)


def test_a_write_of_several_bulk_requests_reads_each_ones_versions_beside_the_next(
    dv: LocalDataverse,
) -> None:
    small = connect(dv, batch_size=100)  # 100 per CreateMultiple, 500 per write call
    assert small.capabilities.batch_size == 500
    prefix = tag()
    keys = new_uuids(250)
    changes = [
        Change(ChangeKind.INSERT, k, {"accountnumber": f"{prefix}{i:03d}", "name": f"p{i}"})
        for i, k in enumerate(keys)
    ]
    dv.stats.reset()
    results = small.write("account", changes)
    kinds = dv.stats.kinds()
    assert kinds["POST accounts/CreateMultiple"] == 3  # 100 + 100 + 50
    assert kinds["GET accounts"] == 3  # and one version read for each
    assert [r.key for r in results] == keys and all(r.ok for r in results)
    found = {r.key: r for r in read_all(small, "account", filter=mine(prefix), fields=["name"])}
    assert {r.key: r.version for r in results} == {k: found[k].version for k in keys}
    assert all(r.version is not None for r in results)
    small.close()
