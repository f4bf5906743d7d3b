"""lean couplings: pending creations in a side table, compact times and job ids on SQLite

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 18:05:00

``accord_pending`` lists the couplings whose record is being created; ``pending`` leaves the
condition of the attention index, so that confirming a creation (clearing ``pending``, setting
the new record's version) changes no indexed column: on PostgreSQL a HOT update instead of a
new row version with new entries in every index (PostgreSQL: with ``fillfactor = 50``, so
that the page has room for it). On SQLite the couplings' four times become
integers of microseconds (8 bytes instead of 26 characters), and the job ids and the keys
that are canonical UUIDs 16-byte blobs (instead of 36 characters); see
``accord.state.tables.CompactTime`` / ``CompactId`` / ``CompactKey``, which still read the
text form.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_ATTENTION = (
    "(pending OR skipped OR result_to IN ('failure', 'deferred') "
    "OR result_from IN ('failure', 'deferred'))"
)
NEW_ATTENTION = (
    "(skipped OR result_to IN ('failure', 'deferred') OR result_from IN ('failure', 'deferred'))"
)
TIMES = ("local_version", "integration_version", "coupled_at", "synced_at")
UUIDS = ("job_to", "job_from", "local_key", "integration_key")


def _attention(condition: str) -> None:
    op.drop_index("ix_coupling_attention", table_name="accord_couplings")
    op.create_index(
        "ix_coupling_attention",
        "accord_couplings",
        ["mapping"],
        sqlite_where=sa.text(condition),
        postgresql_where=sa.text(condition),
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _compact_sqlite(bind)
    op.create_table(
        "accord_pending",
        sa.Column("mapping", sa.String(100), primary_key=True),
        sa.Column("local_key", sa.String(255), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO accord_pending (mapping, local_key) "
        "SELECT mapping, local_key FROM accord_couplings WHERE pending"
    )
    _attention(NEW_ATTENTION)
    if bind.dialect.name == "postgresql":
        # Half-full pages: the confirmation's update finds room for the new row version
        # on the row's page (a HOT update). Applies to pages written from now on.
        op.execute("ALTER TABLE accord_couplings SET (fillfactor = 50)")


def _compact_sqlite(bind: sa.Connection) -> None:
    # 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's SQLite form) to microseconds since 1970
    for name in TIMES:
        op.execute(
            f"UPDATE accord_couplings SET {name} = "
            f"CAST(strftime('%s', {name}) AS INTEGER) * 1000000 "
            f"+ CAST(substr({name}, 21, 6) AS INTEGER) WHERE typeof({name}) = 'text'"
        )
    for name in UUIDS:
        rows = bind.execute(
            sa.text(
                f"SELECT id, {name} FROM accord_couplings "
                f"WHERE typeof({name}) = 'text' AND length({name}) = 36"
            )
        ).all()
        blobs = []
        for id_, text in rows:
            try:
                parsed = uuid.UUID(text)
            except ValueError:
                continue
            if str(parsed) == text:
                blobs.append({"id": id_, "value": parsed.bytes})
        if blobs:
            bind.execute(
                sa.text(f"UPDATE accord_couplings SET {name} = :value WHERE id = :id"), blobs
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in TIMES:
            op.execute(
                f"UPDATE accord_couplings SET {name} = "
                f"strftime('%Y-%m-%d %H:%M:%S', {name} / 1000000, 'unixepoch') || '.' || "
                f"substr('000000' || ({name} % 1000000), -6) WHERE typeof({name}) = 'integer'"
            )
        for name in UUIDS:
            rows = bind.execute(
                sa.text(f"SELECT id, {name} FROM accord_couplings WHERE typeof({name}) = 'blob'")
            ).all()
            if rows:
                bind.execute(
                    sa.text(f"UPDATE accord_couplings SET {name} = :value WHERE id = :id"),
                    [{"id": i, "value": str(uuid.UUID(bytes=b))} for i, b in rows],
                )
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE accord_couplings RESET (fillfactor)")
    _attention(OLD_ATTENTION)
    op.drop_table("accord_pending")
