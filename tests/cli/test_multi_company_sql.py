"""Multi-company with plain SQL: two ERP databases, one per company, and one CRM table whose
``company`` column says whose a row is. The same engine rules as with Business Central and
Dataverse: the stamp is a plain column value, the filter a plain WHERE."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from accord import Project
from accord.errors import ConfigError
from tests.cli.support import utc_now_text

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.north]
url = "sqlite:///north.db"
company_id = "NORTH"

[systems.south]
url = "sqlite:///south.db"
company_id = "SOUTH"

[systems.crm]
url = "sqlite:///crm.db"

[tables."north.customer"]
key = "no"
modified = "modified"
new_keys = { series = "N", digits = 4 }

[tables."south.customer"]
key = "no"
modified = "modified"
new_keys = { series = "S", digits = 4 }

[tables."crm.account"]
key = "id"
modified = "modifiedon"
company_field = "company"
"""

MAPPING = """
[[mappings]]
name = "CUSTOMER_{name}"
table = "{name}.customer"
integration_table = "crm.account"
direction = "bidirectional"
sync_only_coupled = false
integration_table_filter = "active eq 1"
fields = [
  {{ field = "no", integration_field = "number", direction = "to-integration" }},
  {{ field = "name", integration_field = "name", match = {{ priority = 0 }} }},
]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    now = utc_now_text()
    for system, names in (("north", ["Alpha", "Both"]), ("south", ["Beta", "Both"])):
        with closing(sqlite3.connect(tmp_path / f"{system}.db")) as conn, conn:
            conn.execute("CREATE TABLE customer (no TEXT PRIMARY KEY, name TEXT, modified TEXT)")
            conn.executemany(
                "INSERT INTO customer VALUES (?, ?, ?)",
                [(f"{system[0].upper()}{i:04d}", n, now) for i, n in enumerate(names, 1)],
            )
    with closing(sqlite3.connect(tmp_path / "crm.db")) as conn, conn:
        conn.execute(
            "CREATE TABLE account (id TEXT PRIMARY KEY, number TEXT, name TEXT, "
            "company TEXT, active INTEGER DEFAULT 1, modifiedon TEXT)"
        )
        conn.executemany(
            "INSERT INTO account (id, name, company, modifiedon) VALUES (?, ?, ?, ?)",
            [
                (str(uuid.uuid4()), "Both", "SOUTH", now),  # South's own, to be matched
                (str(uuid.uuid4()), "Gamma", "SOUTH", now),  # only in the CRM, South's
                (str(uuid.uuid4()), "Orphan", None, now),  # nobody's
            ],
        )
    path = tmp_path / "accord.toml"
    path.write_text(
        CONFIG + MAPPING.format(name="north") + MAPPING.format(name="south"), encoding="utf-8"
    )
    return path


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn:
        return sorted(conn.execute(sql).fetchall(), key=repr)


def test_sql_companies_stamp_and_filter(config: Path) -> None:
    crm = config.parent / "crm.db"
    with Project.load(config) as project:
        run = project.sync(["CUSTOMER_north"], full=True)
        assert run.totals().failed == 0, run
        # North's customers are stamped NORTH; its 'Both' did not match South's 'Both'.
        assert rows(crm, "SELECT name, number, company FROM account ORDER BY name") == sorted(
            [
                ("Alpha", "N0001", "NORTH"),
                ("Both", "N0002", "NORTH"),
                ("Both", None, "SOUTH"),
                ("Gamma", None, "SOUTH"),
                ("Orphan", None, None),
            ],
            key=repr,
        )
        assert rows(config.parent / "north.db", "SELECT no, name FROM customer") == [
            ("N0001", "Alpha"),
            ("N0002", "Both"),
        ]
        run = project.sync(["CUSTOMER_south"], full=True)
        assert run.totals().failed == 0, run
    assert rows(crm, "SELECT name, number, company FROM account") == sorted(
        [
            ("Alpha", "N0001", "NORTH"),
            ("Both", "N0002", "NORTH"),
            ("Both", "S0002", "SOUTH"),  # matched, not created again
            ("Beta", "S0001", "SOUTH"),
            ("Gamma", "S0003", "SOUTH"),
            ("Orphan", None, None),
        ],
        key=repr,
    )
    assert rows(config.parent / "south.db", "SELECT no, name FROM customer") == [
        ("S0001", "Beta"),
        ("S0002", "Both"),
        ("S0003", "Gamma"),
    ]


def test_unstamped_rows_are_read_when_the_table_says_so(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace(
        'company_field = "company"', 'company_field = "company"\ncompany_includes_empty = true'
    )
    config.write_text(text, encoding="utf-8")
    with Project.load(config) as project:
        run = project.sync(["CUSTOMER_north"], full=True)
    assert run.totals().failed == 0, run
    # the unstamped account became a North customer, and North stamped it when it wrote
    # the number it chose back
    assert ("N0003", "Orphan") in rows(config.parent / "north.db", "SELECT no, name FROM customer")
    assert ("Orphan", "N0003", "NORTH") in rows(
        config.parent / "crm.db", "SELECT name, number, company FROM account"
    )


def test_a_company_table_mapped_from_a_system_without_a_company_is_refused(
    config: Path,
) -> None:
    text = config.read_text(encoding="utf-8").replace('company_id = "NORTH"\n', "")
    config.write_text(text, encoding="utf-8")
    with Project.load(config) as project, pytest.raises(ConfigError) as caught:
        project.check()
    assert "system 'north' names no company" in str(caught.value)
    assert caught.value.line == text.split("\n").index('name = "CUSTOMER_north"')


def test_an_empty_company_id_is_an_error_at_its_line(config: Path) -> None:
    text = config.read_text(encoding="utf-8").replace('company_id = "NORTH"', 'company_id = ""')
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Project.load(config)
    assert "company_id" in str(caught.value)
    assert caught.value.line == text.split("\n").index('company_id = ""') + 1


def test_a_company_id_may_come_from_the_environment(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = config.read_text(encoding="utf-8").replace('"NORTH"', '"${NORTH_ID}"')
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("NORTH_ID", "NORTH")
    with Project.load(config) as project:
        assert project.config.systems["north"].company_id == "NORTH"
        assert project.company_id("north") == "NORTH"
        assert project.company_id("crm") is None
