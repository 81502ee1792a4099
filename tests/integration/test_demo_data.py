"""The demo seeds no future data (issue 10 item 8): `cgtvigil demo`'s monitored patients get
readings, labs and grades up to the moment it runs, none later, and nothing is quarantined."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from cgtvigil.cli._demo import seed_demo_operational
from cgtvigil.config import Settings
from cgtvigil.store import ObservationRow, QuarantineRow, load_products, operational_engine, session_factory


def test_the_demo_stores_nothing_dated_after_it_ran(tmp_path: Path) -> None:
    """Before the fix each patient's labs (07:00) and grades (08:00) of the current day were
    stored up to 8 hours ahead of the clock."""
    url = f"sqlite:///{tmp_path / 'operational.db'}"
    seed_demo_operational(Settings(operational_url=url), load_products(), patients=4)
    ran = datetime.now(UTC).replace(tzinfo=None)
    engine = operational_engine(url)
    with session_factory(engine)() as s:
        latest = s.scalar(select(func.max(ObservationRow.time)))
        kinds = set(s.scalars(select(ObservationRow.kind).distinct()))
        quarantined = s.scalar(select(func.count()).select_from(QuarantineRow))
    engine.dispose()
    assert latest is not None and latest <= ran
    assert {"temperature", "crp", "wbc", "crs_grade", "icans_grade"} <= kinds
    assert quarantined == 0
