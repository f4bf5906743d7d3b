"""leases: one run at a time per mapping

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accord_leases",
        sa.Column("mapping", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mapping"),
    )


def downgrade() -> None:
    op.drop_table("accord_leases")
