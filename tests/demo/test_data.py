"""The generated values: they fit their columns, look right, and fit the other side too."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timedelta

import pytest

from accord.demo import STANDARD_MAPPINGS, DemoSizes, DemoWorld
from accord.demo.dice import BASE_TIME, SPAN_DAYS, stream
from accord.demo.parties import NAME_SPACE, PartyFactory
from tests.demo.conftest import METADATA, query, scalar, text_columns

GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


@pytest.mark.parametrize(
    ("system", "table", "column", "length"),
    list(text_columns()),
    ids=lambda value: str(value),
)
def test_every_value_fits_its_column(
    world: DemoWorld, system: str, table: str, column: str, length: int
) -> None:
    longest = scalar(world, system, f'SELECT max(length("{column}")) FROM "{table}"')
    assert longest is None or longest <= length


def _flows(row: dict[str, object], default: str) -> set[str]:
    direction = row.get("direction", default)
    return {"to-integration", "from-integration"} if direction == "bidirectional" else {direction}  # type: ignore[arg-type]


def test_mapped_values_fit_the_other_side(world: DemoWorld) -> None:
    """The sync engine refuses values longer than the destination column."""
    config = tomllib.loads(world.config_path.read_text(encoding="utf-8"))
    checked = 0
    for mapping in config["mappings"]:
        erp_table = METADATA["erp"].tables[mapping["table"].split(".")[1]]
        crm_table = METADATA["crm"].tables[mapping["integration_table"].split(".")[1]]
        for row in mapping["fields"]:
            if "constant" in row or "lookup" in row:
                continue
            erp, crm = erp_table.columns[row["field"]], crm_table.columns[row["integration_field"]]
            for flow in _flows(row, mapping["direction"]):
                source, target = (erp, crm) if flow == "to-integration" else (crm, erp)
                length = getattr(target.type, "length", None)
                if length is None:
                    continue
                system = "erp" if source is erp else "crm"
                table = erp_table if source is erp else crm_table
                longest = scalar(
                    world, system, f'SELECT max(length("{source.name}")) FROM "{table.name}"'
                )
                assert (longest or 0) <= length, (mapping["name"], source.name, target.name)
                checked += 1
    assert checked > 40


def test_erp_blanks_are_empty_strings_and_crm_blanks_are_null(world: DemoWorld) -> None:
    assert scalar(world, "erp", "SELECT count(*) FROM customer WHERE address_2 = ''") > 0
    assert scalar(world, "erp", "SELECT count(*) FROM customer WHERE fax_no IS NULL") == 0
    assert scalar(world, "crm", "SELECT count(*) FROM account WHERE fax IS NULL") > 0
    assert scalar(world, "crm", "SELECT count(*) FROM account WHERE fax = ''") == 0
    assert scalar(world, "crm", "SELECT count(*) FROM contact WHERE middlename = ''") == 0


def test_keys_follow_their_series(world: DemoWorld) -> None:
    for table, (pattern, first) in {
        "customer": (r"C\d{5}", "C00001"),
        "contact": (r"CT\d{5}", "CT00001"),
        "item": (r"I\d{5}", "I00001"),
        "resource": (r"R\d{4}", "R0001"),
    }.items():
        keys = [key for (key,) in query(world, "erp", f"SELECT no FROM {table} ORDER BY rowid")]
        assert all(re.fullmatch(pattern, key) for key in keys), table
        assert keys[0] == first
    for table in METADATA["crm"].tables:
        ids = [key for (key,) in query(world, "crm", f"SELECT {table}id FROM {table}")]
        assert all(GUID.fullmatch(key) for key in ids), table


def test_timestamps_are_fixed_and_spread(world: DemoWorld) -> None:
    end = BASE_TIME + timedelta(days=SPAN_DAYS)
    for system, column in (("erp", "last_modified"), ("crm", "modifiedon")):
        for table in METADATA[system].tables:
            stamps = [value for (value,) in query(world, system, f"SELECT {column} FROM {table}")]
            for stamp in stamps:
                assert BASE_TIME <= datetime.fromisoformat(stamp) < end, (table, stamp)
    first, last = query(
        world, "erp", "SELECT min(last_modified), max(last_modified) FROM customer"
    )[0]
    assert datetime.fromisoformat(last) - datetime.fromisoformat(first) > timedelta(days=250)


def test_values_look_like_business_data(world: DemoWorld) -> None:
    rows = query(world, "erp", "SELECT email, home_page, phone_no, country_code FROM customer")
    for email, home_page, phone, country in rows:
        assert re.fullmatch(r"[a-z]+@[a-z0-9-]+\.[a-z.]+", email)
        assert home_page == "www." + email.split("@")[1]
        assert re.fullmatch(r"\+\d{1,2}( \d{1,4})? \d{3} \d{3}0", phone)
        assert re.fullmatch(r"[A-Z]{2}", country)
    for first, surname, email in query(
        world, "erp", "SELECT first_name, surname, email FROM contact"
    ):
        assert first and surname and "@" in email
    prices = query(world, "erp", "SELECT unit_price, unit_cost FROM item")
    assert all(0 < cost < price for price, cost in prices)


def test_sizes_scale_with_records() -> None:
    sizes = DemoSizes.for_records(1000)
    assert (sizes.erp_customers, sizes.crm_accounts) == (750, 250)
    assert (sizes.erp_contacts, sizes.crm_contacts) == (1125, 375)
    assert (sizes.items, sizes.resources, sizes.crm_products) == (500, 50, 10)
    assert sizes.key_digits() == {"C": 5, "CT": 5, "I": 5, "R": 4, "SP": 4}
    big = DemoSizes.for_records(100_000)
    assert big.key_digits() == {"C": 6, "CT": 6, "I": 6, "R": 5, "SP": 4}
    assert DemoSizes.for_records(20).resources == 5


def test_company_names_past_the_word_space_get_numbers() -> None:
    parties = PartyFactory(stream(1, "test"))
    companies = parties.companies([(17, 0), (17, 1), (18, 0)])
    plain, numbered, other = companies.name
    assert plain.rsplit(" ", 1)[0] != numbered.rsplit(" ", 1)[0] != other.rsplit(" ", 1)[0]
    assert " 2 " in f"{numbered} "
    assert len(set(companies.domain)) == 3
    names = parties.company_names(1000)
    assert len(set(names)) == 1000
    assert all(0 <= index < NAME_SPACE and repeat == 0 for index, repeat in names)


def test_people_have_unique_email_addresses() -> None:
    parties = PartyFactory(stream(1, "test"))
    companies = parties.companies([(5, 0), (6, 0)])
    people = parties.people(companies, [0] * 3000 + [1] * 5)
    assert len(set(people.email)) == len(people)
    assert any(re.search(r"\d@", email) for email in people.email)
    assert all(email.endswith("@" + companies.domain[0]) for email in people.email[:3000])
    assert people.first_per_employer(3, None) == [
        people.full_names()[0],
        people.full_names()[3000],
        None,
    ]


def test_guids_match_the_uuid_module() -> None:
    fast, slow = stream(3, "guid"), stream(3, "guid")
    assert fast.guids(500) == [slow.guid() for _ in range(500)]


def test_mappings_module_matches_the_written_config(world: DemoWorld) -> None:
    config = tomllib.loads(world.config_path.read_text(encoding="utf-8"))
    assert config["mappings"] == [dict(mapping) for mapping in STANDARD_MAPPINGS]
