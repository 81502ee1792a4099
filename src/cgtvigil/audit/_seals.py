"""Row seals: every row of a security-relevant table (users, gateways, patients, treatments,
alerts and their history) carries a keyed digest of its content, written by the application
whenever it inserts or updates the row through the ORM. A role changed, a patient moved to
another site, an alert set to resolved, a signal moved to another state or a signed transition
rewritten with SQL behind the application's back no longer matches its seal, and
``verify_audit`` names the row."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import set_committed_value

from cgtvigil.audit._keys import digest
from cgtvigil.store import SEALED_TABLES, Base, utc_naive

__all__ = ["check_seals", "seal_of"]


def _value(v: Any) -> Any:
    if isinstance(v, bytes | bytearray | memoryview):  # a stored document: sealed by its digest
        return "sha256:" + hashlib.sha256(bytes(v)).hexdigest()
    if isinstance(v, datetime) and v.tzinfo is not None:
        return utc_naive(v).isoformat()
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def seal_of(table: Table, values: dict[str, Any]) -> str:
    """The seal of one row given its column values (the seal column itself left out)."""
    body = [table.name] + [[c.name, _value(values.get(c.name))] for c in table.columns if c.name != "seal"]
    return digest(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str))


# the revision that gave a table its seal column (the others: 0003)
_SEALED_SINCE = dict.fromkeys(
    ("signal", "signal_event", "signal_evidence", "signal_share", "periodic_report", "periodic_report_share"), "0010"
)


def _sealed_tables() -> dict[str, Table]:
    return {name: Base.metadata.tables[name] for name in SEALED_TABLES}


def _on_write(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
    table = mapper.local_table
    assert isinstance(table, Table)
    values = {c.name: getattr(target, mapper.get_property_by_column(c).key) for c in table.columns if c.name != "seal"}
    seal = seal_of(table, values)
    pk = list(table.primary_key.columns)
    connection.execute(table.update().where(*(c == values[c.name] for c in pk)).values(seal=seal))
    set_committed_value(target, "seal", seal)


def _install() -> None:
    tables = set(SEALED_TABLES)
    for mapper in Base.registry.mappers:
        name = getattr(mapper.local_table, "name", None)
        if name in tables and not event.contains(mapper, "after_insert", _on_write):
            event.listen(mapper, "after_insert", _on_write)
            event.listen(mapper, "after_update", _on_write)


_install()


def check_seals(session: Session) -> Iterator[str]:
    """One problem per row whose content does not match its seal, or that has none."""
    for name, table in _sealed_tables().items():
        pk = list(table.primary_key.columns)
        for row in session.execute(select(table).order_by(*pk)).mappings():
            key = ", ".join(str(row[c.name]) for c in pk)
            if row["seal"] is None:
                since = _SEALED_SINCE.get(name, "0003")
                yield f"{name} {key}: not sealed (written outside the application, or before revision {since})"
            elif row["seal"] != seal_of(table, dict(row)):
                yield f"{name} {key}: its content does not match its seal (changed outside the application)"
