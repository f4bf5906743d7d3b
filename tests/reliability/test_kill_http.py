"""Crash safety over HTTP: ``accord`` killed with SIGKILL while it creates accounts in the
local Dataverse, whose answers the service sometimes loses after committing, then rerun.

The service runs in the test process, so killing the child run does not kill it. Creates go
out with the GUID the engine chose and recorded as pending before the write, so a create whose
answer was lost (or whose process died right after sending it) is found again by its id on
the next run and coupled, never sent as a second record. No match-based coupling runs first:
it would hide a missing pending coupling by coupling the duplicate's twin.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from random import Random

import pytest

from accord.services.dataverse import FaultConfig, LocalDataverse
from accord.state.tables import as_key
from tests.cli.support import utc_now_text
from tests.reliability.kill_support import Campaign, KillPoint, Via, running_jobs
from tests.reliability.service_faults import record_lost_answers

CUSTOMERS = 240
BATCH = 40
"""Engine batches: six CreateMultiple requests per full run, kill points between them."""
SEED = 10

CONFIG = """\
[state]
url = "sqlite:///state.db"

[systems.erp]
connector = "sql"
url = "sqlite:///erp.db"

[systems.crm]
connector = "dataverse"
url = "{url}"
options = {{ token = "{token}", ca_bundle = "{ca}" }}

[tables."erp.customer"]
key = "no"
modified = "last_modified"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "to-integration"
fields = [
  {{ field = "no", integration_field = "accountnumber" }},
  {{ field = "name", integration_field = "name" }},
]
"""


@pytest.fixture
def dv(tmp_path: Path) -> Iterator[LocalDataverse]:
    with LocalDataverse.start(data_dir=tmp_path / "dataverse") as service:
        yield service


@pytest.fixture
def config(tmp_path: Path, dv: LocalDataverse) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    with closing(sqlite3.connect(folder / "erp.db")) as conn, conn:
        conn.execute(
            "CREATE TABLE customer (no TEXT PRIMARY KEY, name TEXT, last_modified DATETIME)"
        )
        conn.executemany(
            "INSERT INTO customer VALUES (?, ?, ?)",
            [(f"C{i:05d}", f"Customer {i}", utc_now_text()) for i in range(CUSTOMERS)],
        )
    path = folder / "accord.toml"
    path.write_text(CONFIG.format(url=dv.url, token=dv.token, ca=dv.ca_file), encoding="utf-8")
    return path


def couplings(config: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(config.parent / "state.db")) as conn:
        rows = conn.execute(
            "SELECT local_key, integration_key FROM accord_couplings WHERE mapping = 'CUSTOMER'"
        ).fetchall()
    return [(as_key(local), as_key(integration).lower()) for local, integration in rows]


@pytest.fixture
def lost_creates(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The answers of committed CreateMultiple requests the service lost (its ``Ids`` body):
    proof that the campaign met the case it is about."""
    return record_lost_answers(monkeypatch, b'"Ids"')


def test_killed_runs_and_lost_create_answers_make_no_duplicate(
    dv: LocalDataverse, config: Path, lost_creates: list[bytes]
) -> None:
    rng = Random(SEED)
    via = Via(cli=False, batch_size=BATCH, match=False)
    campaign = Campaign("sync", config, rng)
    dv.faults = FaultConfig(drop_after_rate=0.3, seed=SEED)  # answers lost after the commit
    points = [
        KillPoint("pass.pending", 2),
        KillPoint("pass.written", 1),
        KillPoint("pass.written", 3),
        KillPoint("pass.pending", 5),
        KillPoint("pass.written", 6),
        *(KillPoint(delay=rng.uniform(1.0, 3.0)) for _ in range(3)),
    ]
    for point in points:
        campaign.attempt(point, via)
    dv.faults = FaultConfig(drop_after_rate=0.3, seed=SEED + 1)
    campaign.finish(via)  # lost answers still: the run settles them by reading the ids back
    assert len(campaign.kills) >= 5, campaign.failure(campaign.summary())
    assert lost_creates, "no create answer was lost: the faults did not meet a create"

    rows = [
        (row["accountid"], row["accountnumber"])
        for row in dv.store.select("SELECT accountid, accountnumber FROM account", ())
    ]
    numbers = [str(number) for _, number in rows]
    assert sorted(numbers) == sorted(f"C{i:05d}" for i in range(CUSTOMERS)), campaign.failure(
        f"{len(numbers)} accounts for {CUSTOMERS} customers, "
        f"{len(numbers) - len(set(numbers))} repeated"
    )
    accounts = {str(account).lower(): str(number) for account, number in rows}
    coupled = couplings(config)
    assert len(coupled) == CUSTOMERS
    assert {accounts[integration] for _, integration in coupled} == set(numbers)
    assert all(accounts[integration] == local for local, integration in coupled)
    assert not running_jobs(config), campaign.summary()
