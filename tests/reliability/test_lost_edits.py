"""No lost edits, on real SQL systems (SQLite, PostgreSQL, MariaDB). Issue 9 classes 1 and 3.

* Class 1: a CRM user saves a record while a pass is writing it, between Accord's read and its
  write. The write is conditional on the record as read, so it finds the record changed,
  reads it again and lets the mapping's ``update_conflict`` policy decide, as if the edit had
  been there before the read: ``none`` and ``merge`` (same field) fail the coupling and keep
  both edits, ``merge`` (other fields) keeps both, ``send`` / ``get`` let their side win —
  by policy, never silently by timing.
* Class 3: an edit stamped with the very version Accord stored (a clock of whole seconds, or
  one that did not tick) or with an older one (a clock behind) is still an edit: couplings
  keep a checksum of each side's mapped values, and other values mean changed.

The edit "during the write" is made by a second connection from inside the connector's
``write``, just before it sends its statements: the moment a concurrent user's save lands.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

import accord
from accord.connectors.sql.connector import SqlConnector
from accord.model import ChangeKind, Direction
from accord.state.store import utcnow
from tests.services import mariadb_url, postgresql_schema

CONFIG = """
[state]
url = "sqlite:///{state}"

[systems.erp]
url = "{url}"

[systems.crm]
url = "{url}"

[tables."erp.customer"]
key = "no"
modified = "last_modified"
overlap_seconds = 60

[tables."crm.account"]
key = "accountid"
modified = "modifiedon"
overlap_seconds = 60
new_keys = "uuid"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "bidirectional"
update_conflict = "{policy}"
fields = [
  {{ field = "name", integration_field = "name" }},
  {{ field = "city", integration_field = "city" }},
  {{ field = "no", integration_field = "accountnumber", direction = "to-integration" }},
]
"""


def tables(fractional_digits: int) -> tuple[sa.Table, sa.Table]:
    """The two tables; on MariaDB, DATETIME keeps ``fractional_digits`` (0: whole seconds)."""
    stamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=fractional_digits), "mysql")
    meta = sa.MetaData()
    customer = sa.Table(
        "customer",
        meta,
        sa.Column("no", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("city", sa.String(50)),
        sa.Column("last_modified", stamp),
    )
    account = sa.Table(
        "account",
        meta,
        sa.Column("accountid", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("city", sa.String(50)),
        sa.Column("accountnumber", sa.String(20)),
        sa.Column("modifiedon", stamp),
    )
    return customer, account


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One database holding both systems' tables (their names differ)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'systems.db'}"
    elif request.param == "postgresql":
        with postgresql_schema() as url:
            yield url
    else:
        base = sa.make_url(mariadb_url())
        name = f"t_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(base, poolclass=sa.pool.NullPool)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP DATABASE {name}")
            admin.dispose()


@dataclass
class Systems:
    path: Path
    engine: sa.Engine
    customer: sa.Table
    account: sa.Table

    def project(self) -> accord.Project:
        return accord.Project.load(self.path)

    def erp(self, no: str) -> tuple[str, str]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(self.customer.c.name, self.customer.c.city).where(
                    self.customer.c.no == no
                )
            ).one()
        return row[0], row[1]

    def crm(self, number: str) -> tuple[str, str]:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(self.account.c.name, self.account.c.city).where(
                    self.account.c.accountnumber == number
                )
            ).one()
        return row[0], row[1]

    def crm_version(self, number: str) -> datetime:
        with self.engine.connect() as conn:
            return conn.execute(  # type: ignore[no-any-return]
                sa.select(self.account.c.modifiedon).where(self.account.c.accountnumber == number)
            ).scalar_one()

    def edit_erp(self, no: str, stamp: datetime | None = None, **values: str) -> None:
        """An ERP user's save; ``stamp`` is what their clock wrote (default: now)."""
        with self.engine.begin() as conn:
            conn.execute(
                self.customer.update()
                .where(self.customer.c.no == no)
                .values(**values, last_modified=stamp or utcnow())
            )

    def edit_crm(self, number: str, stamp: datetime | None = None, **values: str) -> None:
        """A CRM user's save; ``stamp`` is what the CRM's clock wrote (default: now)."""
        with self.engine.begin() as conn:
            conn.execute(
                self.account.update()
                .where(self.account.c.accountnumber == number)
                .values(**values, modifiedon=stamp or utcnow())
            )


def make_systems(tmp_path: Path, url: str, policy: str, fractional_digits: int) -> Systems:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    customer, account = tables(fractional_digits)
    customer.metadata.create_all(engine)
    past = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    with engine.begin() as conn:
        conn.execute(
            customer.insert(),
            [
                {"no": f"C{i}", "name": f"Customer {i}", "city": "Berlin", "last_modified": past}
                for i in range(1, 4)
            ],
        )
    path = tmp_path / "accord.toml"
    path.write_text(CONFIG.format(state=(tmp_path / "state.db").as_posix(), url=url, policy=policy))
    systems = Systems(path, engine, customer, account)
    with systems.project() as project:
        run = project.sync(full=True)
        assert run.ok, [(j.status, j.message) for j in run.jobs]
    return systems


@pytest.fixture
def make(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Systems]]:
    made: list[Systems] = []

    def factory(policy: str = "none", fractional_digits: int = 6) -> Systems:
        made.append(make_systems(tmp_path, database_url, policy, fractional_digits))
        return made[-1]

    yield factory
    for systems in made:
        systems.engine.dispose()


def during_crm_update(monkeypatch: pytest.MonkeyPatch, save: Callable[[], None]) -> list[int]:
    """Make ``save`` happen inside the first CRM write that updates: after Accord read the
    record, before its statement reaches the database. Returns a list that counts the saves."""
    original = SqlConnector.write
    saves: list[int] = []

    def write(self: SqlConnector, table: str, changes: Any) -> Any:
        if self.name == "crm" and not saves and any(c.kind is ChangeKind.UPDATE for c in changes):
            saves.append(1)
            save()
        return original(self, table, changes)

    monkeypatch.setattr(SqlConnector, "write", write)
    return saves


def to_crm(run: accord.RunResult) -> accord.Job:
    return next(j for j in run.jobs if j.direction is Direction.TO_INTEGRATION)


# (policy, field the CRM user saves) → (ERP name, ERP city), (CRM name, CRM city), failed
OUTCOMES = {
    # a conflict: the coupling fails, each side keeps its own edit, a person decides
    ("none", "name"): (("erp edit", "Berlin"), ("crm edit", "Berlin"), 1),
    ("none", "city"): (("erp edit", "Berlin"), ("Customer 1", "crm city"), 1),
    ("merge", "name"): (("erp edit", "Berlin"), ("crm edit", "Berlin"), 1),
    # merge: fields edited on one side each are both kept, on both sides
    ("merge", "city"): (("erp edit", "crm city"), ("erp edit", "crm city"), 0),
    # send: the ERP wins the bidirectional fields; get: the CRM wins them
    ("send", "name"): (("erp edit", "Berlin"), ("erp edit", "Berlin"), 0),
    ("send", "city"): (("erp edit", "Berlin"), ("erp edit", "Berlin"), 0),
    ("get", "name"): (("crm edit", "Berlin"), ("crm edit", "Berlin"), 0),
    ("get", "city"): (("Customer 1", "crm city"), ("Customer 1", "crm city"), 0),
}


@pytest.mark.parametrize(("policy", "field"), sorted(OUTCOMES))
def test_a_crm_save_during_the_write_goes_through_the_conflict_policy(
    make: Callable[..., Systems], monkeypatch: pytest.MonkeyPatch, policy: str, field: str
) -> None:
    systems = make(policy)
    systems.edit_erp("C1", name="erp edit")
    systems.edit_erp("C2", name="erp edit 2")  # in the same write: must go through untouched
    saved = {"name": "crm edit"} if field == "name" else {"city": "crm city"}
    saves = during_crm_update(monkeypatch, lambda: systems.edit_crm("C1", **saved))
    with systems.project() as project:
        run = project.sync(["CUSTOMER"])
        problems = project.errors("CUSTOMER")
    assert saves == [1]
    erp, crm, failed = OUTCOMES[policy, field]
    assert systems.erp("C1") == erp
    assert systems.crm("C1") == crm
    assert to_crm(run).counters.failed == failed, to_crm(run).counters
    assert {p.local_key for p in problems} == ({"C1"} if failed else set())  # either pass
    if failed:
        assert "conflict" in problems[0].message, problems[0].message
    # the other record of the same write was written as if nothing happened
    assert systems.crm("C2") == ("erp edit 2", "Berlin")
    # and nothing is left to do: no ping-pong, the conflict (if any) stays until resolved
    monkeypatch.undo()
    with systems.project() as project:
        again = project.sync(["CUSTOMER"])
    assert sum(j.counters.modified + j.counters.inserted for j in again.jobs) == 0
    assert systems.erp("C1") == erp and systems.crm("C1") == crm


def test_a_record_saved_at_every_read_fails_alone_and_is_tried_again(
    make: Callable[..., Systems], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record changed each time it is read and written (a busy integration user, a
    plug-in) fails alone after a few rounds with the reason, and the next pass takes it up."""
    systems = make("send")
    systems.edit_erp("C1", name="erp edit")
    original = SqlConnector.write
    saves: list[int] = []

    def write(self: SqlConnector, table: str, changes: Any) -> Any:
        if self.name == "crm" and any(c.kind is ChangeKind.UPDATE for c in changes):
            saves.append(1)
            systems.edit_crm("C1", city=f"busy {len(saves)}")
        return original(self, table, changes)

    monkeypatch.setattr(SqlConnector, "write", write)
    with systems.project() as project:
        run = project.sync(["CUSTOMER"])
        job = to_crm(run)
        (problem,) = project.errors("CUSTOMER")
    assert job.counters.failed == 1 and len(saves) >= 2
    assert "changed by someone else each time it was read" in problem.message
    assert systems.crm("C1")[1] == f"busy {len(saves)}"  # the last save stands
    monkeypatch.undo()
    with systems.project() as project:
        run = project.sync(["CUSTOMER"])
    assert to_crm(run).counters.failed == 0
    assert systems.crm("C1") == ("erp edit", "Berlin")  # send: the ERP's values win


def test_a_crm_edit_stamped_with_the_version_accord_wrote_is_seen(
    make: Callable[..., Systems],
) -> None:
    """A coarse clock (or one that did not tick) stamps an edit with the version Accord's own
    write left: the values differ from those synced, so it is an edit."""
    systems = make("none", fractional_digits=0)  # MariaDB: DATETIME of whole seconds
    systems.edit_erp("C1", name="erp edit")
    with systems.project() as project:
        assert to_crm(project.sync(["CUSTOMER"])).counters.modified == 1
    stamped = systems.crm_version("C1")  # Accord's own stamp
    systems.edit_crm("C1", stamp=stamped, city="same second")
    assert systems.crm_version("C1") == stamped
    with systems.project() as project:
        run = project.sync(["CUSTOMER"])
    assert run.ok
    assert systems.erp("C1") == ("erp edit", "same second")
    # once carried over, it is settled: nothing to do on the next run
    with systems.project() as project:
        again = project.sync(["CUSTOMER"])
    assert sum(j.counters.modified for j in again.jobs) == 0


def test_an_erp_edit_in_the_same_second_as_the_last_sync_is_seen(
    make: Callable[..., Systems],
) -> None:
    systems = make("none", fractional_digits=0)
    with systems.engine.connect() as conn:
        (stamp,) = conn.execute(
            sa.select(systems.customer.c.last_modified).where(systems.customer.c.no == "C2")
        ).one()
    systems.edit_erp("C2", stamp=stamp, city="edited, same stamp")
    with systems.project() as project:
        run = project.sync(["CUSTOMER"])
    assert to_crm(run).counters.modified == 1
    assert systems.crm("C2") == ("Customer 2", "edited, same stamp")


def test_an_edit_stamped_by_a_clock_behind_is_seen(make: Callable[..., Systems]) -> None:
    """The CRM's clock is a few seconds behind the time of Accord's last write: its edit has
    an *older* version than the one stored, within the read window's overlap."""
    systems = make("none")
    systems.edit_erp("C3", name="erp edit")
    with systems.project() as project:
        project.sync(["CUSTOMER"])
    behind = systems.crm_version("C3") - timedelta(seconds=5)
    systems.edit_crm("C3", stamp=behind, city="clock behind")
    with systems.project() as project:
        run = project.sync(["CUSTOMER"])
    assert run.ok
    assert systems.erp("C3") == ("erp edit", "clock behind")


def test_a_stamp_change_alone_is_not_an_edit(make: Callable[..., Systems]) -> None:
    """The other way round: a record touched with no change of mapped values (a trigger, a
    save without edits) is read, compared, and settles quietly — nothing is written."""
    systems = make("none")
    systems.edit_crm("C1")  # a new stamp, the same values
    systems.edit_erp("C2")
    with systems.project() as project:
        run = project.sync(["CUSTOMER"])
    assert run.ok
    assert sum(j.counters.modified for j in run.jobs) == 0
    assert systems.crm("C1") == ("Customer 1", "Berlin")
