"""Requests for 100 Dataverse edits among N coupled accounts: change tracking vs polling.

    PYTHONPATH=src python bench/changes.py [N]

An ERP in SQLite and the local Dataverse over HTTPS, one bidirectional CUSTOMER mapping.
After a full sync, 100 accounts are edited in Dataverse (and one deleted); then one
incremental sync, whose Web API requests are counted on the service's side. Run once with
change tracking, once with ``change_tracking = false`` (polling ``modifiedon``).
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import accord
from accord.connectors.dataverse.connector import DataverseConnector
from accord.model import Change, ChangeKind
from accord.services.dataverse import LocalDataverse

CONFIG = """\
[state]
url = "sqlite:///state.db"
[systems.erp]
connector = "sql"
url = "sqlite:///erp.db"
[systems.crm]
connector = "dataverse"
url = "{url}"
options = {{ token = "{token}", ca_bundle = "{ca}", change_tracking = {tracking} }}
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
]
"""


def run(count: int, tracking: bool) -> None:
    folder = Path(tempfile.mkdtemp(prefix="accord-changes-"))
    with LocalDataverse.start(data_dir=folder / "dataverse") as dv:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        with closing(sqlite3.connect(folder / "erp.db")) as conn, conn:
            conn.execute(
                "CREATE TABLE customer (no TEXT PRIMARY KEY, name TEXT, last_modified DATETIME)"
            )
            conn.executemany(
                "INSERT INTO customer VALUES (?, ?, ?)",
                [(f"C{i:06d}", f"Customer {i}", now) for i in range(count)],
            )
        config = folder / "accord.toml"
        config.write_text(
            CONFIG.format(
                url=dv.url, token=dv.token, ca=dv.ca_file, tracking=str(tracking).lower()
            ),
            encoding="utf-8",
        )
        with accord.Project.load(config) as project:
            assert project.sync(full=True).ok
        time.sleep(2.5)  # past the overlap window of the full sync's own writes
        crm = DataverseConnector(
            "bench",
            url=dv.url,
            tables={},
            options={"token": dv.token, "ca_bundle": str(dv.ca_file)},
        )
        ids = [r.key for b in crm.read("account", fields=[]) for r in b]
        step = max(1, count // 100)
        edits = [Change(ChangeKind.UPDATE, k, {"name": "edited"}) for k in ids[::step][:100]]
        assert all(r.ok for r in crm.write("account", edits))
        assert crm.write("account", [Change(ChangeKind.DELETE, ids[1], {})])[0].ok
        crm.close()
        before, started = dv.stats.total, time.perf_counter()
        with accord.Project.load(config) as project:
            result = project.sync()
        took = time.perf_counter() - started
        mode = "change tracking" if tracking else "polling modifiedon"
        failed = sum(j.counters.failed for j in result.jobs)
        modified = sum(j.counters.modified for j in result.jobs)
        print(
            f"N={count:,} {mode}: {dv.stats.total - before} Web API requests, {took:.2f} s, "
            f"modified {modified}, deletions marked {failed}"
        )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    run(n, True)
    run(n, False)
