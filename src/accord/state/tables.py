"""The state store's tables (SQLAlchemy Core). Migrations in ``migrations/`` mirror these."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

KEY = sa.String(255)

_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


class CompactTime(sa.types.TypeDecorator[datetime]):
    """A naive UTC datetime; on SQLite an integer of microseconds since 1970 (8 bytes where
    SQLAlchemy's text form takes 26), elsewhere the database's own timestamp.

    Text values a store written before migration 0006 may still hold are read as before.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return (value - _EPOCH) // _MICROSECOND

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None or dialect.name != "sqlite":
            return value  # type: ignore[no-any-return]
        if isinstance(value, str):  # written before migration 0006
            return datetime.fromisoformat(value)
        return _EPOCH + int(value) * _MICROSECOND


def _uuid_bytes(value: str) -> bytes | None:
    """The 16 bytes of a canonical (lowercase, hyphenated) UUID string, else None."""
    if len(value) != 36:
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed.bytes if str(parsed) == value else None


class _CompactUuid(sa.types.TypeDecorator[str]):
    """Text; on SQLite a canonical UUID string goes as its 16 bytes (a blob) instead of 36
    characters. Only such strings become blobs, and each blob reads back as the very string
    it came from: equality and uniqueness are those of the text. Anything else (and every
    value on other databases) is stored as the text it is."""

    impl = sa.String(36)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        return _uuid_bytes(value) or value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> str | None:
        if isinstance(value, bytes):
            return str(uuid.UUID(bytes=value))
        return value  # type: ignore[no-any-return]


class CompactId(_CompactUuid):
    """A job id (a UUID): 16 bytes on SQLite."""

    impl = sa.String(36)
    cache_ok = True


class CompactKey(_CompactUuid):
    """A record key: a canonical UUID key (most CRM keys) takes 16 bytes on SQLite, in the
    row and in its index. On SQLite text sorts before blobs, so listings by key put UUID
    keys after the others (in their text order among themselves)."""

    impl = KEY
    cache_ok = True


COUPLINGS_FILLFACTOR = 50
"""PostgreSQL: how full an insert leaves a page of ``accord_couplings`` (percent)."""

couplings = sa.Table(
    "accord_couplings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("mapping", sa.String(100), nullable=False),
    sa.Column("local_key", CompactKey, nullable=False),
    sa.Column("integration_key", CompactKey, nullable=False),
    sa.Column("pending", sa.Boolean, nullable=False, default=False),
    sa.Column("local_version", CompactTime),
    sa.Column("integration_version", CompactTime),
    sa.Column("result_to", sa.String(10), nullable=False, default=""),
    sa.Column("job_to", CompactId),
    sa.Column("error_to", sa.Text, nullable=False, default=""),
    sa.Column("result_from", sa.String(10), nullable=False, default=""),
    sa.Column("job_from", CompactId),
    sa.Column("error_from", sa.Text, nullable=False, default=""),
    sa.Column("repeats", sa.Integer, nullable=False, default=0),
    sa.Column("skipped", sa.Boolean, nullable=False, default=False),
    sa.Column("last_values", sa.JSON(none_as_null=True)),
    sa.Column("coupled_at", CompactTime),
    sa.Column("synced_at", CompactTime),
    # checksums of each side's mapped values at the last sync (see migration 0003)
    sa.Column("local_hash", sa.BigInteger),
    sa.Column("integration_hash", sa.BigInteger),
    sa.UniqueConstraint("mapping", "local_key", name="uq_coupling_local"),
    sa.UniqueConstraint("mapping", "integration_key", name="uq_coupling_integration"),
    # Room on every page for a second version of each row: confirming a creation (an update
    # of no indexed column) is then a HOT update, with no new index entries (migration 0006).
    postgresql_with={"fillfactor": COUPLINGS_FILLFACTOR},
)

# Couplings that need attention (failed or deferred, skipped) are few; a partial index keeps
# finding them cheap however many couplings there are. Pending creations are not in its
# condition (migration 0006): they are listed in ``accord_pending`` instead, so that confirming
# a creation changes no indexed column of its coupling (on PostgreSQL a HOT update).
ATTENTION_SQL = (
    "(skipped OR result_to IN ('failure', 'deferred') OR result_from IN ('failure', 'deferred'))"
)
"""Parenthesized: it is ANDed with ``mapping = ?`` and must stay one term (index predicate)."""
ATTENTION = sa.text(ATTENTION_SQL)
sa.Index(
    "ix_coupling_attention",
    couplings.c.mapping,
    sqlite_where=ATTENTION,
    postgresql_where=ATTENTION,
)

# The couplings whose record is being created (``pending``): inserted with the coupling, in
# the transaction committed before the record is written, and deleted with the confirmation.
# A run killed in between finds them here (StateStore.attention) and resolves them.
pending_creations = sa.Table(
    "accord_pending",
    metadata,
    sa.Column("mapping", sa.String(100), primary_key=True),
    sa.Column("local_key", CompactKey, primary_key=True),
    sqlite_with_rowid=False,
)

jobs = sa.Table(
    "accord_jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("mapping", sa.String(100), nullable=False),
    sa.Column("type", sa.String(10), nullable=False),
    sa.Column("direction", sa.String(20)),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("heartbeat_at", sa.DateTime),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
    sa.Column("inserted", sa.Integer, nullable=False, default=0),
    sa.Column("modified", sa.Integer, nullable=False, default=0),
    sa.Column("deleted", sa.Integer, nullable=False, default=0),
    sa.Column("unchanged", sa.Integer, nullable=False, default=0),
    sa.Column("skipped", sa.Integer, nullable=False, default=0),
    sa.Column("failed", sa.Integer, nullable=False, default=0),
    sa.Column("coupled", sa.Integer, nullable=False, default=0),
    sa.Column("uncoupled", sa.Integer, nullable=False, default=0),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Index("ix_jobs_started", "started_at"),
    sa.Index("ix_jobs_mapping", "mapping", "started_at"),
)

job_errors = sa.Table(
    "accord_job_errors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(36), nullable=False, index=True),
    sa.Column("source_key", KEY, nullable=False, default=""),
    sa.Column("destination_key", KEY, nullable=False, default=""),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

watermarks = sa.Table(
    "accord_watermarks",
    metadata,
    sa.Column("mapping", sa.String(100), primary_key=True),
    sa.Column("side", sa.String(12), primary_key=True),
    sa.Column("value", sa.DateTime, nullable=False),
    sa.Column("read_at", sa.DateTime),  # when the pass that set it started reading
    sa.Column("delta_token", sa.Text),  # where a change-tracking read starts (migration 0004)
)

key_series = sa.Table(
    "accord_key_series",
    metadata,
    sa.Column("table_ref", sa.String(255), primary_key=True),
    sa.Column("last_number", sa.Integer, nullable=False),
)

# One row per mapping a run is working on: a second run of the same mappings waits or stops.
# The lease expires unless renewed (every batch commit renews it), so a crashed holder
# blocks for one lease at most (and not at all on its own host, where its pid is checked).
leases = sa.Table(
    "accord_leases",
    metadata,
    sa.Column("mapping", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(36), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

# accord run's schedule, one row per scheduled mapping (see migration 0005): when it
# runs next, its interval now (the idle backoff lengthens it), and how its last run ended, so
# that accord status shows from any shell what the scheduler of another one is doing.
schedule = sa.Table(
    "accord_schedule",
    metadata,
    sa.Column("mapping", sa.String(100), primary_key=True),
    sa.Column("next_run_at", sa.DateTime),
    sa.Column("interval_seconds", sa.Float),
    sa.Column("last_run_at", sa.DateTime),
    sa.Column("last_result", sa.String(20), nullable=False, default=""),
    sa.Column("last_records", sa.Integer, nullable=False, default=0),
    sa.Column("last_failed", sa.Integer, nullable=False, default=0),
    sa.Column("last_message", sa.Text, nullable=False, default=""),
    sa.Column("idle_runs", sa.Integer, nullable=False, default=0),
    sa.Column("runs", sa.Integer, nullable=False, default=0),
    sa.Column("last_run_id", sa.String(36)),
)


def as_key(value: object) -> str:
    """A key (or job id) as read from a SQLite state store with plain ``sqlite3``: a UUID is
    stored as its 16 bytes there (see :class:`CompactKey`)."""
    if isinstance(value, bytes):
        return str(uuid.UUID(bytes=value))
    return str(value)
