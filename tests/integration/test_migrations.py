"""The Alembic migrations create exactly the schema of the models (an autogenerate
comparison finds nothing to do), on SQLite and PostgreSQL, and re-running them is a no-op."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cgtvigil.store import Base, migrate, operational_engine


def test_migrations_match_the_models(operational_url: str) -> None:
    engine = operational_engine(operational_url)
    migrate(engine)  # again: nothing to do
    with engine.connect() as con:
        diff = compare_metadata(MigrationContext.configure(con, opts={"compare_type": True}), Base.metadata)
        tables = set(inspect(con).get_table_names())
    assert diff == []
    assert {"patient", "observation", "alert", "audit_log", "app_user", "alembic_version"} <= tables
    engine.dispose()
