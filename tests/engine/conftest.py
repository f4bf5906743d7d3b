"""A small two-system world on the in-memory connector, for engine tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import accord
from accord.testing import MemoryDatabase, database, drop_database
from tests.services import postgresql_schema

CONFIG = """
[state]
url = "{state_url}"

[systems.erp]
connector = "memory"
url = "{erp}"

[systems.crm]
connector = "memory"
url = "{crm}"

[tables."erp.customer"]
new_keys = {{ series = "C", digits = 5 }}

[tables."erp.currency"]
new_keys = {{ series = "X", digits = 3 }}

[[mappings]]
name = "CURRENCY"
table = "erp.currency"
integration_table = "crm.transactioncurrency"
direction = "to-integration"
fields = [
  {{ field = "code", integration_field = "isocurrencycode" }},
  {{ field = "description", integration_field = "currencyname" }},
]

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "{direction}"
table_filter = "{table_filter}"
integration_table_filter = "statecode eq 0"
update_conflict = "{update_conflict}"
deletion_conflict = "{deletion_conflict}"
fields = [
  {{ field = "name", integration_field = "name" }},
  {{ field = "city", integration_field = "address1_city" }},
  {{ field = "credit_limit", integration_field = "creditlimit", direction = "to-integration" }},
  {{ field = "no", integration_field = "accountnumber", direction = "to-integration" }},
  {{ field = "currency_code", integration_field = "transactioncurrencyid", lookup = "CURRENCY" }},
  {{ constant = 0, integration_field = "statecode", direction = "to-integration" }},
]
"""


@dataclass
class World:
    path: Path
    erp: MemoryDatabase
    crm: MemoryDatabase
    urls: tuple[str, str] = ("", "")

    def project(self) -> accord.Project:
        return accord.Project.load(self.path)


def make_world(tmp_path: Path, state_url: str = "sqlite:///state.db", **options: str) -> World:
    tag = uuid.uuid4().hex[:8]
    erp_url, crm_url = f"memory://erp-{tag}", f"memory://crm-{tag}"
    erp, crm = database(erp_url), database(crm_url)
    erp.create_table("currency", ["code", "description"], key="code")
    erp.create_table(
        "customer",
        {
            "no": "text",
            "name": "text",
            "city": "text",
            "credit_limit": "decimal",
            "currency_code": "text",
            "blocked": "text",
        },
        key="no",
        lengths={"name": 50},
    )
    crm.create_table(
        "transactioncurrency",
        ["transactioncurrencyid", "isocurrencycode", "currencyname"],
        key="transactioncurrencyid",
    )
    crm.create_table(
        "account",
        {
            "accountid": "text",
            "name": "text",
            "address1_city": "text",
            "creditlimit": "decimal",
            "accountnumber": "text",
            "transactioncurrencyid": "text",
            "statecode": "integer",
        },
        key="accountid",
        lengths={"name": 40},
    )
    settings = {
        "direction": "bidirectional",
        "table_filter": "",
        "update_conflict": "none",
        "deletion_conflict": "none",
        **options,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "accord.toml"
    path.write_text(CONFIG.format(erp=erp_url, crm=crm_url, state_url=state_url, **settings))
    return World(path, erp, crm, (erp_url, crm_url))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def state_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every engine test runs with the state store on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield "sqlite:///state.db"
    else:
        with postgresql_schema() as url:
            yield url


@pytest.fixture
def world_factory(tmp_path: Path, state_url: str) -> Iterator[object]:
    made: list[World] = []

    def factory(**options: str) -> World:
        w = make_world(tmp_path / f"w{len(made)}", state_url, **options)
        made.append(w)
        return w

    yield factory
    for w in made:
        for url in w.urls:
            drop_database(url)


@pytest.fixture
def world(tmp_path: Path, state_url: str) -> Iterator[World]:
    w = make_world(tmp_path, state_url)
    yield w
    for url in w.urls:
        drop_database(url)
