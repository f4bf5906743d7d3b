"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 20:35:12.329760
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Rows that need attention; written for both dialects (no "= 1" on PostgreSQL booleans).
ATTENTION = sa.text(
    "(pending OR skipped OR result_to IN ('failure', 'deferred') "
    "OR result_from IN ('failure', 'deferred'))"
)


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accord_couplings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mapping", sa.String(length=100), nullable=False),
        sa.Column("local_key", sa.String(length=255), nullable=False),
        sa.Column("integration_key", sa.String(length=255), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("local_version", sa.DateTime(), nullable=True),
        sa.Column("integration_version", sa.DateTime(), nullable=True),
        sa.Column("result_to", sa.String(length=10), nullable=False),
        sa.Column("job_to", sa.String(length=36), nullable=True),
        sa.Column("error_to", sa.Text(), nullable=False),
        sa.Column("result_from", sa.String(length=10), nullable=False),
        sa.Column("job_from", sa.String(length=36), nullable=True),
        sa.Column("error_from", sa.Text(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("last_values", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("coupled_at", sa.DateTime(), nullable=True),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mapping", "integration_key", name="uq_coupling_integration"),
        sa.UniqueConstraint("mapping", "local_key", name="uq_coupling_local"),
    )
    with op.batch_alter_table("accord_couplings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_coupling_attention",
            ["mapping"],
            unique=False,
            sqlite_where=ATTENTION,
            postgresql_where=ATTENTION,
        )

    op.create_table(
        "accord_job_errors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("source_key", sa.String(length=255), nullable=False),
        sa.Column("destination_key", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("accord_job_errors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accord_job_errors_job_id"), ["job_id"], unique=False)

    op.create_table(
        "accord_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("mapping", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("direction", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("inserted", sa.Integer(), nullable=False),
        sa.Column("modified", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("coupled", sa.Integer(), nullable=False),
        sa.Column("uncoupled", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("accord_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_mapping", ["mapping", "started_at"], unique=False)
        batch_op.create_index("ix_jobs_started", ["started_at"], unique=False)

    op.create_table(
        "accord_key_series",
        sa.Column("table_ref", sa.String(length=255), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("table_ref"),
    )
    op.create_table(
        "accord_watermarks",
        sa.Column("mapping", sa.String(length=100), nullable=False),
        sa.Column("side", sa.String(length=12), nullable=False),
        sa.Column("value", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mapping", "side"),
    )


def downgrade() -> None:
    op.drop_table("accord_watermarks")
    op.drop_table("accord_key_series")
    with op.batch_alter_table("accord_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_started")
        batch_op.drop_index("ix_jobs_mapping")

    op.drop_table("accord_jobs")
    with op.batch_alter_table("accord_job_errors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accord_job_errors_job_id"))

    op.drop_table("accord_job_errors")
    with op.batch_alter_table("accord_couplings", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_coupling_attention", sqlite_where=ATTENTION, postgresql_where=ATTENTION
        )

    op.drop_table("accord_couplings")
