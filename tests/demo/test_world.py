"""build_demo: determinism, sizes, the directory contract and speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from accord.demo import MARKER_NAME, DemoWorld, build_demo
from accord.errors import UsageError
from tests.demo.conftest import METADATA, database_path, dump, query, scalar


def test_same_seed_gives_the_same_rows(tmp_path: Path) -> None:
    first = build_demo(tmp_path / "a", records=300, seed=7)
    second = build_demo(tmp_path / "b", records=300, seed=7)
    assert dump(first) == dump(second)
    for system in METADATA:  # even the files are the same, byte for byte
        assert (
            database_path(first, system).read_bytes() == database_path(second, system).read_bytes()
        )
    assert first.config_path.read_bytes() == second.config_path.read_bytes()
    assert first.counts == second.counts


def test_another_seed_gives_other_rows(tmp_path: Path) -> None:
    first = dump(build_demo(tmp_path / "a", records=300, seed=7))
    second = dump(build_demo(tmp_path / "b", records=300, seed=8))
    for table in ("erp.customer", "erp.contact", "erp.item", "crm.account", "crm.contact"):
        assert first[table] != second[table], table


def test_world_describes_what_was_built(world: DemoWorld) -> None:
    assert world.directory.is_absolute()
    assert world.config_path == world.directory / "accord.toml"
    assert world.config_path.is_file()
    assert world.erp_url == f"sqlite:///{world.directory}/erp.db"
    assert world.crm_url == f"sqlite:///{world.directory}/crm.db"
    tables = {f"{system}.{table}" for system, md in METADATA.items() for table in md.tables}
    assert set(world.counts) == tables
    for name, count in world.counts.items():
        system, table = name.split(".")
        assert scalar(world, system, f'SELECT count(*) FROM "{table}"') == count, name


def test_default_counts(world: DemoWorld) -> None:
    assert dict(world.counts) == {
        "erp.currency": 8,
        "erp.salesperson": 0,
        "erp.unit_of_measure": 8,
        "erp.customer": 750,
        "erp.contact": 1125,
        "erp.item": 500,
        "erp.resource": 50,
        "crm.transactioncurrency": 0,
        "crm.systemuser": 12,
        "crm.uomschedule": 0,
        "crm.account": 250,
        "crm.contact": 375,
        "crm.product": 10,
    }


@pytest.mark.parametrize("records", [20, 137, 1000])
def test_records_is_the_number_of_customers_across_both_systems(
    tmp_path: Path, records: int
) -> None:
    world = build_demo(tmp_path / "demo", records=records)
    assert world.counts["erp.customer"] + world.counts["crm.account"] == records
    assert scalar(world, "erp", "SELECT count(*) FROM customer WHERE blocked = 'all'") >= 1
    assert scalar(world, "crm", "SELECT count(*) FROM account WHERE statecode = 1") >= 1
    assert scalar(world, "crm", "SELECT count(*) FROM account WHERE customertypecode = 11") >= 1
    assert scalar(world, "erp", "SELECT count(*) FROM item WHERE blocked") >= 1
    assert scalar(world, "crm", "SELECT count(DISTINCT producttypecode) FROM product") == 2


def test_too_few_records_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="at least 20"):
        build_demo(tmp_path / "demo", records=19)
    assert not (tmp_path / "demo").exists()


def test_the_integration_starts_half_set_up(world: DemoWorld) -> None:
    # Salespeople come from the CRM; currencies and units of measure go to it.
    assert world.counts["erp.salesperson"] == 0
    assert world.counts["crm.transactioncurrency"] == 0
    assert world.counts["crm.uomschedule"] == 0
    assert world.counts["erp.currency"] >= 8
    assert world.counts["erp.unit_of_measure"] >= 8
    users = query(world, "crm", "SELECT isdisabled, islicensed, isintegrationuser FROM systemuser")
    assert (0, 1, 0) in users
    assert any(disabled for disabled, _, _ in users)
    assert any(not licensed for _, licensed, _ in users)
    assert any(integration for _, _, integration in users)


def test_erp_contacts_belong_to_synchronized_customers(world: DemoWorld) -> None:
    orphans = scalar(
        world,
        "erp",
        "SELECT count(*) FROM contact c LEFT JOIN customer k ON k.no = c.customer_no "
        "WHERE k.no IS NULL OR k.blocked <> ''",
    )
    assert orphans == 0
    assert scalar(world, "erp", "SELECT count(*) FROM contact WHERE type <> 'person'") == 0


def test_crm_contacts_belong_to_synchronized_accounts(world: DemoWorld) -> None:
    orphans = scalar(
        world,
        "crm",
        "SELECT count(*) FROM contact c LEFT JOIN account a ON a.accountid = c.parentcustomerid "
        "WHERE a.accountid IS NULL OR a.statecode <> 0 OR a.customertypecode <> 3 "
        "OR c.parentcustomeridtype <> 'account'",
    )
    assert orphans == 0
    primary = scalar(
        world,
        "crm",
        "SELECT count(*) FROM account a JOIN contact c ON c.contactid = a.primarycontactid "
        "WHERE c.parentcustomerid = a.accountid",
    )
    assert primary == scalar(
        world, "crm", "SELECT count(*) FROM account WHERE primarycontactid IS NOT NULL"
    )


def test_accounts_are_owned_by_users_that_become_salespeople(world: DemoWorld) -> None:
    owners = {owner for (owner,) in query(world, "crm", "SELECT DISTINCT ownerid FROM account")}
    eligible = {
        user
        for (user,) in query(
            world,
            "crm",
            "SELECT systemuserid FROM systemuser "
            "WHERE isdisabled = 0 AND islicensed = 1 AND isintegrationuser = 0",
        )
    }
    assert owners and owners <= eligible


def test_no_company_exists_on_both_sides(world: DemoWorld) -> None:
    erp = [name for (name,) in query(world, "erp", "SELECT name FROM customer")]
    crm = [name for (name,) in query(world, "crm", "SELECT name FROM account")]
    names = [name.casefold() for name in erp + crm]
    assert len(set(names)) == len(names)
    erp_mail = {mail for (mail,) in query(world, "erp", "SELECT email FROM contact")}
    crm_mail = {mail for (mail,) in query(world, "crm", "SELECT emailaddress1 FROM contact")}
    assert not erp_mail & crm_mail
    assert len(erp_mail) == world.counts["erp.contact"]
    assert len(crm_mail) == world.counts["crm.contact"]


def test_databases_are_in_wal_mode(world: DemoWorld) -> None:
    for system in METADATA:
        assert scalar(world, system, "PRAGMA journal_mode") == "wal"
        assert not Path(f"{database_path(world, system)}-journal").exists()


def test_rebuild_replaces_only_what_a_build_makes(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    build_demo(directory, records=100, seed=1)
    state = directory / ".accord"
    state.mkdir()
    (state / "state.db").write_bytes(b"old state")
    (directory / "notes.txt").write_text("mine")
    (directory / "accord.toml").write_text("# edited")

    world = build_demo(directory, records=200, seed=2)

    assert (directory / "notes.txt").read_text() == "mine"
    assert not state.exists()
    assert (directory / MARKER_NAME).is_file()
    assert world.counts["erp.customer"] + world.counts["crm.account"] == 200
    assert world.config_path.read_text().startswith("# accord.toml")


def test_an_empty_existing_directory_is_used(tmp_path: Path) -> None:
    world = build_demo(tmp_path, records=50)
    assert world.directory == tmp_path.resolve()
    assert (tmp_path / MARKER_NAME).is_file()


def test_a_foreign_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "erp.db").write_text("someone's database")
    (tmp_path / "accord.toml").write_text("# someone's config")
    before = sorted(path.name for path in tmp_path.iterdir())

    with pytest.raises(UsageError) as raised:
        build_demo(tmp_path)

    assert str(raised.value) == (
        f"{tmp_path} is not empty and was not made by 'accord demo'; choose another --dir"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == before
    assert (tmp_path / "erp.db").read_text() == "someone's database"


def test_a_file_is_not_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    target.write_text("a file")
    with pytest.raises(UsageError, match="not a directory"):
        build_demo(target)
    assert target.read_text() == "a file"


def test_builds_a_hundred_thousand_customers(tmp_path: Path) -> None:
    started, cpu = time.perf_counter(), time.process_time()
    world = build_demo(tmp_path / "big", records=100_000)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    rows = sum(world.counts.values())
    print(f"\nbuild_demo(records=100_000): {elapsed:.2f} s ({cpu:.2f} s CPU), {rows} rows")
    assert world.counts["erp.customer"] + world.counts["crm.account"] == 100_000
    assert world.counts["erp.contact"] + world.counts["crm.contact"] == 150_000
    assert scalar(world, "erp", "SELECT max(no) FROM customer") == "C075000"
