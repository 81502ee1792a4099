"""Predictive monitoring (issue 16): a patient's risk curve from the deployment's fitted
forecasting models, and the alert raised when a forecast crosses a threshold of the plan rules.

- Models: the deployment names a model file written by ``cgtvigil forecast fit`` or a folder of
  them (e.g. one course model for CRS and one for ICANS). A file fitted with ``--bootstrap N``
  carries N refits on bootstrap resamples of its training patients: the band of the curve is
  their 90 % central interval. A file without refits draws no band and says so.
- Daily features: one aggregate query per patient (daily maximum of each measure since the
  infusion, by UTC day since the infusion date, current values only; a tocilizumab or
  corticosteroid dose recorded as a masking agent marks its day), converted to the daily
  table's canonical units, with the age at infusion and the product from the registry; a
  measure in a unit the clinical tables do not know is left out and named. The curve starts
  on the patient's last day with data.
- Curves, band and contributions: :func:`cgtvigil.forecasting.risk_outlook`. The outlooks are
  kept in memory per model version and daily roll-up, so a page shown again without new data
  does not predict again.
- Alerts (:class:`PlanRules` 0.3): ``forecast_<target>`` (warning) when the risk of onset by the
  last day of the curve is at or above ``forecast_alert``, ``forecast_<target>_severe`` (high)
  for grade >= 3 and ``forecast_alert_severe``; an outcome already reached raises none. The
  usual life-cycle (``raise_alert``): one active alert per patient and rule, notifications
  queued, every change an event.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cgtvigil.clinical import ANALYTES
from cgtvigil.errors import CgtVigilError
from cgtvigil.forecasting import (
    FEATURE_SOURCES,
    CourseForecaster,
    DailyTable,
    HazardForecaster,
    OutlookCurve,
    ToxicityForecaster,
    risk_outlook,
)
from cgtvigil.monitoring._alerts import raise_alert
from cgtvigil.monitoring._plans import PlanRules
from cgtvigil.monitoring._queries import _patient
from cgtvigil.monitoring._registry import current_treatment
from cgtvigil.monitoring._rules import MonitoringRules
from cgtvigil.store import AlertRow, ObservationRow, PatientRow, Scope, TreatmentRow

__all__ = [
    "BAND_LEVEL",
    "DailyRollup",
    "ForecastModels",
    "PatientForecast",
    "RiskCurveView",
    "daily_rollup",
    "evaluate_forecast",
    "forecast_for",
    "load_forecast_models",
    "patient_forecast",
    "plan_forecast",
]

BAND_LEVEL = 0.9
SEVERE = 3
# observation kind -> (daily-table column, clinical analyte for the unit; None for a grade)
DAILY_KINDS: dict[str, tuple[str, str | None]] = {
    "temperature": ("max_temp_c", "temperature"),
    "crp": ("crp_mg_l", "crp"),
    "ferritin": ("ferritin_ng_ml", "ferritin"),
    "il6": ("il6_pg_ml", "il6"),
    "pct": ("pct_ng_ml", "pct"),
    "wbc": ("wbc_1e9_l", "wbc"),
    "plt": ("plt_1e9_l", "plt"),
    "anc": ("anc_1e9_l", "anc"),
    "hb": ("hb_g_dl", "hb"),
    "ldh": ("ldh_u_l", "ldh"),
    "creatinine": ("creatinine_mg_dl", "creatinine"),
    "crs_grade": ("crs_grade", None),
    "icans_grade": ("icans_grade", None),
    "masking_agent:tocilizumab": ("tocilizumab", None),  # a dose that day: 1
    "masking_agent:corticosteroid": ("steroids", None),
}
TREATMENTS = ("tocilizumab", "steroids")
Fitted = ToxicityForecaster | HazardForecaster | CourseForecaster


@dataclass(frozen=True)
class ForecastModel:
    file: str
    family: str
    forecaster: Fitted
    refits: tuple[Fitted, ...]
    software: str


@dataclass(frozen=True)
class ForecastModels:
    """The deployment's fitted models; ``key`` names their files and versions (modification
    times), so that outlooks kept in memory are dropped when a file is replaced."""

    models: tuple[ForecastModel, ...]
    source: str
    key: tuple[tuple[str, float], ...]


def _read_model(path: Path) -> ForecastModel:
    import pickle

    import joblib

    try:
        saved = joblib.load(path)
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, AttributeError, ImportError, OSError) as exc:
        raise CgtVigilError(f"{path}: not a model file written by 'cgtvigil forecast fit' ({exc}).") from exc
    forecaster = saved.get("forecaster") if isinstance(saved, dict) else None
    if not isinstance(forecaster, Fitted) or not hasattr(forecaster, "estimator_"):
        raise CgtVigilError(f"{path}: not a model file written by 'cgtvigil forecast fit'.")
    refits = tuple(r for r in saved.get("bootstrap", ()) if isinstance(r, type(forecaster)))
    family = "course" if isinstance(forecaster, CourseForecaster) else "hazard"
    if isinstance(forecaster, ToxicityForecaster):
        family = "window"
    return ForecastModel(path.name, family, forecaster, refits, str(saved.get("software", "")))


_LOADED: dict[tuple[tuple[str, float], ...], ForecastModels] = {}
_LOCK = threading.Lock()


def load_forecast_models(path: Path) -> ForecastModels:
    """The model file at ``path``, or every ``*.joblib`` file of the folder ``path`` (sorted by
    name); read once per version of the files. Load only model files you trust (pickle)."""
    files = sorted(path.glob("*.joblib")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        what = "holds no .joblib model file" if path.is_dir() else "does not exist"
        raise CgtVigilError(f"{path}: the forecasting model {what} (write one with 'cgtvigil forecast fit').")
    key = tuple((str(f.resolve()), f.stat().st_mtime) for f in files)
    with _LOCK:
        found = _LOADED.get(key)
    if found is None:
        found = ForecastModels(tuple(_read_model(f) for f in files), str(path), key)
        with _LOCK:
            _LOADED.clear()  # one deployment, one set of models
            _LOADED[key] = found
    return found


class DailyRollup(BaseModel):
    """A patient's daily maxima since the infusion, in the daily table's canonical units."""

    patient_id: str
    days: list[int] = Field(description="days since infusion with any measure, ascending")
    columns: dict[str, list[float | None]] = Field(
        default_factory=dict, description="canonical column -> value per day (None: none)"
    )
    unknown_units: list[str] = Field(default_factory=list, description="'kind unit' left out")
    age: float | None = Field(None, description="years at infusion (registry birth date)")
    product: str = Field("", description="product id of the latest treatment")

    def key(self) -> tuple[Any, ...]:
        return (
            tuple(self.days),
            tuple((k, tuple(v)) for k, v in sorted(self.columns.items())),
            self.age,
            self.product,
        )

    def table(self) -> DailyTable:
        n = len(self.days)
        values = {
            k: np.array([np.nan if v is None else v for v in self.columns.get(k, [None] * n)], dtype=np.float64)
            for k in (*FEATURE_SOURCES, "crs_grade", "icans_grade", *TREATMENTS)
        }
        values["age"] = np.full(n, np.nan if self.age is None else self.age)
        text = {"product": np.full(n, self.product)}
        return DailyTable(np.full(n, self.patient_id), np.asarray(self.days, dtype=np.int64), values, text)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _rollup(session: Session, patient_id: str, treatment: TreatmentRow) -> DailyRollup:
    infusion = treatment.infusion_date
    person = session.get(PatientRow, patient_id)
    birth = person.birth_date if person is not None else None
    age = round((infusion - birth).days / 365.25, 1) if birth is not None else None
    o = ObservationRow
    day = func.date(o.time)
    rows = session.execute(
        select(day, o.kind, o.unit, func.max(o.value))
        .where(
            o.patient_id == patient_id,
            o.superseded.is_(False),
            o.kind.in_(DAILY_KINDS),
            o.time >= datetime.combine(infusion, datetime.min.time()),
        )
        .group_by(day, o.kind, o.unit)
    ).all()
    by_day: dict[int, dict[str, float]] = {}
    unknown: set[str] = set()
    for d, kind, unit, top in rows:
        column, analyte = DAILY_KINDS[kind]
        value = float(top)
        if column in TREATMENTS:
            value = 1.0 if value >= 1 else 0.0
        elif analyte is not None:
            spec = ANALYTES[analyte]
            if unit not in spec.units:
                unknown.add(f"{kind} {unit}")
                continue
            target = FEATURE_SOURCES[column]
            value = float(spec.units[target][1](spec.units[unit][0](np.float64(value))))
        slot = by_day.setdefault((_day(d) - infusion).days, {})
        slot[column] = max(value, slot.get(column, value))
    days = sorted(by_day)
    columns = {c: [by_day[d].get(c) for d in days] for c in sorted({c for slot in by_day.values() for c in slot})}
    return DailyRollup(
        patient_id=patient_id,
        days=days,
        columns=columns,
        unknown_units=sorted(unknown),
        age=age,
        product=treatment.product_id,
    )


def daily_rollup(session: Session, scope: Scope, patient_id: str) -> DailyRollup:
    """The patient's daily roll-up (one aggregate query); NotFoundError outside the scope."""
    _, treatment = _patient(session, scope, patient_id)
    if treatment is None:
        return DailyRollup(patient_id=patient_id, days=[])
    return _rollup(session, patient_id, treatment)


class RiskPoint(BaseModel):
    day: int = Field(description="day since infusion")
    ahead: int = Field(description="days after the forecast's origin")
    risk: float
    low: float | None = None
    high: float | None = None


class DriverView(BaseModel):
    input: str
    label: str
    delta: float = Field(description="forecast minus the forecast with this input set aside (probability)")


class RiskCurveView(BaseModel):
    target: str = Field(description="CRS or ICANS")
    min_grade: int
    outcome: str
    family: str
    model: str = Field(description="model file")
    trained_on: int = Field(description="training patients")
    refits: int = Field(description="bootstrap refits behind the band (0: no band)")
    origin_day: int
    points: list[RiskPoint]
    reached: bool = Field(description="the outcome already happened: the curve is not a forecast")
    threshold: float = Field(description="the alert threshold of the plan rules")
    crosses: bool
    drivers: list[DriverView]


class PatientForecast(BaseModel):
    patient_id: str
    configured: bool
    note: str = ""
    curves: list[RiskCurveView] = Field(default_factory=list)
    days_with_data: int = 0
    unknown_units: list[str] = Field(default_factory=list)
    band: str = ""
    contributions: str = ""
    rules_version: str = ""


_BAND = (
    "{level:.0%} band: the central interval of the curves of the model refitted on bootstrap resamples of its "
    "training patients (how much the fit depends on the training sample)"
)
_CONTRIB = (
    "change in the risk by the last day shown when the input is set aside as not measured (labs, temperature and "
    "age take the model's imputation, a grade counts as 0, a treatment as not given, the product as not known); "
    "the day since infusion is not listed"
)
_CACHE: OrderedDict[tuple[Any, ...], list[tuple[ForecastModel, OutlookCurve]]] = OrderedDict()
_CACHE_SIZE = 512


def _outlooks(models: ForecastModels, rollup: DailyRollup, days: int) -> list[tuple[ForecastModel, OutlookCurve]]:
    key = (models.key, rollup.patient_id, rollup.key(), days)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    table = rollup.table()
    found = [
        (m, c)
        for m in models.models
        for c in risk_outlook(m.forecaster, table, refits=m.refits, days=days, level=BAND_LEVEL)
    ]
    with _LOCK:
        _CACHE[key] = found
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found


def _forecast(
    patient_id: str, infusion: date | None, rollup: DailyRollup, models: ForecastModels | None, rules: PlanRules
) -> PatientForecast:
    if models is None:
        return PatientForecast(patient_id=patient_id, configured=False, note="no forecasting model is configured")
    out = PatientForecast(
        patient_id=patient_id,
        configured=True,
        days_with_data=len(rollup.days),
        unknown_units=rollup.unknown_units,
        band=_BAND.format(level=BAND_LEVEL),
        contributions=_CONTRIB,
        rules_version=rules.version,
    )
    if infusion is None:
        out.note = "no infusion is registered for this patient: the forecast counts days from the infusion"
        return out
    if not rollup.days:
        out.note = "no temperature, lab or grade since the infusion: nothing to forecast from"
        return out
    for m, c in _outlooks(models, rollup, rules.forecast_days):
        severe = c.min_grade >= SEVERE
        threshold = rules.forecast_alert_severe if severe else rules.forecast_alert
        points = [
            RiskPoint(
                day=c.day + k,
                ahead=k,
                risk=r,
                low=c.low[i] if c.low is not None else None,
                high=c.high[i] if c.high is not None else None,
            )
            for i, (k, r) in enumerate(zip(c.ahead, c.risk, strict=True))
        ]
        out.curves.append(
            RiskCurveView(
                target=c.target.upper(),
                min_grade=c.min_grade,
                outcome=f"grade ≥ {c.min_grade}" if c.min_grade > 1 else "onset (grade ≥ 1)",
                family=c.family,
                model=m.file,
                trained_on=int(m.forecaster.n_patients_),
                refits=len(m.refits),
                origin_day=c.day,
                points=points,
                reached=c.reached,
                threshold=threshold,
                crosses=not c.reached and points[-1].risk >= threshold,
                drivers=[DriverView(input=d.input, label=d.label, delta=d.delta) for d in c.contributions],
            )
        )
    return out


def patient_forecast(
    session: Session, scope: Scope, patient_id: str, models: ForecastModels | None, rules: PlanRules | None = None
) -> PatientForecast:
    """The patient's risk curves (scope checked first: NotFoundError outside it)."""
    _, treatment = _patient(session, scope, patient_id)
    infusion = treatment.infusion_date if treatment else None
    empty = DailyRollup(patient_id=patient_id, days=[])
    rollup = _rollup(session, patient_id, treatment) if treatment is not None and models is not None else empty
    return _forecast(patient_id, infusion, rollup, models, rules or PlanRules())


def forecast_for(
    session: Session, patient: str, models: ForecastModels, rules: PlanRules | None = None
) -> PatientForecast:
    """The patient's risk curves without a reader's scope: for the system's own evaluation
    (forecast alerts, the monitoring plan's tier), never for a page or an API reply."""
    rules = rules or PlanRules()
    treatment = current_treatment(session, patient)
    infusion = treatment.infusion_date if treatment else None
    rollup = _rollup(session, patient, treatment) if treatment is not None else DailyRollup(patient_id=patient, days=[])
    return _forecast(patient, infusion, rollup, models, rules)


def evaluate_forecast(
    session: Session,
    patient: str,
    models: ForecastModels,
    *,
    now: datetime,
    rules: MonitoringRules | None = None,
    plan_rules: PlanRules | None = None,
) -> list[AlertRow]:
    """Raise (or update) the forecast alerts of the module docstring; returns them (the caller
    commits). Run after new observations of the patient are stored."""
    plan_rules = plan_rules or PlanRules()
    rules = rules or MonitoringRules()
    found = forecast_for(session, patient, models, plan_rules)
    alerts = []
    for c in found.curves:
        if not c.crosses:
            continue
        last = c.points[-1]
        band = f", {BAND_LEVEL:.0%} band {last.low:.0%}-{last.high:.0%}" if last.low is not None else ""
        message = (
            f"forecast {last.risk:.0%} risk of {c.target} {c.outcome} by day {last.day} (from day {c.origin_day}"
            f"{band}; {c.family} model {c.model}) >= {c.threshold:.0%} ({plan_rules.version})"
        )
        rule = f"forecast_{c.target.lower()}" + ("_severe" if c.min_grade >= SEVERE else "")
        severity = "high" if c.min_grade >= SEVERE else "warning"
        alerts.append(raise_alert(session, patient, rule, severity, message, now, rules)[0])
    return alerts


def plan_forecast(forecast: PatientForecast) -> tuple[str, float] | None:
    """The highest onset risk not yet reached, as ``compute_plan(forecast=...)`` takes it."""
    onset = [c for c in forecast.curves if not c.reached and c.min_grade < SEVERE and c.points]
    if not onset:
        return None
    top = max(onset, key=lambda c: c.points[-1].risk)
    return f"{top.target} {top.outcome} by day {top.points[-1].day}", top.points[-1].risk
