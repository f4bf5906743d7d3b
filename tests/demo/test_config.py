"""The demo's accord.toml: valid TOML in DESIGN §6 shape, consistent with the schemas."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from accord.demo import CRM_METADATA, ERP_METADATA, DemoSizes, DemoWorld, render_config
from accord.demo.config import _string
from tests.demo.conftest import METADATA

FIELD_KEYS = {
    "field",
    "integration_field",
    "constant",
    "direction",
    "lookup",
    "clear_on_missing",
    "transform",
    "match",
}
DIRECTIONS = {"to-integration", "from-integration", "bidirectional"}
FILTER_FIELD = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s+(?:eq|ne|gt|ge|lt|le)\b")


def load(world: DemoWorld) -> dict[str, Any]:
    return tomllib.loads(world.config_path.read_text(encoding="utf-8"))


def columns(reference: str) -> set[str]:
    system, table = reference.split(".")
    return set(METADATA[system].tables[table].columns.keys())


def test_systems_and_state_are_relative_to_the_file(world: DemoWorld) -> None:
    config = load(world)
    assert config["state"] == {"url": "sqlite:///.accord/state.db"}
    assert config["systems"] == {
        "erp": {"connector": "sql", "url": "sqlite:///erp.db"},
        "crm": {"connector": "sql", "url": "sqlite:///crm.db"},
    }
    assert world.config_path.read_text(encoding="utf-8").startswith("# accord.toml")


def test_every_table_is_described(world: DemoWorld) -> None:
    tables = load(world)["tables"]
    expected = {f"erp.{name}" for name in ERP_METADATA.tables} | {
        f"crm.{name}" for name in CRM_METADATA.tables
    }
    assert set(tables) == expected
    for reference, settings in tables.items():
        system, table = reference.split(".")
        primary_key = [column.name for column in METADATA[system].tables[table].primary_key]
        assert [settings["key"]] == primary_key, reference
        assert settings["modified"] in columns(reference)
        if system == "crm":
            assert settings["new_keys"] == "uuid"
    assert tables["erp.customer"]["new_keys"] == {"series": "C", "digits": 5}
    assert tables["erp.contact"]["new_keys"] == {"series": "CT", "digits": 5}
    assert tables["erp.item"]["new_keys"] == {"series": "I", "digits": 5}
    assert tables["erp.resource"]["new_keys"] == {"series": "R", "digits": 4}
    assert tables["erp.salesperson"]["new_keys"] == {"series": "SP", "digits": 4}
    assert "new_keys" not in tables["erp.currency"]
    assert "new_keys" not in tables["erp.unit_of_measure"]


def test_mappings_come_in_the_standard_order(world: DemoWorld) -> None:
    names = [mapping["name"] for mapping in load(world)["mappings"]]
    assert names == [
        "CURRENCY",
        "SALESPEOPLE",
        "UNITOFMEASURE",
        "CUSTOMER",
        "CONTACT",
        "ITEM-PRODUCT",
        "RESOURCE-PRODUCT",
    ]


def test_mappings_name_existing_tables_and_fields(world: DemoWorld) -> None:
    mappings = load(world)["mappings"]
    names = {mapping["name"] for mapping in mappings}
    for mapping in mappings:
        name = mapping["name"]
        assert mapping["table"].startswith("erp."), name
        assert mapping["integration_table"].startswith("crm."), name
        local, integration = columns(mapping["table"]), columns(mapping["integration_table"])
        assert mapping["direction"] in DIRECTIONS
        for row in mapping["fields"]:
            assert set(row) <= FIELD_KEYS, (name, row)
            assert row.get("direction", mapping["direction"]) in DIRECTIONS
            if "field" in row:
                assert row["field"] in local, (name, row)
            if "integration_field" in row:
                assert row["integration_field"] in integration, (name, row)
            if "lookup" in row:
                assert row["lookup"] in names, (name, row)
            if "match" in row:
                assert isinstance(row["match"]["priority"], int)


def test_constants_write_one_side_in_its_direction(world: DemoWorld) -> None:
    constants = 0
    for mapping in load(world)["mappings"]:
        for row in mapping["fields"]:
            if "constant" not in row:
                assert "field" in row and "integration_field" in row
                continue
            constants += 1
            assert ("field" in row) != ("integration_field" in row), row
            expected = "to-integration" if "integration_field" in row else "from-integration"
            assert row["direction"] == expected, row
    assert constants == 11


def test_filters_name_existing_fields(world: DemoWorld) -> None:
    filters = 0
    for mapping in load(world)["mappings"]:
        for key, table in (
            ("table_filter", mapping["table"]),
            ("integration_table_filter", mapping["integration_table"]),
        ):
            if key in mapping:
                named = FILTER_FIELD.findall(mapping[key])
                assert named, mapping[key]
                assert set(named) <= columns(table), (mapping["name"], key)
                filters += 1
    assert filters == 9


def test_lookups_do_not_form_a_cycle(world: DemoWorld) -> None:
    depends = {
        mapping["name"]: {row["lookup"] for row in mapping["fields"] if "lookup" in row}
        for mapping in load(world)["mappings"]
    }
    assert depends["CONTACT"] == {"CURRENCY", "CUSTOMER"}
    assert depends["CUSTOMER"] == {"CURRENCY", "SALESPEOPLE"}
    done: set[str] = set()
    while len(done) < len(depends):
        ready = {name for name, needs in depends.items() if name not in done and needs <= done}
        assert ready, f"cycle among {set(depends) - done}"
        done |= ready


def test_key_widths_follow_the_size() -> None:
    config = tomllib.loads(render_config(DemoSizes.for_records(100_000).key_digits()))
    assert config["tables"]["erp.customer"]["new_keys"] == {"series": "C", "digits": 6}


@given(st.text())
def test_strings_are_written_as_valid_toml(text: str) -> None:
    assert tomllib.loads(f"value = {_string(text)}")["value"] == text
