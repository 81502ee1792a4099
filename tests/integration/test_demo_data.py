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


def test_the_demo_patients_have_a_risk_curve(tmp_path: Path) -> None:
    """`cgtvigil demo` fits SYNTHETIC CRS and ICANS course models with refits (issue 16): every
    demo patient gets four curves with a band, and the forecast alerts are evaluated."""
    from cgtvigil.cli._demo import fit_demo_models
    from cgtvigil.monitoring import forecast_for, load_forecast_models

    url = f"sqlite:///{tmp_path / 'operational.db'}"
    models = fit_demo_models(tmp_path / "models", bootstrap=2)
    seed_demo_operational(Settings(operational_url=url, forecast_model=models), load_products(), patients=3)
    engine = operational_engine(url)
    with session_factory(engine)() as s:
        patients = sorted(set(s.scalars(select(ObservationRow.patient_id).distinct())))
        found = [forecast_for(s, p, load_forecast_models(models)) for p in patients]
    engine.dispose()
    assert len(found) == 3 and all(len(f.curves) == 4 for f in found)
    assert all(c.points[0].low is not None for f in found for c in f.curves)
