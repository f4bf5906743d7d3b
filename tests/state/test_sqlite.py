"""A SQLite state store opened while another process holds the database's write lock."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from accord.state import StateStore
from accord.state.sqlite import use_wal


def writer_holding_the_lock(path: Path) -> sqlite3.Connection:
    """A connection in rollback-journal mode inside a write transaction (a RESERVED lock).

    While it holds that lock SQLite refuses a switch to WAL at once, without waiting: what
    happens when several processes open a new store together.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE other (x)")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO other VALUES (1)")
    return conn


def test_a_store_opened_during_another_writers_transaction_waits_for_it(tmp_path: Path):
    path = tmp_path / "state.db"
    writer = writer_holding_the_lock(path)
    released: list[float] = []

    def release() -> None:
        writer.execute("COMMIT")
        released.append(time.monotonic())

    timer = threading.Timer(0.3, release)
    timer.start()
    store = StateStore(f"sqlite:///{path}")  # before the fix: "database is locked" at once
    try:
        opened = time.monotonic()
        assert released and released[0] <= opened  # it waited for the writer, then opened
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert store.jobs() == []
    finally:
        timer.join()
        store.close()
        writer.close()


def test_a_lock_held_past_the_timeout_is_still_an_error(tmp_path: Path):
    path = tmp_path / "state.db"
    writer = writer_holding_the_lock(path)
    conn = sqlite3.connect(path, timeout=0.05)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            use_wal(conn.cursor(), timeout=0.2)
        writer.execute("COMMIT")
        use_wal(conn.cursor(), timeout=0.2)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
        writer.close()
