"""Crash safety over HTTP: ``accord`` killed with SIGKILL while it creates customers in the
local Business Central, whose answers the service sometimes loses after committing, then rerun.

The CRM's accounts (SQLite) become BC customers (``from-integration``): the engine chooses
each customer's number from the ``C`` series and records it as pending before the ``$batch``
that creates it, so a create whose answer was lost (or whose process died right after
sending it) is found again by its number on the next run and coupled, never created a second
time under another number. The service runs in the test process, so killing the child run
does not kill it. No match-based coupling runs first: it would hide a missing pending
coupling by coupling the duplicate's twin.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from random import Random

import pytest

from accord.services.businesscentral import LocalBusinessCentral
from accord.services.common.faults import FaultConfig
from accord.state.tables import as_key
from tests.cli.support import utc_now_text
from tests.reliability.kill_support import Campaign, KillPoint, Via, running_jobs
from tests.reliability.service_faults import record_lost_answers

ACCOUNTS = 240
BATCH = 40
"""Engine batches: six ``$batch`` requests of creates per full run, kill points between them."""
SEED = 12
COMPANY = "CRONUS USA, Inc."

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "businesscentral"
url = "{url}"
options = {{ token = "{token}", ca_bundle = "{ca}", company = "{company}" }}

[systems.crm]
connector = "sql"
url = "sqlite:///crm.db"

[tables."erp.customers"]
new_keys = {{ series = "C", digits = 5 }}

[tables."crm.account"]
key = "id"
modified = "modifiedon"

[[mappings]]
name = "CUSTOMER"
table = "erp.customers"
integration_table = "crm.account"
direction = "from-integration"
fields = [
  {{ field = "displayName", integration_field = "name" }},
  {{ field = "creditLimit", integration_field = "creditlimit" }},
]
"""


@pytest.fixture
def bc(tmp_path: Path) -> Iterator[LocalBusinessCentral]:
    with LocalBusinessCentral.start(data_dir=tmp_path / "bc") as service:
        yield service


@pytest.fixture
def config(tmp_path: Path, bc: LocalBusinessCentral) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    with closing(sqlite3.connect(folder / "crm.db")) as conn, conn:
        conn.execute(
            "CREATE TABLE account (id TEXT PRIMARY KEY, name TEXT, creditlimit NUMERIC, "
            "modifiedon DATETIME)"
        )
        conn.executemany(
            "INSERT INTO account VALUES (?, ?, ?, ?)",
            [(str(uuid.uuid4()), f"Account {i}", i, utc_now_text()) for i in range(ACCOUNTS)],
        )
    path = folder / "accord.toml"
    path.write_text(
        CONFIG.format(url=bc.url, token=bc.token, ca=bc.ca_file, company=COMPANY),
        encoding="utf-8",
    )
    return path


def couplings(config: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(config.parent / "state.db")) as conn:
        rows = conn.execute(
            "SELECT local_key, integration_key FROM accord_couplings WHERE mapping = 'CUSTOMER'"
        ).fetchall()
    return [(as_key(local), as_key(integration)) for local, integration in rows]


def accounts(config: Path) -> dict[str, str]:
    """Account id -> name."""
    with closing(sqlite3.connect(config.parent / "crm.db")) as conn:
        return {str(key): str(name) for key, name in conn.execute("SELECT id, name FROM account")}


def test_killed_runs_and_lost_batch_answers_make_no_duplicate_customer(
    bc: LocalBusinessCentral, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost_creates = record_lost_answers(monkeypatch, b'"status":201')
    rng = Random(SEED)
    via = Via(cli=False, batch_size=BATCH, match=False)
    campaign = Campaign("sync", config, rng)
    bc.faults = FaultConfig(drop_after_rate=0.3, seed=SEED)  # answers lost after the commit
    # The clock kills come while work is left: after the late phase points, the runs may
    # have nothing left to do (under load the earlier kills land later and leave less).
    points = [
        KillPoint("pass.pending", 2),
        KillPoint("pass.written", 1),
        *(KillPoint(delay=rng.uniform(1.0, 3.0)) for _ in range(3)),
        KillPoint("pass.written", 3),
        KillPoint("pass.pending", 5),
        KillPoint("pass.written", 6),
    ]
    for point in points:
        campaign.attempt(point, via)
    bc.faults = FaultConfig(drop_after_rate=0.3, seed=SEED + 1)
    campaign.finish(via)  # lost answers still: the run settles them by reading numbers back
    bc.faults = None
    assert len(campaign.kills) >= 4, campaign.failure(campaign.summary())
    assert lost_creates, "no $batch of creates lost its answer: the faults did not meet one"

    customers = bc.rows(COMPANY, "customers")
    names = Counter(str(c["displayName"]) for c in customers)
    repeated = [name for name, n in names.items() if n > 1]
    assert not repeated and len(customers) == ACCOUNTS, campaign.failure(
        f"{len(customers)} customers for {ACCOUNTS} accounts, repeated: {repeated[:5]}"
    )
    numbers = [str(c["number"]) for c in customers]
    assert len(set(numbers)) == len(numbers)
    by_number = {str(c["number"]): str(c["displayName"]) for c in customers}
    crm = accounts(config)
    coupled = couplings(config)
    assert len(coupled) == ACCOUNTS
    assert len({n for n, _ in coupled}) == len({a for _, a in coupled}) == ACCOUNTS
    assert {n for n, _ in coupled} == set(by_number)
    assert all(by_number[number] == crm[account] for number, account in coupled)
    assert not running_jobs(config), campaign.summary()
