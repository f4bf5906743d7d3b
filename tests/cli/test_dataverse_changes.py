"""``accord sync`` reading Dataverse's changes from a delta token (change tracking).

An ERP in SQLite and a CRM behind the local Dataverse over HTTPS, one bidirectional mapping.
Requests are counted on the service's side (``LocalDataverse.stats``).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from accord.connectors.dataverse.connector import DataverseConnector
from accord.model import Change, ChangeKind, Side
from accord.services.dataverse import LocalDataverse
from accord.state import StateStore
from accord.testing.killpoints import ENV
from tests.cli.support import accord, explain, utc_now_text
from tests.connectors.dataverse_support import connect

CUSTOMERS = 600
PAGE = 100
"""The connector's page size: a read of every account takes CUSTOMERS / PAGE requests."""

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "sql"
url = "sqlite:///erp.db"

[systems.crm]
connector = "dataverse"
url = "{url}"
options = {{ token = "{token}", ca_bundle = "{ca}", page_size = {page}{extra} }}

[tables."erp.customer"]
key = "no"
modified = "last_modified"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "bidirectional"
fields = [
  {{ field = "no", integration_field = "accountnumber" }},
  {{ field = "name", integration_field = "name" }},
  {{ field = "credit_limit", integration_field = "creditlimit" }},
]
"""


@pytest.fixture
def dv(tmp_path: Path) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(data_dir=tmp_path / "dataverse") as service:
        yield service


def make_project(folder: Path, dv: LocalDataverse, extra: str = "") -> Path:
    folder.mkdir()
    with closing(sqlite3.connect(folder / "erp.db")) as conn, conn:
        conn.execute(
            "CREATE TABLE customer (no TEXT PRIMARY KEY, name TEXT, credit_limit NUMERIC, "
            "last_modified DATETIME)"
        )
        conn.executemany(
            "INSERT INTO customer VALUES (?, ?, ?, ?)",
            [(f"C{i:05d}", f"Customer {i}", f"{i}.50", utc_now_text()) for i in range(CUSTOMERS)],
        )
    config = folder / "accord.toml"
    text = CONFIG.format(url=dv.url, token=dv.token, ca=dv.ca_file, page=PAGE, extra=extra)
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture
def project(tmp_path: Path, dv: LocalDataverse) -> Path:
    config = make_project(tmp_path / "project", dv)
    sync(config, "--full")
    return config


@pytest.fixture
def crm(dv: LocalDataverse) -> Iterator[DataverseConnector]:
    connector = connect(dv)
    yield connector
    connector.close()


def sync(config: Path, *args: str, code: int = 0) -> dict[str, object]:
    result = accord("sync", *args, "-c", config, "--json")
    assert result.exit_code == code, explain(result)
    out: dict[str, object] = json.loads(result.stdout)
    return out


def account_ids(crm: DataverseConnector) -> dict[str, str]:
    """Account number → account id."""
    return {
        r.values["accountnumber"]: r.key
        for batch in crm.read("account", fields=["accountnumber"])
        for r in batch
    }


def erp_names(config: Path) -> dict[str, str]:
    with closing(sqlite3.connect(config.parent / "erp.db")) as conn:
        return dict(conn.execute("SELECT no, name FROM customer").fetchall())


def edit_in_crm(crm: DataverseConnector, numbers: list[str], name: str) -> None:
    ids = account_ids(crm)
    changes = [Change(ChangeKind.UPDATE, ids[n], {"name": f"{name} {n}"}) for n in numbers]
    assert all(r.ok for r in crm.write("account", changes))


def token_of(config: Path) -> str | None:
    store = StateStore(f"sqlite:///{config.parent / 'state.db'}")
    try:
        mark = store.watermark_state("CUSTOMER", Side.INTEGRATION)
        return mark.delta_token if mark is not None else None
    finally:
        store.close()


def jobs_messages(config: Path) -> list[str]:
    result = accord("jobs", "-c", config, "--json")
    assert result.exit_code == 0, explain(result)
    return [str(j.get("message", "")) for j in json.loads(result.stdout)]


def test_a_full_sync_takes_a_token_and_an_incremental_one_reads_only_the_changes(
    dv: LocalDataverse, project: Path, crm: DataverseConnector
) -> None:
    first = token_of(project)
    assert first is not None  # the full sync took one, before it read

    edited = [f"C{i:05d}" for i in range(0, CUSTOMERS, CUSTOMERS // 100)]
    assert len(edited) == 100
    edit_in_crm(crm, edited, "Edited")
    before = dv.stats.total
    out = sync(project)
    used = dv.stats.total - before
    names = erp_names(project)
    assert {n for n, name in names.items() if name.startswith("Edited")} == set(edited)
    assert out["totals"]["modified"] == 100  # type: ignore[index]
    # metadata, one page of changes: not the CUSTOMERS / PAGE pages a full read would take
    assert used <= 4, used
    assert token_of(project) not in (None, first)
    assert "changes read with change tracking" in jobs_messages(project)

    # the ERP's echoes of those edits cost one read of the 100 accounts, nothing is written
    before = dv.stats.total
    again = sync(project)
    assert again["totals"]["modified"] == again["totals"]["failed"] == 0  # type: ignore[index]
    assert dv.stats.total - before <= 4


def test_a_deletion_in_dataverse_is_seen_and_marked_on_the_coupling(
    dv: LocalDataverse, project: Path, crm: DataverseConnector
) -> None:
    ids = account_ids(crm)
    gone = ids["C00042"]
    assert crm.write("account", [Change(ChangeKind.DELETE, gone, {})])[0].ok
    edit_in_crm(crm, ["C00007"], "Kept")
    sync(project, code=1)  # a coupling to a deleted record fails, as a pass would fail it
    errors = accord("errors", "-c", project, "--json")
    assert errors.exit_code == 0, explain(errors)
    rows = json.loads(errors.stdout)
    assert [(r["local_key"], r["integration_key"]) for r in rows] == [("C00042", gone)]
    assert "no longer exists" in rows[0]["message"]
    assert erp_names(project)["C00007"] == "Kept C00007"  # the other change went through
    assert erp_names(project)["C00042"] == "Customer 42"  # the ERP record is left alone


def test_an_expired_token_falls_back_to_modified_on_and_takes_a_new_one(
    dv: LocalDataverse, project: Path, crm: DataverseConnector
) -> None:
    old = token_of(project)
    edit_in_crm(crm, ["C00003", "C00004"], "Late")
    dv.expire_delta_tokens()
    sync(project)
    names = erp_names(project)
    assert names["C00003"] == "Late C00003" and names["C00004"] == "Late C00004"
    new = token_of(project)
    assert new is not None and new != old
    assert any("token of table 'account' was refused" in m for m in jobs_messages(project))
    # and the new token serves the next pass
    edit_in_crm(crm, ["C00005"], "Next")
    sync(project)
    assert erp_names(project)["C00005"] == "Next C00005"
    assert "changes read with change tracking" in jobs_messages(project)


def test_a_table_not_tracked_by_configuration_is_polled(dv: LocalDataverse, tmp_path: Path) -> None:
    config = make_project(tmp_path / "polled", dv, extra=", change_tracking = false")
    sync(config, "--full")
    assert token_of(config) is None
    crm = connect(dv)
    edit_in_crm(crm, ["C00001"], "Polled")
    crm.close()
    sync(config)
    assert erp_names(config)["C00001"] == "Polled C00001"
    assert "changes read with change tracking" not in jobs_messages(config)


DRIVER = """
import sys
import accord

with accord.Project.load(sys.argv[1], batch_size=20) as project:
    project.sync()
"""


def test_a_run_killed_in_the_middle_of_the_feed_loses_no_change(
    dv: LocalDataverse, project: Path, crm: DataverseConnector
) -> None:
    edited = [f"C{i:05d}" for i in range(100, 200)]
    edit_in_crm(crm, edited, "Crash")
    old = token_of(project)
    killed = subprocess.run(
        [sys.executable, "-c", DRIVER, str(project)],
        env={**_env(), ENV: "pass.feed:4"},  # three batches of 20 committed, then SIGKILL
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode < 0, killed.stderr.decode()
    done = {n for n, name in erp_names(project).items() if name.startswith("Crash")}
    assert len(done) == 60  # killed after three batches of the changes
    assert token_of(project) == old  # the token moves only at the end of a pass
    sync(project)
    names = erp_names(project)
    assert {n for n, name in names.items() if name.startswith("Crash")} == set(edited)
    assert token_of(project) != old
    again = sync(project)
    assert again["totals"]["modified"] == again["totals"]["failed"] == 0  # type: ignore[index]


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("ACCORD_CONFIG", ENV)}


def test_a_dry_run_reads_the_feed_plans_what_the_run_does_and_moves_no_token(
    dv: LocalDataverse, project: Path, crm: DataverseConnector
) -> None:
    old = token_of(project)
    edit_in_crm(crm, ["C00011"], "Planned")
    planned = accord("sync", "--dry-run", "-c", project, "--json")
    assert planned.exit_code == 0, explain(planned)
    assert "C00011" in planned.stdout  # the change is in the plan
    assert erp_names(project)["C00011"] == "Customer 11"  # nothing written
    assert token_of(project) == old
    done = sync(project)
    assert erp_names(project)["C00011"] == "Planned C00011"
    # the plan read the same feed: the same counters as the run (unchanged ones too)
    assert json.loads(planned.stdout)["result"]["totals"] == done["totals"]


def test_a_since_pass_polls_and_takes_a_new_token(
    dv: LocalDataverse, project: Path, crm: DataverseConnector
) -> None:
    old = token_of(project)
    edit_in_crm(crm, ["C00012"], "Since")
    sync(project, "--since", "2020-01-01")
    assert erp_names(project)["C00012"] == "Since C00012"
    new = token_of(project)
    assert new is not None and new != old
    edit_in_crm(crm, ["C00013"], "After")
    sync(project)
    assert erp_names(project)["C00013"] == "After C00013"
    assert "changes read with change tracking" in jobs_messages(project)
