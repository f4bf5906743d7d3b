"""accord run's schedule: next run, interval now (idle backoff), last result per mapping

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 14:20:00

One row per scheduled mapping, written by ``accord run`` after every run and read by
``accord status`` from any shell.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accord_schedule",
        sa.Column("mapping", sa.String(100), primary_key=True),
        sa.Column("next_run_at", sa.DateTime(), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_result", sa.String(20), nullable=False, server_default=""),
        sa.Column("last_records", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_message", sa.Text(), nullable=False, server_default=""),
        sa.Column("idle_runs", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("runs", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_run_id", sa.String(36), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("accord_schedule")
