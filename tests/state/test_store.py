"""The state store on SQLite and PostgreSQL: couplings, attention list, jobs, key series."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from accord.model import Coupling, Direction, Job, JobStatus, JobType, Side, SyncResult
from accord.state import StateStore
from accord.state.store import _attention_ids
from accord.state.tables import couplings, pending_creations
from tests.services import postgresql_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store(request, tmp_path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        s = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
        yield s
        s.close()
    else:
        with postgresql_schema() as url:
            s = StateStore(url)
            yield s
            s.close()


def coupling(mapping: str, n: int, **kw) -> Coupling:
    return Coupling(mapping, f"L{n}", f"I{n}", **kw)


def test_attention_is_per_mapping(store):
    """A failed coupling of one mapping is never retried under another one."""
    with store.transaction() as tx:
        tx.insert_couplings(
            [
                coupling("CUSTOMER", 1),
                coupling("CONTACT", 2, result_to=SyncResult.FAILURE),
                coupling("CONTACT", 3, skipped=True),
                coupling("CONTACT", 4, pending=True),
            ]
        )
    assert store.attention("CUSTOMER") == []
    assert store.retry_keys("CUSTOMER", Direction.TO_INTEGRATION) == []
    assert sorted(store.retry_keys("CONTACT", Direction.TO_INTEGRATION)) == ["L2", "L4"]
    assert store.retry_keys("CONTACT", Direction.FROM_INTEGRATION) == ["I4"]
    stats = store.coupling_stats("CONTACT")
    assert (stats.total, stats.failed, stats.skipped, stats.pending) == (3, 1, 1, 1)
    assert store.coupling_stats("CUSTOMER").failed == 0


def _plan(store: StateStore, query: sa.Executable) -> str:
    sql = query.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True})
    with store.engine.connect() as conn:
        return " ".join(str(r) for r in conn.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")))


def test_attention_query_uses_the_partial_index_and_the_pending_table(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    plan = _plan(store, sa.select(couplings).where(couplings.c.id.in_(_attention_ids("X"))))
    store.close()
    assert "ix_coupling_attention" in plan
    assert "SEARCH accord_pending USING PRIMARY KEY (mapping=?)" in plan, plan
    assert "(mapping=? AND local_key=?)" in plan, plan
    assert "SCAN accord_couplings" not in plan


@pytest.mark.parametrize("side", ["local_key", "integration_key"])
def test_lookups_by_key_search_an_index(tmp_path, side):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    column = couplings.c[side]
    plan = _plan(store, sa.select(couplings).where(couplings.c.mapping == "X", column == "K"))
    store.close()
    assert "SEARCH accord_couplings USING INDEX" in plan and f"{side}=?" in plan


def test_pending_creations_are_listed_until_confirmed_or_deleted(store):
    with store.transaction() as tx:
        tx.insert_couplings([coupling("M", i, pending=True) for i in (1, 2, 3)])
    with store.engine.connect() as conn:
        listed = sorted(r.local_key for r in conn.execute(sa.select(pending_creations)))
    assert listed == ["L1", "L2", "L3"]
    with store.transaction() as tx:
        tx.confirm_created("M", Side.INTEGRATION, ["L1"], datetime(2026, 1, 2, 3, 4, 5, 6))
        tx.delete_couplings("M", ["L2"])
    found = store.couplings_by("M", Side.LOCAL, ["L1", "L3"])
    assert not found["L1"].pending and found["L3"].pending
    assert found["L1"].integration_version == datetime(2026, 1, 2, 3, 4, 5, 6)
    assert [c.local_key for c in store.attention("M")] == ["L3"]
    assert store.list_couplings("M", attention_only=True)[0].local_key == "L3"
    found["L3"].pending = False  # settled another way (reading._settle_orphans)
    with store.transaction() as tx:
        tx.update_couplings([found["L3"]])
    assert store.attention("M") == []
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pending_creations)).scalar() == 0


def test_couplings_are_unique_per_mapping_on_each_side(store):
    with store.transaction() as tx:
        tx.insert_couplings([coupling("CUSTOMER", 1), coupling("CONTACT", 1)])
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as tx:
        tx.insert_couplings([Coupling("CUSTOMER", "L1", "other")])
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as tx:
        tx.insert_couplings([Coupling("CUSTOMER", "other", "I1")])


def test_couplings_round_trip_and_update(store):
    when = datetime(2026, 5, 1, 12, 30, 0, 123456)
    with store.transaction() as tx:
        tx.insert_couplings([coupling("M", 1, local_version=when, last_values={"a": 1})])
    found = store.couplings_by("M", Side.INTEGRATION, ["I1", "I9"])
    assert list(found) == ["I1"]
    c = found["I1"]
    assert c.local_version == when and c.last_values == {"a": 1}
    c.set_result(Direction.FROM_INTEGRATION, SyncResult.FAILURE, "job", "boom")
    c.integration_version = when + timedelta(seconds=1)
    with store.transaction() as tx:
        tx.update_couplings([c])
    again = store.get_coupling("M", local_key="L1")
    assert again is not None and again.error_from == "boom"
    assert again.integration_version == when + timedelta(seconds=1)


def test_key_series_never_hands_out_a_number_twice(store):
    with store.transaction() as tx:
        first = tx.allocate_numbers("erp.customer", 10, floor=41)
    with store.transaction() as tx:
        second = tx.allocate_numbers("erp.customer", 5, floor=0)
    with store.transaction() as tx:
        third = tx.allocate_numbers("erp.customer", 1, floor=100)
    assert (first, second, third) == (42, 52, 101)


def test_job_prefix_lookup_and_counters(store):
    job = Job("abcdef12-0000", "CUSTOMER", JobType.SYNC, Direction.TO_INTEGRATION, datetime.now())
    store.start_job(job, "run")
    job.counters.inserted = 7
    job.status = JobStatus.OK
    with store.transaction() as tx:
        tx.save_job(job)
    found = store.job("abcd")
    assert found is not None and found.counters.inserted == 7 and found.status is JobStatus.OK
    assert store.job("zzz") is None


def test_a_closed_store_keeps_nothing_alive(tmp_path: Path) -> None:
    # A long-lived process (a web UI, a scheduler) opens and closes stores again and again:
    # the hot statements a store prepared must go with it, not pin its dialect for good.
    dialects = []
    for i in range(3):
        store = StateStore(f"sqlite:///{tmp_path}/state{i}.db")
        store.couplings_by("CUSTOMER", Side.LOCAL, ["C1", "C2"])
        with store.transaction() as tx:
            tx.delete_couplings("CUSTOMER", ["C1"])
        dialects.append(weakref.ref(store.engine.dialect))
        store.close()
        del store, tx
    gc.collect()
    assert [d() for d in dialects] == [None, None, None]


def test_a_watermark_keeps_its_delta_token_until_a_pass_stores_none(store):
    at = datetime(2026, 12, 1, 8, 30)
    with store.transaction() as tx:
        tx.set_watermark("M", Side.INTEGRATION, at, at, "1234!12/01/2026 08:30:00")
        tx.set_watermark("M", Side.LOCAL, at, at)
    mark = store.watermark_state("M", Side.INTEGRATION)
    assert mark is not None and mark.delta_token == "1234!12/01/2026 08:30:00"
    assert mark.value == at and mark.read_at == at
    local = store.watermark_state("M", Side.LOCAL)
    assert local is not None and local.delta_token is None
    with store.transaction() as tx:  # a pass on a source no longer tracked: polled from now
        tx.set_watermark("M", Side.INTEGRATION, at + timedelta(seconds=1), at)
    mark = store.watermark_state("M", Side.INTEGRATION)
    assert mark is not None and mark.delta_token is None


def test_a_store_of_revision_0003_gets_the_token_column(tmp_path: Path) -> None:
    from alembic import command

    from accord.state import migrate

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0003")
        conn.execute(
            sa.text(
                "INSERT INTO accord_watermarks (mapping, side, value) VALUES ('M', 'local', :v)"
            ),
            {"v": datetime(2026, 1, 1)},
        )
    engine.dispose()
    store = StateStore(url)
    try:
        mark = store.watermark_state("M", Side.LOCAL)
        assert mark is not None and mark.value == datetime(2026, 1, 1) and mark.delta_token is None
    finally:
        store.close()


def test_uuid_keys_and_job_ids_round_trip_and_are_found_by_either_side(store):
    """On SQLite canonical UUIDs are stored as 16 bytes: they read back as the same text,
    other keys (an upper-case UUID among them) stay text, and lookups find each."""
    lower = "0190d3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f"
    upper = lower.upper()
    job = "14a8b015-ddff-43b4-abf1-7cbaf9db9a96"
    stamp = datetime(2026, 12, 3, 17, 54, 29, 50208)
    with store.transaction() as tx:
        tx.insert_couplings(
            [
                Coupling("M", "C1", lower, job_to=job, synced_at=stamp, local_version=stamp),
                Coupling("M", upper, "plain", job_from="not-a-uuid"),
                Coupling("M", lower, "C3"),
            ]
        )
    by_integration = store.couplings_by("M", Side.INTEGRATION, [lower, "plain", upper])
    assert set(by_integration) == {lower, "plain"}
    first = by_integration[lower]
    assert (first.local_key, first.job_to, first.synced_at, first.local_version) == (
        "C1",
        job,
        stamp,
        stamp,
    )
    assert by_integration["plain"].local_key == upper
    assert by_integration["plain"].job_from == "not-a-uuid"
    assert set(store.couplings_by("M", Side.LOCAL, [lower, upper, "C1"])) == {lower, upper, "C1"}
    states = store.sync_states("M", Side.LOCAL, Direction.TO_INTEGRATION, [lower, "C1"])
    assert states["C1"].version == stamp and states["C1"].synced_at == stamp
    listed = [c.local_key for batch in store.iter_couplings("M", batch_size=1) for c in batch]
    assert sorted(listed) == sorted(["C1", upper, lower])
    with store.transaction() as tx:
        tx.delete_couplings("M", [lower])
    assert set(store.couplings_by("M", Side.LOCAL, [lower, upper, "C1"])) == {upper, "C1"}


def test_migration_0006_keeps_a_store_written_before_it(tmp_path):
    """A SQLite store at 0005 (text times, text UUIDs, a pending coupling) reads the same
    after the upgrade, and its pending creation is still found."""
    from alembic import command

    from accord.state import migrate

    path = tmp_path / "state.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0005")
        conn.execute(
            sa.text(
                "INSERT INTO accord_couplings (mapping, local_key, integration_key, pending, "
                "local_version, result_to, job_to, error_to, result_from, error_from, repeats, "
                "skipped, synced_at) VALUES ('M', 'L1', "
                "'0190d3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f', 1, '2026-12-03 17:54:29.050208', "
                "'success', '14a8b015-ddff-43b4-abf1-7cbaf9db9a96', '', '', '', 0, 0, "
                "'2026-01-02 03:04:05.000000')"
            )
        )
    engine.dispose()
    store = StateStore(f"sqlite:///{path}")
    try:
        found = store.get_coupling("M", integration_key="0190d3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f")
        assert found is not None and found.pending
        assert found.local_version == datetime(2026, 12, 3, 17, 54, 29, 50208)
        assert found.synced_at == datetime(2026, 1, 2, 3, 4, 5)
        assert found.job_to == "14a8b015-ddff-43b4-abf1-7cbaf9db9a96"
        assert [c.local_key for c in store.attention("M")] == ["L1"]
        with store.engine.connect() as conn:
            kinds = conn.execute(
                sa.text(
                    "SELECT typeof(integration_key), typeof(local_version) FROM accord_couplings"
                )
            ).one()
        assert tuple(kinds) == ("blob", "integer")
    finally:
        store.close()
