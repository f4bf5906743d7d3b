"""Connection setup of a SQLite state store: WAL, shared safely by processes opening it at once."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Any

BUSY_TIMEOUT = 30.0  # seconds a connection waits for another process's lock


def configure(dbapi_connection: Any, _record: Any = None) -> None:
    """WAL (readers never wait for the writer) and commits without fsync (safe on a kill)."""
    cursor = dbapi_connection.cursor()
    try:
        use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def use_wal(cursor: sqlite3.Cursor, timeout: float = BUSY_TIMEOUT) -> None:
    """Switch the database to WAL unless it already is.

    Switching needs an exclusive lock, and when several processes open a new store at once
    SQLite may refuse it at once, without calling the busy handler (waiting could deadlock).
    So a refusal is retried with backoff until ``timeout``; only then is it an error.
    """
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * random.uniform(0.5, 1.5))  # jitter: the openers do not march in step
        delay = min(delay * 2, 0.2)


def copy_into(path: Path, target: Any, timeout: float = BUSY_TIMEOUT) -> None:
    """Copy the database at ``path`` into the open connection ``target`` (a snapshot).

    The online backup copies every page in one step, inside one read transaction: with WAL a
    writer in another process goes on meanwhile, and the copy is the database as of one
    commit. A dry run works on such a copy, so it never competes for the write lock.
    """
    source = sqlite3.connect(str(path), timeout=timeout)
    try:
        source.backup(target)
    finally:
        source.close()
