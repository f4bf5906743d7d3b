"""Loading accord.toml: valid files load, every invalid one names file, line and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord import ConfigError, Project
from accord.config import dependency_order, load_config
from accord.model import Direction
from accord.secrets import redact
from tests.engine.conftest import make_world

BASE = """\
[systems.erp]
connector = "memory"
url = "memory://cfg-erp"

[systems.crm]
connector = "memory"
url = "memory://cfg-crm"

[[mappings]]
name = "CURRENCY"
table = "erp.currency"
integration_table = "crm.transactioncurrency"
direction = "to-integration"
fields = [
  { field = "code", integration_field = "isocurrencycode" },
]

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
table_filter = "blocked eq ''"
fields = [
  { field = "name", integration_field = "name" },
  { field = "currency_code", integration_field = "transactioncurrencyid", lookup = "CURRENCY" },
  { constant = 3, integration_field = "customertypecode", direction = "to-integration" },
]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accord.toml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value


def line_of(text: str, needle: str, occurrence: int = 0) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return lines[occurrence]


def test_valid_config_loads(tmp_path):
    config = load_config(write(tmp_path, BASE))
    customer = config.mapping("customer")
    assert customer.direction is Direction.BIDIRECTIONAL
    assert customer.sync_only_coupled is True
    constant = customer.fields[2]
    assert constant.has_constant and constant.constant == 3
    assert constant.direction is Direction.TO_INTEGRATION
    assert [m.name for m in dependency_order(config)] == ["CURRENCY", "CUSTOMER"]
    # sqlite paths are relative to the config file
    assert config.state_url == f"sqlite:///{(tmp_path / '.accord/state.db').resolve()}"


def test_malformed_toml_names_the_line(tmp_path):
    text = BASE.replace('direction = "to-integration"', 'direction = "to-integration')
    err = error_of(tmp_path, text)
    assert err.source.endswith("accord.toml") and "not valid TOML" in err.message
    assert err.line == line_of(text, 'direction = "to-integration')


def test_unknown_key_names_its_line(tmp_path):
    text = BASE.replace(
        'table_filter = "blocked', 'sync_only_couple = true\ntable_filter = "blocked'
    )
    err = error_of(tmp_path, text)
    assert "sync_only_couple" in err.message and "unknown key" in err.message
    assert err.line == line_of(text, "sync_only_couple")
    assert str(err).startswith(f"{tmp_path / 'accord.toml'}:{err.line}: ")


def test_bad_direction_value(tmp_path):
    text = BASE.replace('direction = "to-integration"\nfields', 'direction = "sideways"\nfields')
    err = error_of(tmp_path, text)
    assert "sideways" in err.message and err.line == line_of(text, "sideways")


def test_bad_field_row_points_at_the_row(tmp_path):
    text = BASE.replace('lookup = "CURRENCY"', 'lookup = "CURENCY"')
    err = error_of(tmp_path, text)
    assert "CURENCY" in err.message and err.line == line_of(text, "CURENCY")


def test_constant_needs_one_side(tmp_path):
    text = BASE.replace(
        '{ constant = 3, integration_field = "customertypecode", direction = "to-integration" }',
        '{ constant = 3, direction = "to-integration" }',
    )
    err = error_of(tmp_path, text)
    assert "constant" in err.message and err.line == line_of(text, "constant = 3")


def test_bad_filter_names_line_and_position(tmp_path):
    text = BASE.replace("blocked eq ''", "blocked eq")
    err = error_of(tmp_path, text)
    assert "table_filter" in err.message and "position" in err.message
    assert err.line == line_of(text, "table_filter")


def test_dependency_cycle_is_named(tmp_path):
    text = BASE.replace(
        '  { field = "code", integration_field = "isocurrencycode" },',
        '  { field = "code", integration_field = "isocurrencycode" },\n'
        '  { field = "owner", integration_field = "ownerid", lookup = "CUSTOMER" },',
    )
    err = error_of(tmp_path, text)
    assert "cycle" in err.message and "CURRENCY" in err.message and "CUSTOMER" in err.message


def test_soft_lookup_does_not_make_a_cycle(tmp_path):
    text = BASE.replace(
        '  { field = "code", integration_field = "isocurrencycode" },',
        '  { field = "code", integration_field = "isocurrencycode" },\n'
        '  { field = "owner", integration_field = "ownerid", lookup = "CUSTOMER", '
        "clear_on_missing = true },",
    )
    config = load_config(write(tmp_path, text))
    assert [m.name for m in dependency_order(config)] == ["CURRENCY", "CUSTOMER"]


def test_environment_variables_in_urls(tmp_path, monkeypatch):
    text = BASE.replace('"memory://cfg-crm"', '"memory://${CRM_HOST}"')
    monkeypatch.setenv("CRM_HOST", "from-env")
    assert load_config(write(tmp_path, text)).systems["crm"].url == "memory://from-env"
    monkeypatch.delenv("CRM_HOST")
    err = error_of(tmp_path, text)
    assert "CRM_HOST" in err.message and err.line == line_of(text, "CRM_HOST")


DATAVERSE = """\
[systems.crm]
connector = "dataverse"
url = "https://org.crm.dynamics.com"

[systems.crm.options]
tenant = "contoso"
client_id = "app"
client_secret = "${DATAVERSE_SECRET}"
page_size = 5000
"""


def test_environment_variables_in_options_are_secrets(tmp_path, monkeypatch):
    text = BASE.split("[[mappings]]")[0].replace(
        '[systems.crm]\nconnector = "memory"\nurl = "memory://cfg-crm"\n', DATAVERSE
    )
    monkeypatch.setenv("DATAVERSE_SECRET", "s3cr3t-from-env")
    options = load_config(write(tmp_path, text)).systems["crm"].options
    assert options["client_secret"] == "s3cr3t-from-env"
    assert redact("sent s3cr3t-from-env") == "sent ***"
    monkeypatch.delenv("DATAVERSE_SECRET")
    err = error_of(tmp_path, text)
    assert "DATAVERSE_SECRET" in err.message and err.line == line_of(text, "${DATAVERSE_SECRET}")
    monkeypatch.setenv("DATAVERSE_SECRET", "s3cr3t-from-env")
    relative = load_config(write(tmp_path, text + 'ca_bundle = "tls/ca.pem"\n'))
    assert relative.systems["crm"].options["ca_bundle"] == str(tmp_path.resolve() / "tls/ca.pem")
    bad = error_of(tmp_path, text.replace("page_size = 5000", "page_size = 9000"))
    assert "options.page_size: must be a whole number from 1 to 5000" in bad.message
    assert bad.line == line_of(text, "page_size")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_unknown_field_is_found_against_the_real_schema(tmp_path):
    world = make_world(tmp_path)
    text = world.path.read_text().replace(
        'integration_field = "address1_city"', 'integration_field = "address1_cty"'
    )
    world.path.write_text(text)
    with Project.load(world.path) as project, pytest.raises(ConfigError) as info:
        project.check()
    assert "address1_cty" in info.value.message
    assert info.value.line == line_of(text, "address1_cty")


def test_unknown_table_is_reported_with_the_mapping_line(tmp_path):
    world = make_world(tmp_path)
    text = world.path.read_text().replace('"crm.account"', '"crm.acount"')
    world.path.write_text(text)
    with Project.load(world.path) as project, pytest.raises(ConfigError) as info:
        project.check()
    assert "acount" in info.value.message
    assert info.value.line == line_of(text, "crm.acount")


def test_filter_on_unknown_field_is_reported(tmp_path):
    world = make_world(tmp_path, table_filter="blokced eq ''")
    with Project.load(world.path) as project, pytest.raises(ConfigError) as info:
        project.check()
    assert "blokced" in str(info.value)
    assert info.value.line == line_of(world.path.read_text(), "blokced")


def test_nothing_runs_when_any_mapping_is_invalid(tmp_path):
    """A bad field in CUSTOMER stops a sync of CURRENCY alone: no job, no write."""
    world = make_world(tmp_path)
    world.erp.put("currency", "EUR", {"description": "Euro"})
    text = world.path.read_text().replace(
        'integration_field = "address1_city"', 'integration_field = "address1_cty"'
    )
    world.path.write_text(text)
    with Project.load(world.path) as project:
        with pytest.raises(ConfigError, match="address1_cty"):
            project.sync(["CURRENCY"], full=True)
        assert project.jobs() == []
    assert world.crm.rows("transactioncurrency") == {}
