"""The Business Central connector over real HTTPS against the local Business Central service.

One service (two companies) serves the whole module; each test works on customers whose
number starts with its own prefix (``tag()``), so the tests do not see each other's records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from accord.connectors.businesscentral.connector import BusinessCentralConnector
from accord.errors import ConfigError
from accord.filters import parse_filter
from accord.model import STALE, Change, ChangeKind, Expected, FieldInfo, TableSettings
from accord.services.businesscentral import LocalBusinessCentral
from tests.connectors.businesscentral_support import (
    CANADA,
    USA,
    connect,
    failures,
    insert_customers,
    mine,
    read_all,
    tag,
)

LOYALTY = {
    "apis": {
        "contoso/sync/v1.0": {
            "entities": {
                "loyaltyCards": {
                    "key": "number",
                    "series": "LC0001",
                    "fields": {
                        "number": {"type": "Code", "max_length": 20},
                        "description": {"type": "String", "max_length": 100},
                        "points": {"type": "Integer"},
                    },
                }
            }
        }
    }
}
"""A custom API page, as a partner's extension would publish it."""


@pytest.fixture(scope="module")
def bc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBusinessCentral]:
    with LocalBusinessCentral.start(
        data_dir=tmp_path_factory.mktemp("businesscentral"),
        schema=LOYALTY,
        companies=(USA, CANADA),
    ) as service:
        yield service


@pytest.fixture(scope="module")
def erp(bc: LocalBusinessCentral) -> Iterator[BusinessCentralConnector]:
    connector = connect(bc)
    yield connector
    connector.close()


# -- describe ---------------------------------------------------------------------------
def test_describe_names_number_key_modified_and_kinds(erp: BusinessCentralConnector) -> None:
    schema = erp.describe("customers")
    assert (schema.key, schema.modified) == ("number", "lastModifiedDateTime")
    fields = schema.fields
    assert fields["number"] == FieldInfo("number", "text", nullable=False, length=20)
    assert fields["id"].kind == "text" and not fields["id"].nullable
    assert fields["creditLimit"].kind == "decimal"
    assert fields["taxLiable"].kind == "boolean"
    assert fields["type"].kind == "text"  # an enum, by its names
    assert fields["lastModifiedDateTime"].kind == "datetime"
    assert erp.describe("customers") is schema  # cached
    assert erp.describe("currencies").key == "code"
    assert erp.describe("items").key == "number"


def test_unknown_tables_and_fields_are_one_clear_sentence(erp: BusinessCentralConnector) -> None:
    with pytest.raises(ConfigError, match=r"no table 'customer' .*\(did you mean 'customers'\?\)"):
        erp.describe("customer")
    with pytest.raises(ConfigError, match=r"no field 'dispalyName' \(did you mean 'displayName'"):
        list(erp.read("customers", fields=["dispalyName"]))
    with pytest.raises(ConfigError, match=r"has no API 'nobody/none/v1\.0'"):
        erp.describe("nobody/none/v1.0/things")
    with pytest.raises(ConfigError, match="is not a Business Central table name"):
        erp.describe("customers(1)")


def test_a_custom_api_table_is_read_and_written(bc: LocalBusinessCentral) -> None:
    connector = connect(bc)
    table = "contoso/sync/v1.0/loyaltyCards"
    schema = connector.describe(table)
    assert schema.key == "number" and "points" in schema.fields
    prefix = tag()
    changes = [Change(ChangeKind.INSERT, f"{prefix}1", {"description": "gold", "points": 7})]
    assert [r.ok for r in connector.write(table, changes)] == [True]
    [card] = read_all(connector, table, filter=mine(prefix), fields=["points"])
    assert (card.key, card.values["points"]) == (f"{prefix}1", 7)
    connector.close()


# -- creating with numbers the engine chose ---------------------------------------------
def test_creates_keep_the_numbers_chosen_and_report_versions(
    erp: BusinessCentralConnector,
) -> None:
    prefix = tag()
    changes = [
        Change(
            ChangeKind.INSERT,
            f"{prefix}{i:03d}",
            {"displayName": f"Customer {i}", "creditLimit": Decimal(f"{i}.25"), "type": "Person"},
        )
        for i in range(5)
    ]
    before = erp.http.requests
    results = erp.write("customers", changes)
    assert erp.http.requests - before == 1  # one $batch
    assert [r.key for r in results] == [c.key for c in changes]
    assert all(r.ok and r.version is not None for r in results), failures(results)
    found = {r.key: r for r in read_all(erp, "customers", filter=mine(prefix))}
    assert sorted(found) == [c.key for c in changes]
    for change, result in zip(changes, results, strict=True):
        record = found[change.key]
        assert record.version == result.version
        assert record.values["displayName"] == change.values["displayName"]
        assert record.values["creditLimit"] == change.values["creditLimit"]
        assert record.values["type"] == "Person"
        assert len(record.values["id"]) == 36  # the id is kept, as a field
    assert erp.max_key("customers", prefix) == f"{prefix}004"
    assert erp.max_key("customers", prefix + "9") is None


def test_a_bad_record_fails_alone_in_its_batch(erp: BusinessCentralConnector) -> None:
    prefix = tag()
    [taken] = insert_customers(erp, prefix, [{"displayName": "first"}])
    changes = [
        Change(ChangeKind.INSERT, f"{prefix}100", {"displayName": "ok 1"}),
        Change(ChangeKind.INSERT, taken, {"displayName": "same number"}),
        # checked: the engine's checks are skipped, so Business Central judges it
        Change(ChangeKind.INSERT, f"{prefix}101", {"displayName": "x" * 101}, checked=True),
        Change(ChangeKind.INSERT, f"{prefix}102", {"displayName": "ok 2"}),
        Change(ChangeKind.INSERT, f"{prefix}103", {"balanceDue": 5}),
    ]
    results = erp.write("customers", changes)
    assert [r.ok for r in results] == [True, False, False, True, False]
    problems = failures(results)
    assert "already exists" in problems[taken]
    assert "(Internal_" in problems[taken] or "(Application_" in problems[taken]
    assert "displayName" in problems[f"{prefix}101"] or "100" in problems[f"{prefix}101"]
    assert "read-only" in problems[f"{prefix}103"]
    numbers = sorted(r.key for r in read_all(erp, "customers", filter=mine(prefix)))
    assert numbers == [taken, f"{prefix}100", f"{prefix}102"]


def test_a_lower_case_number_is_refused_before_bc_changes_it(
    erp: BusinessCentralConnector,
) -> None:
    prefix = tag()
    changes = [
        Change(ChangeKind.INSERT, f"{prefix.lower()}1", {"displayName": "a"}),
        Change(ChangeKind.INSERT, f"{prefix}2", {"displayName": "b"}),
    ]
    results = erp.write("customers", changes)
    assert [r.ok for r in results] == [False, True]
    assert "is not upper-case" in results[0].error and "new_keys" in results[0].error
    assert [r.key for r in read_all(erp, "customers", filter=mine(prefix))] == [f"{prefix}2"]


def test_inserting_one_number_twice_in_a_batch_fails_the_second(
    erp: BusinessCentralConnector,
) -> None:
    prefix = tag()
    changes = [
        Change(ChangeKind.INSERT, f"{prefix}1", {"displayName": "a"}),
        Change(ChangeKind.INSERT, f"{prefix}1", {"displayName": "b"}),
    ]
    results = erp.write("customers", changes)
    assert [r.ok for r in results] == [True, False]
    assert "inserted twice" in results[1].error


# -- reading ----------------------------------------------------------------------------
def test_filters_are_applied_with_exact_text_semantics(erp: BusinessCentralConnector) -> None:
    prefix = tag()
    insert_customers(
        erp,
        prefix,
        [
            {"displayName": "Adatum", "creditLimit": 100, "city": "Oslo"},
            {"displayName": "ADATUM", "creditLimit": 200, "city": "Oslo"},
            {"displayName": "Fabrikam", "creditLimit": 300, "city": None},
        ],
    )

    def names(text: str) -> list[str]:
        return sorted(
            r.values["displayName"]
            for r in read_all(erp, "customers", filter=mine(prefix, text), fields=["displayName"])
        )

    assert names("displayName eq 'Adatum'") == ["Adatum"]  # the server ignores case; not here
    assert names("displayName ne 'Adatum'") == ["ADATUM", "Fabrikam"]
    assert names("creditLimit gt 100 and creditLimit le 300") == ["ADATUM", "Fabrikam"]
    # Business Central holds no null: a blank city is '', read (and filtered) as null
    assert names("city eq null") == ["Fabrikam"]
    assert names("city ne null") == ["ADATUM", "Adatum"]
    assert names("contains(displayName, 'atu')") == ["Adatum"]
    assert names("displayName in ('Fabrikam', 'ADATUM')") == ["ADATUM", "Fabrikam"]
    assert names("not (creditLimit eq 100)") == ["ADATUM", "Fabrikam"]
    assert erp.count("customers", filter=mine(prefix, "city eq 'Oslo'")) == 2
    assert erp.count("customers", filter=mine(prefix, "displayName eq 'adatum'")) == 0


def test_fields_limit_the_values_and_key_and_version_come_always(
    erp: BusinessCentralConnector,
) -> None:
    prefix = tag()
    insert_customers(erp, prefix, [{"displayName": "a", "city": "Rome"}])
    [record] = read_all(erp, "customers", filter=mine(prefix, "city eq 'Rome'"), fields=["city"])
    assert set(record.values) == {"city", "number", "lastModifiedDateTime"}
    assert record.version == record.values["lastModifiedDateTime"]


def test_paging_follows_next_links_in_number_order(bc: LocalBusinessCentral) -> None:
    connector = connect(bc, page_size=7)
    prefix = tag()
    numbers = insert_customers(connector, prefix, [{"displayName": f"p{i}"} for i in range(30)])
    batches = list(connector.read("customers", filter=mine(prefix), batch_size=4))
    assert [len(b) for b in batches] == [4] * 7 + [2]
    assert [r.key for b in batches for r in b] == numbers
    assert connector.count("customers", filter=mine(prefix)) == 30
    connector.close()


def test_keys_are_read_in_chunks_missing_ones_absent(erp: BusinessCentralConnector) -> None:
    prefix = tag()
    numbers = insert_customers(erp, prefix, [{"displayName": f"k{i}"} for i in range(250)])
    wanted = [*numbers[::-1], f"{prefix}999", numbers[3].lower()]
    before = erp.http.requests
    found = read_all(erp, "customers", keys=wanted, fields=["displayName"], batch_size=100)
    assert [r.key for r in found] == numbers  # sorted; the lower-case one is not a number
    assert erp.http.requests - before == 1  # the chunks went in one $batch
    few = read_all(erp, "customers", keys=numbers[:2], filter=parse_filter("displayName eq 'k1'"))
    assert [r.key for r in few] == [numbers[1]]


def test_modified_after_reads_from_the_millisecond_on(erp: BusinessCentralConnector) -> None:
    prefix = tag()
    first = insert_customers(erp, prefix, [{"displayName": "old"}])
    [old] = read_all(erp, "customers", keys=first)
    assert old.version is not None and old.version.microsecond % 1000 == 0  # milliseconds
    second = insert_customers(erp, prefix + "N", [{"displayName": "new"}])
    [new] = read_all(erp, "customers", keys=second)
    assert new.version is not None and new.version > old.version

    def since(after: timedelta) -> list[str]:
        assert old.version is not None
        return [
            r.key
            for r in read_all(
                erp, "customers", filter=mine(prefix), modified_after=old.version + after
            )
        ]

    assert since(timedelta(0)) == [*first, *second]  # 'ge': that millisecond is read again
    assert since(timedelta(microseconds=999)) == [*first, *second]  # still that millisecond
    if new.version - old.version > timedelta(milliseconds=1):
        assert since(timedelta(milliseconds=1)) == second
    assert since(new.version - old.version + timedelta(milliseconds=1)) == []
    assert erp.count("customers", filter=mine(prefix), modified_after=new.version) == 1


# -- updates and deletes ----------------------------------------------------------------
def test_updates_patch_by_id_and_report_the_new_version(erp: BusinessCentralConnector) -> None:
    prefix = tag()
    numbers = insert_customers(erp, prefix, [{"displayName": "a"}, {"displayName": "b"}])
    before = {r.key: r for r in read_all(erp, "customers", keys=numbers)}
    results = erp.write(
        "customers",
        [
            Change(ChangeKind.UPDATE, numbers[0], {"displayName": "A", "creditLimit": 5}),
            Change(ChangeKind.UPDATE, f"{prefix}404", {"displayName": "ghost"}),
            Change(ChangeKind.UPDATE, numbers[1], {"number": f"{prefix}777"}),
        ],
    )
    assert [r.ok for r in results] == [True, False, False]
    assert results[1].error == "record not found"
    assert "is the key and cannot be changed" in results[2].error
    after = {r.key: r for r in read_all(erp, "customers", keys=numbers)}
    assert after[numbers[0]].values["displayName"] == "A"
    assert after[numbers[0]].version == results[0].version
    version = before[numbers[0]].version
    assert results[0].version is not None and version is not None
    assert results[0].version > version
    assert after[numbers[0]].values["id"] == before[numbers[0]].values["id"]


def test_a_conditional_update_is_stale_when_someone_saved_since(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    prefix = tag()
    numbers = insert_customers(erp, prefix, [{"displayName": "a"}, {"displayName": "b"}])
    read = {r.key: r for r in read_all(erp, "customers", keys=numbers)}
    other = connect(bc, "someone")  # a user saves the first record after Accord's read
    assert other.write("customers", [Change(ChangeKind.UPDATE, numbers[0], {"city": "Paris"})])[
        0
    ].ok
    other.close()
    changes = [
        Change(
            ChangeKind.UPDATE,
            number,
            {"displayName": "by accord"},
            expected=Expected(
                read[number].version, {"displayName": read[number].values["displayName"]}
            ),
        )
        for number in numbers
    ]
    results = erp.write("customers", changes)
    assert [(r.ok, r.stale) for r in results] == [(False, True), (True, False)]
    assert results[0].error == STALE
    now = {r.key: r.values for r in read_all(erp, "customers", keys=numbers)}
    assert (now[numbers[0]]["displayName"], now[numbers[0]]["city"]) == ("a", "Paris")
    assert now[numbers[1]]["displayName"] == "by accord"


def test_a_conditional_update_with_a_fresh_connector_reads_the_etag_first(
    bc: LocalBusinessCentral, erp: BusinessCentralConnector
) -> None:
    prefix = tag()
    numbers = insert_customers(erp, prefix, [{"displayName": "a"}])
    [record] = read_all(erp, "customers", keys=numbers)
    fresh = connect(bc, "fresh")
    expected = Expected(record.version, {"displayName": "a"})
    change = Change(ChangeKind.UPDATE, numbers[0], {"displayName": "b"}, expected=expected)
    [result] = fresh.write("customers", [change])
    assert result.ok and result.version is not None and result.version > record.version  # type: ignore[operator]
    [again] = fresh.write("customers", [change])  # the version expected is gone now
    assert again.stale
    fresh.close()


def test_deletes_remove_records_and_a_gone_one_counts_as_deleted(
    erp: BusinessCentralConnector,
) -> None:
    prefix = tag()
    numbers = insert_customers(erp, prefix, [{"displayName": "a"}, {"displayName": "b"}])
    changes = [Change(ChangeKind.DELETE, numbers[0]), Change(ChangeKind.DELETE, f"{prefix}404")]
    assert [r.ok for r in erp.write("customers", changes)] == [True, True]
    assert [r.key for r in read_all(erp, "customers", filter=mine(prefix))] == [numbers[1]]
    # a delete by a connector that never read the record looks it up by number first
    mixed = [
        Change(ChangeKind.INSERT, f"{prefix}900", {"displayName": "new"}),
        Change(ChangeKind.UPDATE, numbers[1], {"displayName": "B"}),
        Change(ChangeKind.DELETE, f"{prefix}900"),
    ]
    results = erp.write("customers", mixed)
    assert [r.ok for r in results] == [True, True, True], failures(results)
    [left] = read_all(erp, "customers", filter=mine(prefix), fields=["displayName"])
    assert (left.key, left.values["displayName"]) == (numbers[1], "B")


# -- companies --------------------------------------------------------------------------
def test_companies_of_one_tenant_never_see_each_other(bc: LocalBusinessCentral) -> None:
    usa, canada = connect(bc, "usa"), connect(bc, "canada", company=CANADA)
    by_id = connect(bc, "by-id", company=bc.company_ids[CANADA].upper())
    prefix = tag()
    same = f"{prefix}1"
    for connector, name in ((usa, "US customer"), (canada, "CA customer")):
        result = connector.write(
            "customers", [Change(ChangeKind.INSERT, same, {"displayName": name})]
        )
        assert result[0].ok, result[0].error
    assert [r.values["displayName"] for r in read_all(usa, "customers", filter=mine(prefix))] == [
        "US customer"
    ]
    assert [r.values["displayName"] for r in read_all(by_id, "customers", filter=mine(prefix))] == [
        "CA customer"
    ]
    assert canada.write("customers", [Change(ChangeKind.DELETE, same)])[0].ok
    assert read_all(by_id, "customers", filter=mine(prefix)) == []
    assert len(read_all(usa, "customers", filter=mine(prefix))) == 1
    for connector in (usa, canada, by_id):
        connector.close()


def test_an_unknown_company_names_the_companies_there(bc: LocalBusinessCentral) -> None:
    connector = connect(bc, company="CRONUS Mars")
    with pytest.raises(ConfigError, match="has no company 'CRONUS Mars'") as info:
        connector.describe("customers")
    assert USA in str(info.value) and CANADA in str(info.value)
    connector.close()
    unnamed = connect(bc, company=None)
    with pytest.raises(ConfigError, match=r"options\.company is not set .* has 2 companies"):
        unnamed.count("customers")
    unnamed.close()


def test_table_settings_may_name_another_text_key(bc: LocalBusinessCentral) -> None:
    connector = BusinessCentralConnector(
        "erp",
        url=bc.url,
        tables={"vendors": TableSettings(key="creditLimit")},
        options={"token": bc.token, "ca_bundle": str(bc.ca_file), "company": USA},
    )
    with pytest.raises(ConfigError, match="key field 'creditLimit' is not a text field"):
        connector.describe("vendors")
    connector.close()


def test_bulk_writes_take_one_request_per_hundred_records(erp: BusinessCentralConnector) -> None:
    prefix = tag()
    numbers = [f"{prefix}{i:03d}" for i in range(250)]

    def requests(changes: list[Change]) -> int:
        before = erp.http.requests
        results = erp.write("customers", changes)
        assert all(r.ok for r in results), failures(results)
        return erp.http.requests - before

    inserts = [Change(ChangeKind.INSERT, n, {"displayName": "new"}) for n in numbers]
    # a fresh connector first learns the company's id and the entity's metadata, once
    assert erp.count("customers", filter=mine(prefix)) == 0
    assert requests(inserts) == 3
    read = {r.key: r for r in read_all(erp, "customers", keys=numbers, fields=["displayName"])}
    conditional = [
        Change(
            ChangeKind.UPDATE,
            n,
            {"displayName": "renamed"},
            expected=Expected(read[n].version, {"displayName": "new"}),
        )
        for n in numbers
    ]
    assert requests(conditional) == 3  # the ETags of the read: no read before writing
    assert requests([Change(ChangeKind.DELETE, n) for n in numbers]) == 3
    assert erp.count("customers", filter=mine(prefix)) == 0


def test_a_null_is_written_as_the_fields_blank(erp: BusinessCentralConnector) -> None:
    """Business Central refuses null: a null text, GUID or number goes as '', the empty GUID
    or 0, and blank text and GUIDs read back as None."""
    prefix = tag()
    [number] = insert_customers(erp, prefix, [{"displayName": "a", "city": "Oslo"}])
    change = Change(
        ChangeKind.UPDATE, number, {"city": None, "currencyId": None, "creditLimit": None}
    )
    [result] = erp.write("customers", [change])
    assert result.ok, result.error
    [record] = read_all(
        erp, "customers", keys=[number], fields=["city", "currencyId", "creditLimit"]
    )
    assert (record.values["city"], record.values["currencyId"]) == (None, None)
    assert record.values["creditLimit"] == 0
    schema = erp.describe("customers")
    assert schema.fields["city"].nullable and not schema.fields["creditLimit"].nullable
