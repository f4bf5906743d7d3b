"""delta tokens: where a change-tracking read of a source side starts next

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 14:20:00

``delta_token``: for a source whose table tracks changes (Dataverse change tracking), the
token the next incremental pass reads the changes from, stored with the watermark it was
read beside (the watermark keeps moving, so that reading by modified-on time can take over).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accord_watermarks") as batch:
        batch.add_column(sa.Column("delta_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accord_watermarks") as batch:
        batch.drop_column("delta_token")
