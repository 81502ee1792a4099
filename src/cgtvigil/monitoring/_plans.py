"""Risk-adaptive monitoring plans (domain.md §7.3): label-driven requirements per product class
plus measurement frequencies set by the patient's risk tier. Both tables are versioned,
documented project defaults (the label periods are from the June 2025 CAR-T labels [C S14],
Zolgensma [C S18] and Elevidys [S S16]); the frequencies are cgtvigil defaults, not guidance.

Risk tier: high if any of CAR-HEMATOTOX >= 2, m-EASIX above ``m_easix_high``, age >= 70, a
high/critical alert open now, or a forecast (``cgtvigil.forecasting``: the probability of CRS or
ICANS onset within the model's horizon) at or above ``forecast_high``; intermediate if the
product class is a CD19 or BCMA CAR-T with a higher CRS/ICANS rate (axi-cel, brexu-cel,
cilta-cel), any warning alert is open or the forecast is at or above ``forecast_intermediate``;
else low. The forecast thresholds (0.30 and 0.10, rules 0.2) are project defaults, not
validated cut-offs; 0.30 is near the 10 % alert rate of the course model's 5-day ICANS forecast
on the realistic simulator (0.325; issue 16).

Forecast alerts (rules 0.3, ``monitoring._forecast``): the risk of onset (grade >= 1) of CRS or
ICANS by the last day of the patient's risk curve (``forecast_days`` ahead, at most the model's
horizon) at or above ``forecast_alert`` raises a warning alert ``forecast_<target>``; the risk of
grade >= 3 by then at or above ``forecast_alert_severe`` a high alert ``forecast_<target>_severe``.
An outcome the patient has already reached raises none. Project defaults, not validated cut-offs:
the onset threshold is the high tier's (0.30); 0.15 for grade >= 3 is half of it, a rarer and
graver outcome, and has not been calibrated against any cohort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.model import Product
from cgtvigil.store import PlanRecordRow, utc_naive

__all__ = [
    "LabelRequirement",
    "MonitoringPlan",
    "PlanItem",
    "PlanRules",
    "compute_plan",
    "label_requirements",
    "record_plan",
]


class LabelRequirement(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    until_day: int
    source: str
    verified: bool = True


_DEFAULT_FREQUENCIES: dict[str, dict[str, float]] = {
    "low": {"temperature": 4, "vitals": 8, "ice_score": 12, "cbc": 24, "crp_ferritin": 48},
    "intermediate": {"temperature": 2, "vitals": 4, "ice_score": 8, "cbc": 24, "crp_ferritin": 24},
    "high": {"temperature": 0.5, "vitals": 2, "ice_score": 4, "cbc": 24, "crp_ferritin": 12},
}


class PlanRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = "cgtvigil-plan-rules-0.3"
    m_easix_high: float = Field(3.0, description="project default cut-off; m-EASIX cut-offs are UNCONFIRMED")
    # tier -> measurement -> hours between measurements, during the first 14 days (CAR-T)
    frequencies_hours: dict[str, dict[str, float]] = Field(default_factory=lambda: dict(_DEFAULT_FREQUENCIES))
    higher_risk_products: tuple[str, ...] = ("yescarta", "tecartus", "carvykti")
    forecast_high: float = Field(0.30, gt=0, le=1, description="forecast onset risk: high tier (project default)")
    forecast_intermediate: float = Field(0.10, gt=0, le=1, description="forecast onset risk: intermediate tier")
    forecast_days: int = Field(7, ge=1, le=28, description="days ahead of the risk curve (and of its alerts)")
    forecast_alert: float = Field(0.30, gt=0, le=1, description="forecast onset risk that alerts (warning)")
    forecast_alert_severe: float = Field(0.15, gt=0, le=1, description="forecast risk of grade >= 3 that alerts (high)")


def label_requirements(product: Product) -> list[LabelRequirement]:
    """Label-driven requirements by product (versioned with the product dictionary)."""
    if product.modality.value in ("CAR-T", "TCR-T"):
        return [
            LabelRequirement(text="daily monitoring", until_day=7, source="CAR-T labels from June 2025 [C S14]"),
            LabelRequirement(text="stay within reach of the treating facility", until_day=14, source="[C S14]"),
            LabelRequirement(text="no driving or hazardous machinery", until_day=14, source="[C S14]"),
        ]
    if product.id == "zolgensma":
        return [
            LabelRequirement(text="liver function tests and platelets", until_day=90, source="Zolgensma label [C S18]")
        ]
    if product.id == "elevidys":
        return [
            LabelRequirement(text="weekly liver function tests", until_day=90, source="[S S16]", verified=False),
            LabelRequirement(text="stay near an equipped facility", until_day=60, source="[S S16]", verified=False),
        ]
    if product.modality.value == "AAV-in-vivo":
        return [
            LabelRequirement(
                text="liver function tests (project default for AAV)",
                until_day=90,
                source="cgtvigil default",
                verified=False,
            )
        ]
    return []


@dataclass(frozen=True)
class PlanItem:
    measurement: str
    every_hours: float
    last: datetime | None
    due: datetime
    overdue: bool


@dataclass
class MonitoringPlan:
    patient: str
    tier: str
    reasons: list[str]
    day: int
    requirements: list[LabelRequirement]
    items: list[PlanItem] = field(default_factory=list)
    version: str = ""


def compute_plan(
    patient: str,
    product: Product,
    infusion: date,
    now: datetime,
    *,
    rules: PlanRules | None = None,
    car_hematotox: float | None = None,
    m_easix: float | None = None,
    age_years: float | None = None,
    open_alert_severities: tuple[str, ...] = (),
    last_measured: dict[str, datetime] | None = None,
    forecast: tuple[str, float] | None = None,
) -> MonitoringPlan:
    """The plan for one patient now: tier, its reasons, label requirements still in force, and
    for each measurement the interval, when it is due and whether it is overdue. ``forecast``
    is (what it forecasts, probability), e.g. ("ICANS grade >= 1 within 5 days", 0.34)."""
    rules = rules or PlanRules()
    reasons: list[str] = []
    if car_hematotox is not None and car_hematotox >= 2:
        reasons.append(f"CAR-HEMATOTOX {car_hematotox:g} (high risk)")
    if m_easix is not None and m_easix > rules.m_easix_high:
        reasons.append(f"m-EASIX {m_easix:.2f} > {rules.m_easix_high:g}")
    if age_years is not None and age_years >= 70:
        reasons.append(f"age {age_years:g}")
    if any(s in ("high", "critical") for s in open_alert_severities):
        reasons.append("high or critical alert open")
    if forecast is not None and forecast[1] >= rules.forecast_high:
        reasons.append(f"forecast {forecast[0]}: {forecast[1]:.0%} >= {rules.forecast_high:.0%}")
    tier = "high" if reasons else "low"
    if tier == "low":
        if forecast is not None and forecast[1] >= rules.forecast_intermediate:
            reasons.append(f"forecast {forecast[0]}: {forecast[1]:.0%} >= {rules.forecast_intermediate:.0%}")
        if product.id in rules.higher_risk_products:
            reasons.append(f"{product.brand}: higher CRS/ICANS rates")
        if "warning" in open_alert_severities:
            reasons.append("warning alert open")
        tier = "intermediate" if reasons else "low"
    day = (now.date() - infusion).days
    requirements = [r for r in label_requirements(product) if day <= r.until_day]
    plan = MonitoringPlan(patient, tier, reasons or ["no risk factor"], day, requirements, version=rules.version)
    if product.modality.value in ("CAR-T", "TCR-T") and 0 <= day <= 14:
        for measurement, hours in rules.frequencies_hours[tier].items():
            last = (last_measured or {}).get(measurement)
            due = (last + timedelta(hours=hours)) if last else now
            plan.items.append(PlanItem(measurement, hours, last, due, overdue=due < now))
    return plan


def record_plan(session: Session, plan: MonitoringPlan, now: datetime) -> bool:
    """Store the plan's tier when it changed since the last record (with its reasons);
    returns whether a change was recorded."""
    last = session.scalars(
        select(PlanRecordRow).where(PlanRecordRow.patient_id == plan.patient).order_by(PlanRecordRow.id.desc())
    ).first()
    if last is not None and last.tier == plan.tier:
        return False
    session.add(
        PlanRecordRow(
            patient_id=plan.patient,
            at=utc_naive(now),
            tier=plan.tier,
            previous_tier=last.tier if last else None,
            reasons=plan.reasons,
            rules_version=plan.version,
        )
    )
    return True
