"""Leases: one run at a time per mapping, on SQLite and PostgreSQL state stores."""

from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from accord.errors import BusyError
from accord.state.store import utcnow
from accord.state.tables import leases
from tests.engine.conftest import World
from tests.engine.test_sync import seed


def test_a_second_run_is_refused_while_the_first_holds_the_mapping(world: World):
    seed(world)
    with world.project() as first, world.project() as second:
        accounts = world.crm.rows("account")
        with first.leased(["CUSTOMER"]):
            with pytest.raises(BusyError, match="CUSTOMER is being worked on by another run"):
                second.sync(["CUSTOMER"])
            with pytest.raises(BusyError):  # every mapping of the run is needed
                second.sync()
            assert second.sync(["CURRENCY"]).ok  # another mapping is free
            assert world.crm.rows("account") == accounts  # nothing of CUSTOMER was written
        assert second.sync(full=True).ok  # released
        assert second.store.held_leases() == []  # and released again at the end


def test_a_waiting_run_starts_when_the_holder_finishes(world: World):
    seed(world)
    with world.project() as first, world.project() as second:
        release = threading.Event()
        released: list[datetime] = []

        def hold() -> None:
            with first.leased(["CURRENCY", "CUSTOMER"]):
                release.wait(60)
            released.append(utcnow())

        holder = threading.Thread(target=hold)
        holder.start()
        while not first.store.held_leases():
            time.sleep(0.01)
        with pytest.raises(BusyError):
            second.sync(wait=0.2)
        threading.Timer(0.3, release.set).start()
        run = second.sync(full=True, wait=60)
        holder.join()
        assert run.ok
        assert min(job.started_at for job in run.jobs) >= released[0]  # it waited its turn


def test_an_expired_lease_or_a_dead_holder_does_not_block(world: World):
    seed(world)
    with world.project() as p:
        engine = p.store.engine
        stale = {
            "holder": "crashed-run",
            "acquired_at": utcnow() - timedelta(hours=1),
        }
        with engine.begin() as conn:
            conn.execute(
                leases.insert(),
                [
                    # expired: another host's run stopped renewing it
                    {
                        **stale,
                        "mapping": "CURRENCY",
                        "host": "elsewhere",
                        "pid": 1,
                        "expires_at": utcnow() - timedelta(minutes=1),
                    },
                    # not expired, but its process on this host is gone
                    {
                        **stale,
                        "mapping": "CUSTOMER",
                        "host": socket.gethostname(),
                        "pid": 2**22 + 12345,  # above any pid this machine hands out
                        "expires_at": utcnow() + timedelta(hours=1),
                    },
                ],
            )
        assert p.sync(full=True).ok
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(leases)).scalar() == 0


def test_a_live_holder_elsewhere_blocks_until_its_lease_expires(world: World):
    seed(world)
    with world.project() as p:
        with p.store.engine.begin() as conn:
            conn.execute(
                leases.insert().values(
                    mapping="CUSTOMER",
                    holder="other-host-run",
                    host="elsewhere",
                    pid=1,
                    acquired_at=utcnow(),
                    expires_at=utcnow() + timedelta(seconds=1),
                )
            )
        with pytest.raises(BusyError, match="process 1 on elsewhere"):
            p.sync(["CUSTOMER"])
        assert p.sync(["CUSTOMER"], wait=5).ok  # once expired, taken over


def test_commits_renew_the_lease(world: World):
    seed(world)
    with world.project() as p:
        p.lease_ttl = timedelta(seconds=30)
        seen: list[object] = []
        with p.leased(["CUSTOMER"]):
            (before,) = p.store.held_leases()
            time.sleep(0.05)
            p.sync(["CUSTOMER"], full=True)  # re-entrant: keeps the lease, renews it
            (after,) = p.store.held_leases()
            seen.extend([before.expires_at, after.expires_at])
        assert seen[1] > seen[0]


def test_dry_runs_take_no_lease(world: World):
    seed(world)
    with world.project() as first, world.project() as second:
        assert first.store.held_leases() == []  # (a store a dry run creates is its own)
        with second.dry_run():
            assert second.sync(full=True).ok
            assert first.store.held_leases() == []  # planned without taking a lease
        with first.dry_run(), second.leased(["CUSTOMER"]):
            assert first.sync(["CURRENCY"], full=True).ok  # another mapping: no wait


def test_a_dry_run_beside_a_run_at_work_says_busy_or_waits(world: World):
    """A plan made while another run writes would describe a moving target."""
    seed(world)
    with world.project() as first, world.project() as second:
        release = threading.Event()

        def hold() -> None:
            with first.leased(["CUSTOMER"]):
                release.wait(60)

        holder = threading.Thread(target=hold)
        holder.start()
        while not first.store.held_leases():
            time.sleep(0.01)
        with second.dry_run():
            with pytest.raises(BusyError, match="CUSTOMER is being worked on by another run"):
                second.sync(full=True)
            threading.Timer(0.3, release.set).start()
            assert second.sync(full=True, wait=60).ok  # it waited for the holder to finish
        holder.join()
        assert second.store.held_leases() == []
