"""Alembic environment for the operational store: migrations run on the connection that
cgtvigil passes in (``config.attributes["connection"]``), never on a URL read from a file."""

from alembic import context

from cgtvigil.store._operational import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs the alembic CLI directly
    raise RuntimeError("run migrations through cgtvigil (cgtvigil.store.migrate), which passes a connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
