"""Effectiveness indicators of risk-minimisation measures (GVP XVI.B.4: process indicators,
such as clinical actions, and outcome indicators, the frequency of the adverse outcome),
computed from what the operational store holds about treated patients, by infusion quarter
(the trend) and over all quarters, against the target the register names.

An indicator the data cannot support says so (``status`` ``not computable`` with the reason)
rather than showing a number: the platform stores no patient location, so the proximity to the
treating centre in the first weeks cannot be measured here. Long-term follow-up visit completion
is counted over the follow-up visits (``cgtvigil.followup``) whose window has closed."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from cgtvigil.store import LtfuPlanRow, LtfuVisitRow, ObservationRow, TreatmentRow, consent_condition

__all__ = ["INDICATORS", "IndicatorDefinition", "IndicatorPoint", "IndicatorSeries", "compute_indicator"]

SMALL_CELL = 5  # fewer patients than this in a quarter: the value is withheld outside patient-level scope
LIVER_WEEKS = 12  # "monitor LFTs for at least 3 months" (domain.md §3.2, Zolgensma, Elevidys)
CRS_WINDOW_DAYS = 28
ALT_ULN = 40.0  # U/L when the observation carries no reference range (clinical CTCAE default)
# the observation kinds of a tocilizumab dose: with a CRS assessment (the agent kept in the kind)
TOCILIZUMAB_KINDS = ("masking_agent:tocilizumab", "tocilizumab")


class IndicatorPoint(BaseModel):
    """One infusion quarter of an indicator (``period`` "all" is every quarter together)."""

    period: str
    value: float | None
    numerator: int | None = None  # patients meeting the criterion (shares), or with the time measured
    denominator: int | None  # patients in the population (None: withheld)
    withheld: bool = False  # fewer than 5 patients outside patient-level scope
    met: bool | None = None  # whether the target is met


class IndicatorSeries(BaseModel):
    """An indicator of one measure of one product: its trend against its target."""

    indicator: str
    name: str
    kind: Literal["process", "outcome"]
    unit: Literal["share", "hours"]
    population: str
    target: float
    direction: Literal["at_least", "at_most"]
    status: Literal["computed", "no data", "not computable"]
    note: str = ""
    points: list[IndicatorPoint] = []
    overall: IndicatorPoint | None = None


@dataclass(frozen=True)
class _Patient:
    patient_id: str
    infusion: date


# a computation: patients of the product, their observations by kind -> (numerator, value) per patient,
# None when the patient is not in the population
_PerPatient = Callable[[_Patient, dict[str, list[ObservationRow]], datetime], tuple[bool, float | None] | None]


@dataclass(frozen=True)
class IndicatorDefinition:
    key: str
    name: str
    kind: Literal["process", "outcome"]
    unit: Literal["share", "hours"]
    population: str
    kinds: tuple[str, ...]  # observation kinds read
    per_patient: _PerPatient | None
    not_computable: str = ""
    per_visit: bool = False  # counted over long-term follow-up visits, not patients


def _start(p: _Patient) -> datetime:
    return datetime(p.infusion.year, p.infusion.month, p.infusion.day)


def _liver_on_schedule(p: _Patient, obs: dict[str, list[ObservationRow]], now: datetime) -> tuple[bool, None] | None:
    weeks = min(LIVER_WEEKS, (now - _start(p)).days // 7)
    if weeks < 1:
        return None  # no full week elapsed yet
    seen = {(o.time - _start(p)).days // 7 for k in ("alt", "ast") for o in obs.get(k, [])}
    return all(w in seen for w in range(weeks)), None


def _liver_injury(p: _Patient, obs: dict[str, list[ObservationRow]], now: datetime) -> tuple[bool, None] | None:
    end = _start(p) + timedelta(weeks=LIVER_WEEKS)
    high = any(o.value > 5 * (o.ref_high or ALT_ULN) for o in obs.get("alt", []) if o.time < end)
    return high, None


def _severe_crs(p: _Patient, obs: dict[str, list[ObservationRow]], now: datetime) -> tuple[bool, None] | None:
    end = _start(p) + timedelta(days=CRS_WINDOW_DAYS)
    return any(o.value >= 3 for o in obs.get("crs_grade", []) if o.time < end), None


def _crs_treatment(
    p: _Patient, obs: dict[str, list[ObservationRow]], now: datetime
) -> tuple[bool, float | None] | None:
    grade2 = sorted(o.time for o in obs.get("crs_grade", []) if o.value >= 2)
    if not grade2:
        return None  # no CRS of grade 2 or more: not in the population
    first = grade2[0]
    given = sorted(o.time for k in TOCILIZUMAB_KINDS for o in obs.get(k, []))  # not steroids nor antipyretics
    # a treatment recorded up to 24 h before the first grade >= 2 belongs to the same episode
    after = [t for t in given if t >= first - timedelta(hours=24)]
    if not after:
        return False, None
    return True, max(0.0, (after[0] - first).total_seconds() / 3600)


INDICATORS: dict[str, IndicatorDefinition] = {
    d.key: d
    for d in (
        IndicatorDefinition(
            "liver_tests_on_schedule",
            "Liver tests on schedule (ALT or AST every week of the first 12 weeks)",
            "process",
            "share",
            "treated patients with at least one full week since infusion",
            ("alt", "ast"),
            _liver_on_schedule,
        ),
        IndicatorDefinition(
            "acute_liver_injury_rate",
            "ALT above 5x ULN in the first 12 weeks (CTCAE v5 grade >= 3)",
            "outcome",
            "share",
            "treated patients",
            ("alt",),
            _liver_injury,
        ),
        IndicatorDefinition(
            "severe_crs_rate",
            "CRS grade >= 3 (ASTCT) in the first 28 days",
            "outcome",
            "share",
            "treated patients",
            ("crs_grade",),
            _severe_crs,
        ),
        IndicatorDefinition(
            "crs_treatment_hours",
            "Hours from the first CRS grade >= 2 to the first tocilizumab dose recorded (median)",
            "process",
            "hours",
            "treated patients with a CRS grade >= 2",
            ("crs_grade", *TOCILIZUMAB_KINDS),
            _crs_treatment,
        ),
        IndicatorDefinition(
            "proximity_first_weeks",
            "Within 2 hours of the treating centre in the first 2 weeks",
            "process",
            "share",
            "treated patients in their first 2 weeks",
            (),
            None,
            not_computable="the platform stores no patient location (an observation's 'location' is its place in the"
            " input file), so the proximity to the treating centre cannot be measured",
        ),
        IndicatorDefinition(
            "ltfu_visit_completion",
            "Long-term follow-up visits completed of those due",
            "process",
            "share",
            "long-term follow-up visits whose window has closed (replaced and not-required visits left out)",
            (),
            None,
            per_visit=True,
        ),
    )
}


def _quarter(d: date) -> str:
    return f"{d.year}Q{(d.month - 1) // 3 + 1}"


def _point(
    period: str,
    results: list[tuple[bool, float | None]],
    unit: str,
    target: float,
    direction: str,
    patient_level: bool,
) -> IndicatorPoint:
    n = len(results)
    hits = sum(1 for ok, _ in results if ok)
    if unit == "hours":
        times = [v for ok, v in results if ok and v is not None]
        value = statistics.median(times) if times else None
        numerator = len(times)
    else:
        value = hits / n if n else None
        numerator = hits
    if not patient_level and 0 < n < SMALL_CELL:
        return IndicatorPoint(period=period, value=None, denominator=None, withheld=True)
    met = None if value is None else (value >= target if direction == "at_least" else value <= target)
    return IndicatorPoint(period=period, value=value, numerator=numerator, denominator=n, met=met)


def compute_indicator(
    session: Session,
    product_id: str,
    indicator: str,
    target: float,
    direction: Literal["at_least", "at_most"],
    now: datetime,
    *,
    patient_level: bool,
    consented_only: bool,
) -> IndicatorSeries:
    """One indicator over the product's treated patients (already checked against the
    reader's scope), by infusion quarter; ``patient_level`` False withholds quarters of fewer
    than 5 patients (aggregate readers); ``consented_only`` leaves out the patients whose
    data-sharing consent is withdrawn or held (every reader but an administrator, issue 12)."""
    d = INDICATORS[indicator]
    head = dict(
        indicator=d.key,
        name=d.name,
        kind=d.kind,
        unit=d.unit,
        population=d.population,
        target=target,
        direction=direction,
    )
    if d.per_visit:
        per_quarter = _ltfu_visits(session, product_id, now, consented_only)
    elif d.per_patient is None:
        return IndicatorSeries(**head, status="not computable", note=d.not_computable)
    else:
        per_quarter = _per_patient(session, product_id, d.kinds, d.per_patient, now, consented_only)
    if not per_quarter:
        return IndicatorSeries(
            **head,
            status="no data",
            note=f"nothing of {product_id} in the population ({d.population}) in the store",
        )
    points = [_point(q, per_quarter[q], d.unit, target, direction, patient_level) for q in sorted(per_quarter)]
    overall = _point("all", [r for q in per_quarter.values() for r in q], d.unit, target, direction, patient_level)
    note = ""
    if indicator == "crs_treatment_hours":
        note = (
            "tocilizumab only, as recorded with the CRS assessments (corticosteroids and antipyretics are kept"
            " apart and not counted; a masking agent stored before the agent was kept names none and is not"
            " counted); patients with no tocilizumab recorded are in the population but not in the median"
        )
    if d.per_visit:
        note = "counted over visits (by the infusion quarter of the plan), not patients"
    return IndicatorSeries(**head, status="computed", note=note, points=points, overall=overall)


def _shared(consented_only: bool, patient_id: ColumnElement[str] | object) -> ColumnElement[bool]:
    return consent_condition("data_sharing", patient_id) if consented_only else true()


def _ltfu_visits(
    session: Session, product_id: str, now: datetime, consented_only: bool
) -> dict[str, list[tuple[bool, float | None]]]:
    """Each follow-up visit of the product's plans whose window closed before ``now``: done or not."""
    rows = session.execute(
        select(LtfuPlanRow.start, LtfuVisitRow.state)
        .join(LtfuVisitRow, LtfuVisitRow.plan_id == LtfuPlanRow.id)
        .where(
            LtfuPlanRow.product_id == product_id,
            LtfuVisitRow.closes < now.date(),
            LtfuVisitRow.state.not_in(("replaced", "not_required")),
            _shared(consented_only, LtfuPlanRow.patient_id),
        )
    )
    out: dict[str, list[tuple[bool, float | None]]] = defaultdict(list)
    for start, state in rows:
        out[_quarter(start)].append((state == "done", None))
    return out


def _per_patient(
    session: Session,
    product_id: str,
    kinds: tuple[str, ...],
    per_patient: _PerPatient,
    now: datetime,
    consented_only: bool,
) -> dict[str, list[tuple[bool, float | None]]]:
    """Each treated patient of the product in the indicator's population: its result."""
    patients = [
        _Patient(pid, day)
        for pid, day in session.execute(
            select(TreatmentRow.patient_id, TreatmentRow.infusion_date)
            .where(TreatmentRow.product_id == product_id, _shared(consented_only, TreatmentRow.patient_id))
            .order_by(TreatmentRow.patient_id, TreatmentRow.infusion_date)
        )
    ]
    first: dict[str, _Patient] = {}
    for p in patients:
        first.setdefault(p.patient_id, p)  # a patient's first infusion of the product
    by_patient: dict[str, dict[str, list[ObservationRow]]] = defaultdict(lambda: defaultdict(list))
    if first:
        rows = session.scalars(
            select(ObservationRow).where(
                ObservationRow.patient_id.in_(sorted(first)),
                ObservationRow.kind.in_(kinds),
                ObservationRow.superseded.is_(False),
            )
        )
        for o in rows:
            by_patient[o.patient_id][o.kind].append(o)
    per_quarter: dict[str, list[tuple[bool, float | None]]] = defaultdict(list)
    when = now.replace(tzinfo=None)
    for pid, p in first.items():
        result = per_patient(p, by_patient.get(pid, {}), when)
        if result is not None:
            per_quarter[_quarter(p.infusion)].append(result)
    return per_quarter
