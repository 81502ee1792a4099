"""Risk-adaptive monitoring plans: label requirements by product, tiers from risk factors and
alerts, due/overdue items, and tier changes recorded with reasons (project defaults)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from cgtvigil.monitoring import compute_plan, record_plan
from cgtvigil.store import PlanRecordRow, load_products, operational_engine, session_factory

PRODUCTS = load_products().by_id()
NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
DAY0 = date(2026, 1, 1)


def test_car_t_plan_tiers_and_due_items() -> None:
    low = compute_plan("P-1", PRODUCTS["breyanzi"], DAY0, NOW, car_hematotox=1, age_years=55)
    assert low.tier == "low" and low.day == 4
    assert [r.text for r in low.requirements] == [
        "daily monitoring",
        "stay within reach of the treating facility",
        "no driving or hazardous machinery",
    ]
    temp = next(i for i in low.items if i.measurement == "temperature")
    assert temp.every_hours == 4 and temp.overdue is False and temp.due == NOW  # never measured: due now
    inter = compute_plan("P-2", PRODUCTS["yescarta"], DAY0, NOW)
    assert inter.tier == "intermediate" and "Yescarta: higher CRS/ICANS rates" in inter.reasons
    last = {"temperature": NOW - timedelta(hours=3)}
    high = compute_plan(
        "P-3", PRODUCTS["kymriah"], DAY0, NOW, car_hematotox=3, open_alert_severities=("high",), last_measured=last
    )
    assert high.tier == "high" and high.reasons == ["CAR-HEMATOTOX 3 (high risk)", "high or critical alert open"]
    temp = next(i for i in high.items if i.measurement == "temperature")
    assert temp.every_hours == 0.5 and temp.overdue  # 3 h since the last reading
    later = compute_plan("P-1", PRODUCTS["breyanzi"], DAY0, NOW + timedelta(days=10))
    assert [r.text for r in later.requirements] == [
        "stay within reach of the treating facility",
        "no driving or hazardous machinery",
    ]
    assert compute_plan("P-1", PRODUCTS["breyanzi"], DAY0, NOW + timedelta(days=20)).items == []


def test_aav_plan_and_unverified_requirements() -> None:
    plan = compute_plan("P-4", PRODUCTS["elevidys"], DAY0, NOW)
    assert [(r.text, r.until_day, r.verified) for r in plan.requirements] == [
        ("weekly liver function tests", 90, False),
        ("stay near an equipped facility", 60, False),
    ]
    assert plan.items == []  # the CAR-T measurement frequencies do not apply


def test_tier_changes_are_recorded_with_reasons(operational_url: str) -> None:
    engine = operational_engine(operational_url)
    sessions = session_factory(engine)
    with sessions() as s:
        assert record_plan(s, compute_plan("P-5", PRODUCTS["kymriah"], DAY0, NOW), NOW)
        assert not record_plan(s, compute_plan("P-5", PRODUCTS["kymriah"], DAY0, NOW), NOW)
        worse = compute_plan("P-5", PRODUCTS["kymriah"], DAY0, NOW, open_alert_severities=("critical",))
        assert record_plan(s, worse, NOW + timedelta(hours=1))
        rows = s.scalars(select(PlanRecordRow).order_by(PlanRecordRow.id)).all()
        assert [(r.tier, r.previous_tier, r.reasons) for r in rows] == [
            ("low", None, ["no risk factor"]),
            ("high", "low", ["high or critical alert open"]),
        ]
    engine.dispose()


def test_forecast_sets_the_tier_at_versioned_thresholds() -> None:
    """Rules 0.2 (kept in 0.3, which adds the forecast alert thresholds): a forecast at or above
    0.30 makes the tier high, at or above 0.10 intermediate."""
    what = "ICANS grade >= 1 within 5 days"
    tiers = [
        compute_plan("P-6", PRODUCTS["breyanzi"], DAY0, NOW, forecast=(what, p)).tier for p in (0.05, 0.10, 0.29, 0.30)
    ]
    assert tiers == ["low", "intermediate", "intermediate", "high"]
    high = compute_plan("P-6", PRODUCTS["breyanzi"], DAY0, NOW, forecast=(what, 0.42))
    assert high.reasons == ["forecast ICANS grade >= 1 within 5 days: 42% >= 30%"]
    assert high.version == "cgtvigil-plan-rules-0.3"
