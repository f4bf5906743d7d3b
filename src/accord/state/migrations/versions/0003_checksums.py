"""checksums and read times: change detection that does not rely on clocks alone

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:40:00

``local_hash`` / ``integration_hash``: a checksum of each record's mapped values as of the last
synchronization, so that an edit within the same (coarse) clock tick as Accord's own write is
still seen. ``read_at``: when the pass that set a watermark started reading, so the overlap
window below a watermark is re-read only while a late commit is still possible.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accord_couplings") as batch:
        batch.add_column(sa.Column("local_hash", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("integration_hash", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("accord_watermarks") as batch:
        batch.add_column(sa.Column("read_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accord_watermarks") as batch:
        batch.drop_column("read_at")
    with op.batch_alter_table("accord_couplings") as batch:
        batch.drop_column("integration_hash")
        batch.drop_column("local_hash")
