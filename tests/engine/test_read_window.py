"""The read window of incremental passes, on real SQL systems (SQLite and MariaDB).

Issue 9 class 15 (last clause): an idle ``sync`` re-read every record stamped within the
overlap below the watermark, on every run. The window now reaches back to
``min(watermark, read_at - overlap)``; these tests hold both halves of that promise: idle
runs read (almost) nothing, while a late commit inside the overlap and an edit on the
watermark's own whole second are still seen. Issue 9 class 4: ``sync --since`` reads a
window by date and catches backdated edits the watermark cannot see.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import accord
from accord.errors import UsageError
from accord.model import Direction
from accord.state.store import utcnow
from tests.services import mariadb_url

RECORDS = 30
BATCH = 10
OVERLAP = 60  # seconds: wide, so that no test depends on how fast the machine is

CONFIG = """
[state]
url = "sqlite:///{state}"

[systems.erp]
connector = "sql"
url = "{erp}"

[systems.crm]
connector = "sql"
url = "{crm}"

[tables."erp.customer"]
key = "no"
modified = "last_modified"
overlap_seconds = {overlap}
new_keys = {{ series = "C", digits = 5 }}

[tables."crm.account"]
key = "accountid"
modified = "modifiedon"
overlap_seconds = {overlap}
new_keys = "uuid"

[[mappings]]
name = "CUSTOMER"
table = "erp.customer"
integration_table = "crm.account"
direction = "{direction}"
fields = [
  {{ field = "name", integration_field = "name" }},
  {{ field = "city", integration_field = "city" }},
  {{ field = "no", integration_field = "accountnumber", direction = "to-integration" }},
]
"""

META = sa.MetaData()
CUSTOMER = sa.Table(
    "customer",
    META,
    sa.Column("no", sa.String(20), primary_key=True),
    sa.Column("name", sa.String(50)),
    sa.Column("city", sa.String(50)),
    sa.Column("last_modified", sa.DateTime),  # DATETIME on MariaDB: whole seconds
)
ACCOUNT = sa.Table(
    "account",
    META,
    sa.Column("accountid", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(50)),
    sa.Column("city", sa.String(50)),
    sa.Column("accountnumber", sa.String(20)),
    sa.Column("modifiedon", sa.DateTime),
)


@dataclass
class Systems:
    path: Path
    erp: sa.Engine
    crm: sa.Engine
    base: datetime
    """The source records' stamps: ``base - 29 s`` … ``base`` (whole seconds, a day ago)."""

    def project(self) -> accord.Project:
        return accord.Project.load(self.path, batch_size=BATCH)

    def edit(self, no: str, city: str, stamp: datetime) -> None:
        """An edit made behind Accord's back, with the stamp its writer's clock gave."""
        with self.erp.begin() as conn:
            conn.execute(
                CUSTOMER.update().where(CUSTOMER.c.no == no).values(city=city, last_modified=stamp)
            )

    def edit_account(self, number: str, city: str, stamp: datetime) -> None:
        with self.crm.begin() as conn:
            conn.execute(
                ACCOUNT.update()
                .where(ACCOUNT.c.accountnumber == number)
                .values(city=city, modifiedon=stamp)
            )

    def crm_city(self, number: str) -> str:
        with self.crm.connect() as conn:
            return str(
                conn.execute(
                    sa.select(ACCOUNT.c.city).where(ACCOUNT.c.accountnumber == number)
                ).scalar_one()
            )

    def erp_city(self, no: str) -> str:
        with self.erp.connect() as conn:
            return str(
                conn.execute(sa.select(CUSTOMER.c.city).where(CUSTOMER.c.no == no)).scalar_one()
            )


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def database_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'erp.db'}", f"sqlite:///{tmp_path / 'crm.db'}"
        return
    base = sa.make_url(mariadb_url())
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url, url
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE {name}")
        admin.dispose()


def make_systems(
    tmp_path: Path, urls: tuple[str, str], direction: str, overlap: float = OVERLAP
) -> Iterator[Systems]:
    erp_url, crm_url = urls
    erp = sa.create_engine(erp_url, poolclass=sa.pool.NullPool)
    crm = sa.create_engine(crm_url, poolclass=sa.pool.NullPool)
    CUSTOMER.create(erp)
    ACCOUNT.create(crm)
    base = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    with erp.begin() as conn:
        conn.execute(
            CUSTOMER.insert(),
            [
                {
                    "no": f"C{i:05d}",
                    "name": f"Customer {i}",
                    "city": "Berlin",
                    # one second apart, the newest at base: all inside the overlap of base
                    "last_modified": base - timedelta(seconds=RECORDS - i),
                }
                for i in range(1, RECORDS + 1)
            ],
        )
    path = tmp_path / "accord.toml"
    path.write_text(
        CONFIG.format(
            state=tmp_path / "state.db",
            erp=erp_url,
            crm=crm_url,
            overlap=overlap,
            direction=direction,
        )
    )
    try:
        yield Systems(path, erp, crm, base)
    finally:
        erp.dispose()
        crm.dispose()


@pytest.fixture
def systems(tmp_path: Path, database_urls: tuple[str, str]) -> Iterator[Systems]:
    yield from make_systems(tmp_path, database_urls, "to-integration")


@pytest.fixture
def both_ways(tmp_path: Path, database_urls: tuple[str, str]) -> Iterator[Systems]:
    yield from make_systems(tmp_path, database_urls, "bidirectional")


SHORT_OVERLAP = 0.2


@pytest.fixture
def quick_both_ways(tmp_path: Path) -> Iterator[Systems]:
    """Both ways on SQLite (its stamps tell Accord's write batches apart), a short overlap."""
    urls = (f"sqlite:///{tmp_path / 'erp.db'}", f"sqlite:///{tmp_path / 'crm.db'}")
    yield from make_systems(tmp_path, urls, "bidirectional", overlap=SHORT_OVERLAP)


def test_idle_runs_do_not_keep_reading_what_the_full_sync_wrote(quick_both_ways: Systems):
    """The from-integration pass of a full sync reads the accounts its first pass has just
    written, all stamped within the overlap of that read. Before, every idle run read them all
    again; now, once the overlap has passed, only the last write batch (the records on the
    watermark's own stamp)."""
    with quick_both_ways.project() as p:
        assert p.sync(full=True).ok
        time.sleep(SHORT_OVERLAP * 1.5)  # at least the overlap: no upper bound is assumed
        first, second = p.sync(), p.sync()
    assert first.ok and second.ok
    assert first.totals().written == second.totals().written == 0
    assert records_read(second, Direction.FROM_INTEGRATION) <= BATCH
    assert records_read(second, Direction.TO_INTEGRATION) <= BATCH


def records_read(run: accord.RunResult, direction: Direction) -> int:
    """What the pass of ``direction`` read: in a run that changes nothing, every record it
    read is counted unchanged (and nothing else is counted)."""
    (job,) = [j for j in run.jobs if j.direction is direction]
    c = job.counters
    return c.unchanged + c.modified + c.inserted + c.failed + c.skipped


def test_idle_runs_after_a_full_sync_read_no_more_than_a_batch(systems: Systems):
    """The 30 records lie within the overlap (60 s) below the watermark: before, every idle
    run read all 30 again; now only the records on the watermark's own stamp (1)."""
    with systems.project() as p:
        run = p.sync(full=True)
        assert run.ok and run.totals().inserted == RECORDS
        first, second = p.sync(), p.sync()
    assert first.ok and second.ok
    assert first.totals().written == second.totals().written == 0
    assert records_read(second, Direction.TO_INTEGRATION) <= BATCH
    assert records_read(first, Direction.TO_INTEGRATION) <= BATCH


def test_a_late_commit_inside_the_overlap_below_the_watermark_is_seen(systems: Systems):
    """A transaction stamped before the pass read, committed after it: its stamp is below
    the watermark (which a later record set) but within the overlap of the read."""
    now = utcnow().replace(microsecond=0)
    with systems.project() as p:
        assert p.sync(full=True).ok
        systems.edit("C00002", "Hamburg", now)  # committed before the read: sets the watermark
        assert p.sync().totals().modified == 1
        systems.edit("C00001", "Munich", now - timedelta(seconds=5))  # the late commit
        run = p.sync()
    assert run.ok and run.totals().modified == 1
    assert systems.crm_city("C00001") == "Munich"


def test_an_edit_on_the_watermarks_own_whole_second_is_seen(systems: Systems):
    """On a whole-second clock a later edit can carry the very stamp of the watermark: the
    window includes it, even once the overlap has passed (the watermark a day old)."""
    stamp = systems.base + timedelta(seconds=10)
    with systems.project() as p:
        assert p.sync(full=True).ok
        systems.edit("C00002", "Hamburg", stamp)
        assert p.sync().totals().modified == 1  # the watermark is now at `stamp`
        systems.edit("C00003", "Munich", stamp)  # same second, committed after that read
        run = p.sync()
    assert run.ok and run.totals().modified == 1
    assert systems.crm_city("C00003") == "Munich"


def test_a_store_without_read_times_keeps_the_whole_overlap(systems: Systems):
    """Watermarks written before read_at was recorded: the window reaches back the whole
    overlap below the watermark, as it always did."""
    with systems.project() as p:
        assert p.sync(full=True).ok
        with p.store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE accord_watermarks SET read_at = NULL")
        run = p.sync()
    assert records_read(run, Direction.TO_INTEGRATION) == RECORDS


# -- sync --since (class 4) -----------------------------------------------------------------
def test_a_backdated_edit_is_missed_by_a_sync_and_caught_by_since(systems: Systems):
    """An import writes an edit with a stamp far behind the watermark (and behind the
    version stored on its coupling): a normal sync cannot see it, ``since`` does."""
    old = systems.base - timedelta(days=30)
    with systems.project() as p:
        assert p.sync(full=True).ok
        systems.edit("C00004", "Backdated", old)
        assert p.sync().totals().written == 0  # documented: the watermark hides it
        run = p.sync(since=(old - timedelta(days=1)).isoformat())
    assert run.ok and run.totals().modified == 1
    assert systems.crm_city("C00004") == "Backdated"


def test_since_reads_its_window_not_the_whole_table(systems: Systems):
    with systems.project() as p:
        assert p.sync(full=True).ok
        run = p.sync(since=systems.base - timedelta(seconds=4))  # the 5 newest records
    assert records_read(run, Direction.TO_INTEGRATION) == 5
    assert run.totals().written == 0


def test_since_takes_the_side_that_was_edited_in_a_bidirectional_mapping(both_ways: Systems):
    """A backdated edit in the CRM goes to the ERP; the ERP's unchanged values do not go over
    it, though the to-integration pass runs first and also reads its window."""
    old = both_ways.base - timedelta(days=30)
    with both_ways.project() as p:
        assert p.sync(full=True).ok
        both_ways.edit_account("C00005", "From the CRM", old)
        run = p.sync(since=old)
    assert run.ok
    assert both_ways.erp_city("C00005") == "From the CRM"
    assert both_ways.crm_city("C00005") == "From the CRM"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", datetime(2026, 12, 1)),
        ("2026-12-01T08:30", datetime(2026, 12, 1, 8, 30)),
        ("2026-12-01 08:30:00+01:00", datetime(2026, 12, 1, 7, 30)),
        ("2026-12-01T08:30:00Z", datetime(2026, 12, 1, 8, 30)),
    ],
)
def test_since_is_iso_8601_in_utc_unless_an_offset_is_given(text: str, expected: datetime):
    from accord.engine.sync import parse_since

    assert parse_since(text) == expected


def test_since_refuses_what_it_cannot_read(systems: Systems):
    with systems.project() as p:
        with pytest.raises(UsageError, match="not a date or time"):
            p.sync(since="last tuesday")
        with pytest.raises(UsageError, match="cannot be combined"):
            p.sync(full=True, since="2026-12-01")
