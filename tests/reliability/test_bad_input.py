"""Real SQLite systems with the data real tables hold: text and epoch versions, bad values.

* Modified-on columns stored as text (ISO with a ``T``, ``datetime('now')``, offsets) or as
  Unix time: a full sync, then incremental syncs over many small pages, see every edit
  exactly once, end (no page read forever), and stamp the column in its own form.
* One bad value (``'abc'`` in a NUMERIC column, ``'not a date'`` or ``''`` as modified-on)
  fails its record alone, with the column and the value in the job error; the job ends
  ``failed`` (not ``running``), the other records and the later mappings are synchronized.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from accord import Project
from accord.model import Direction, JobStatus
from accord.state.tables import as_key

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.erp]
url = "sqlite:///erp.db"

[systems.crm]
url = "sqlite:///crm.db"

[tables."erp.customer"]
modified = "changed"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
sync_only_coupled = {only_coupled}
fields = [
  {{ field = "name", integration_field = "name" }},
  {{ field = "balance", integration_field = "balance" }},
]

[[mappings]]
name = "ITEM"
table = "erp.item"
integration_table = "crm.product"
direction = "to-integration"
fields = [
  {{ field = "description", integration_field = "name" }},
]
"""

PAST = datetime(2024, 5, 2, 8, 0, 0)


def _offset(v: datetime) -> str:
    return v.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2))).isoformat()


FORMS: dict[str, tuple[str, Callable[[datetime], Any], str]] = {
    "iso-T": ("TEXT", lambda v: v.strftime("%Y-%m-%dT%H:%M:%S.%f"), r"^[\d-]{10}T[\d:]{8}\.\d{6}$"),
    "datetime-now": ("TEXT", lambda v: v.strftime("%Y-%m-%d %H:%M:%S"), r"^[\d-]{10} [\d:]{8}$"),
    "offset": ("TEXT", _offset, r"^[\d-]{10}T[\d:]{8}(\.\d{6})?\+02:00$"),
    "epoch-seconds": ("INTEGER", lambda v: int(v.replace(tzinfo=UTC).timestamp()), r"^\d{10}$"),
}


def sql(path: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement, params).fetchall()


def make_project(directory: Path, modified_type: str, *, only_coupled: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    sql(
        directory / "erp.db",
        "CREATE TABLE customer (no TEXT PRIMARY KEY, name TEXT, balance NUMERIC(10, 2), "
        f"changed {modified_type})",
    )
    sql(
        directory / "crm.db",
        "CREATE TABLE account (accountid TEXT PRIMARY KEY, name TEXT, balance NUMERIC(10, 2), "
        "modifiedon TIMESTAMP)",
    )
    sql(
        directory / "erp.db",
        "CREATE TABLE item (no TEXT PRIMARY KEY, description TEXT, last_modified TIMESTAMP)",
    )
    sql(
        directory / "crm.db",
        "CREATE TABLE product (productid TEXT PRIMARY KEY, name TEXT, modifiedon TIMESTAMP)",
    )
    for n in range(3):
        sql(
            directory / "erp.db",
            "INSERT INTO item VALUES (?, ?, '2024-01-01 00:00:00')",
            f"I{n}",
            f"item {n}",
        )
    path = directory / "accord.toml"
    path.write_text(CONFIG.format(only_coupled=str(only_coupled).lower()), encoding="utf-8")
    return path


def crm_names(directory: Path) -> dict[str, str]:
    """CRM account names by the ERP number they are coupled to (through the state store)."""
    pairs = {
        as_key(a): b
        for a, b in sql(
            directory / "state.db",
            "SELECT integration_key, local_key FROM accord_couplings WHERE mapping = 'CUSTOMER'",
        )
    }
    return {
        pairs[a]: name
        for a, name in sql(directory / "crm.db", "SELECT accountid, name FROM account")
        if a in pairs
    }


@pytest.mark.parametrize("form", sorted(FORMS))
def test_text_and_epoch_versions_sync_every_edit_once(tmp_path: Path, form: str) -> None:
    sql_type, store, stamp_pattern = FORMS[form]
    path = make_project(tmp_path, sql_type)
    erp = tmp_path / "erp.db"
    for n in range(10):
        sql(
            erp,
            "INSERT INTO customer VALUES (?, ?, ?, ?)",
            f"C{n:02d}",
            f"name {n}",
            n,
            store(PAST + timedelta(seconds=n)),
        )
    with Project.load(path, batch_size=3) as project:
        run = project.sync(full=True)
        assert run.ok, [(j.status, j.message) for j in run.jobs]
        assert crm_names(tmp_path) == {f"C{n:02d}": f"name {n}" for n in range(10)}

        def edit(numbers: list[int], label: str, later: int) -> None:
            # each round later than the one before, even for a column of whole seconds
            now = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=10 * later)
            for n in numbers:
                sql(
                    erp,
                    "UPDATE customer SET name = ?, changed = ? WHERE no = ?",
                    f"{label} {n}",
                    store(now),
                    f"C{n:02d}",
                )

        rounds = (("first", [1, 4, 5, 8]), ("second", [4]), ("third", [0, 9]))
        for later, (label, numbers) in enumerate(rounds, start=1):
            edit(numbers, label, later)
            run = project.sync(["CUSTOMER"])  # small pages, from the watermark on
            assert run.ok, [(j.status, j.message) for j in run.jobs]
            to_crm = next(j for j in run.jobs if j.direction is Direction.TO_INTEGRATION)
            assert to_crm.counters.modified == len(numbers), (label, to_crm.counters)
            names = crm_names(tmp_path)
            assert all(names[f"C{n:02d}"] == f"{label} {n}" for n in numbers), names
        # a CRM edit comes back into the ERP, stamped in the ERP column's own form
        sql(
            tmp_path / "crm.db",
            "UPDATE account SET name = 'from crm', modifiedon = ? WHERE name = 'name 2'",
            str(datetime.now(UTC).replace(tzinfo=None)),
        )
        run = project.sync(["CUSTOMER"])
        assert run.ok
        ((name, stamped),) = sql(erp, "SELECT name, changed FROM customer WHERE no = 'C02'")
        assert name == "from crm"
        assert re.match(stamp_pattern, str(stamped)), stamped
        # and Accord's own write is not read again as an edit
        run = project.sync(["CUSTOMER"])
        assert sum(j.counters.modified for j in run.jobs) == 0


def job_errors(directory: Path) -> dict[str, str]:
    return dict(sql(directory / "state.db", "SELECT source_key, message FROM accord_job_errors"))


@pytest.mark.parametrize("modified_type", ["TEXT", "TIMESTAMP"])
def test_a_bad_value_fails_its_record_alone(tmp_path: Path, modified_type: str) -> None:
    path = make_project(tmp_path, modified_type, only_coupled=False)
    erp = tmp_path / "erp.db"
    good = "2024-05-02 08:00:00"
    rows = [
        ("C01", "good one", 1, good),
        ("C02", "bad balance", "abc", good),
        ("C03", "bad version", 3, "not a date"),
        ("C04", "empty version", 4, ""),
        ("C05", "good two", 5, good),
    ]
    for row in rows:
        sql(erp, "INSERT INTO customer VALUES (?, ?, ?, ?)", *row)
    # read by the second pass of the full run, which probes keys and versions first
    sql(tmp_path / "crm.db", "INSERT INTO account VALUES ('A9', 'crm bad', 'abc', ?)", good)
    with Project.load(path, batch_size=2) as project:
        run = project.sync(full=True)
        jobs = {(j.mapping, j.direction): j for j in run.jobs}
        customer = jobs["CUSTOMER", Direction.TO_INTEGRATION]
        assert customer.status is JobStatus.FAILED, customer.message
        assert customer.counters.failed == 3 and customer.counters.inserted == 2
        assert jobs["ITEM", Direction.TO_INTEGRATION].counters.inserted == 3  # later mapping ran
        assert sorted(crm_names(tmp_path)) == ["C01", "C05"]
        errors = job_errors(tmp_path)
        assert "balance" in errors["C02"] and "'abc'" in errors["C02"]
        assert "changed" in errors["C03"] and "'not a date'" in errors["C03"]
        assert "changed" in errors["C04"] and "''" in errors["C04"]
        assert "cannot read the source record: column 'balance'" in errors["A9"], errors
        from_crm = jobs["CUSTOMER", Direction.FROM_INTEGRATION]
        assert from_crm.status is JobStatus.FAILED and from_crm.counters.failed == 1
        statuses = sql(tmp_path / "state.db", "SELECT status FROM accord_jobs")
        assert ("running",) not in statuses
        # incremental: a coupled record turns bad, another is edited; the edit goes through
        sql(
            erp,
            "UPDATE customer SET balance = 'x1', changed = '2030-01-01 00:00:00' WHERE no = 'C01'",
        )
        sql(
            erp,
            "UPDATE customer SET name = 'edited', changed = '2030-01-01 00:00:01' WHERE no = 'C05'",
        )
        run = project.sync()
        customer = next(
            j
            for j in run.jobs
            if j.mapping == "CUSTOMER" and j.direction is Direction.TO_INTEGRATION
        )
        assert customer.status is JobStatus.FAILED
        assert crm_names(tmp_path)["C05"] == "edited"
        latest = dict(
            sql(
                tmp_path / "state.db",
                "SELECT source_key, message FROM accord_job_errors WHERE job_id = ?",
                customer.id,
            )
        )
        assert "C01" in latest and "balance" in latest["C01"] and "'x1'" in latest["C01"]
        # a version that cannot be read is read again and fails again: never silently dropped
        assert "'not a date'" in latest["C03"], latest
        assert "C04" not in latest  # '' sorts before every time: like NULL, for full syncs
        assert any(j.mapping == "ITEM" for j in run.jobs)
