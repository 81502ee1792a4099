"""Schema migrations of the operational store (Alembic), run by cgtvigil on its own engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

__all__ = ["MIGRATIONS", "migrate"]

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x63677476  # PostgreSQL advisory lock key: one migrator at a time ("cgtv")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _lock(connection: Connection) -> None:
    """Make this transaction the only migrator until it ends, taken before Alembic reads the
    current revision: several processes starting on one fresh database (server workers, a CLI
    command) otherwise all create the tables, and all but one fail (duplicate key)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    elif connection.dialect.name == "sqlite":
        if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # the database's write lock


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the latest), one process at a time."""
    cfg = _config()
    with engine.begin() as connection:
        _lock(connection)
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def new_revision(engine: Engine, message: str) -> None:
    """Developers: autogenerate a migration from the models against a database at head."""
    cfg = _config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.revision(cfg, message=message, autogenerate=True)
