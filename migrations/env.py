"""Alembic environment: harborlite hands in an open connection (see harborlite/db/engine.py)."""

from __future__ import annotations

from alembic import context

from harborlite.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `harborlite migrate` or `harborlite serve`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
