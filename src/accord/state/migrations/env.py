"""Alembic environment: migrations run on the connection the state store hands over."""

from __future__ import annotations

from alembic import context

from accord.state.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table="accord_alembic_version",
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
