"""A store damaged by the concurrency race of reliability review D7 (§1.3 row 3.18: 20 values
for one slot, 15 of them current) is repaired by migration 0002: the latest value of each slot
stays current, the others are kept as superseded, and the new partial unique index refuses a
second current value from then on. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.exc import IntegrityError

from cgtvigil.store import ObservationRow, migrate


def _row(value: float, minute: int = 0) -> dict[str, object]:
    return {
        "patient_id": "P-0001",
        "kind": "temperature",
        "value": value,
        "unit": "Cel",
        "time": datetime(2026, 11, 21, 8, minute),
        "source": "omh",
        "device": "patch",
        "location": "body[0]",
        "received_at": datetime(2026, 11, 21, 9, 0),
        "superseded": False,
        "is_correction": False,
    }


def test_migration_0002_keeps_the_latest_of_several_current_values(operational_url: str) -> None:
    engine = create_engine(operational_url)
    migrate(engine, "0001")
    with engine.begin() as con:  # what the race left: three current values at one slot
        con.execute(insert(ObservationRow.__table__), [_row(38.0), _row(38.5), _row(39.1), _row(37.0, minute=2)])
    migrate(engine)
    with engine.connect() as con:
        rows = con.execute(select(ObservationRow.value, ObservationRow.superseded).order_by(ObservationRow.id)).all()
    assert [tuple(r) for r in rows] == [(38.0, True), (38.5, True), (39.1, False), (37.0, False)]
    with pytest.raises(IntegrityError), engine.begin() as con:
        con.execute(insert(ObservationRow.__table__), [_row(36.9)])
    with engine.begin() as con:  # a correction back to an earlier value may now be stored
        con.execute(insert(ObservationRow.__table__), [{**_row(38.0), "superseded": True}])
    engine.dispose()
