"""Retention and equity of long-term follow-up: Kaplan–Meier curves of the time from infusion
to loss to follow-up (lifelines' ``KaplanMeierFitter``; deaths, withdrawals from safety
follow-up and the end of the plan censor) and missed-visit rates with Wilson 95 % intervals, by
site, country, age band, sex, race, ethnicity or distance to the treating centre; a log-rank
test across the groups. Counts go through the one suppression path
(:func:`cgtvigil.privacy.suppress_small_cells`); a group with a suppressed count shows neither
its rate nor its curve. Aggregates outside a care team's own patients leave out patients whose
data-sharing consent is withdrawn or held (the store's consent condition)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select, true
from sqlalchemy.orm import Session

from cgtvigil.errors import NotInScopeError, ValidationError
from cgtvigil.followup._queries import VisitView, _view, lost_patients
from cgtvigil.model import LtfuRuleSet
from cgtvigil.privacy import suppress_small_cells
from cgtvigil.store import (
    ConsentStateRow,
    LtfuPatientRow,
    LtfuPlanRow,
    LtfuSiteRow,
    LtfuVisitRow,
    PatientRow,
    Scope,
    TransferRow,
    TreatmentRow,
    consent_condition,
    patient_condition,
    product_condition,
)

__all__ = [
    "GROUPINGS",
    "CohortPatient",
    "GroupRetention",
    "KmPoint",
    "Retention",
    "cohort_patients",
    "retention",
    "wilson",
]

Grouping = Literal["site", "country", "age_band", "sex", "race", "ethnicity", "distance"]
GROUPINGS: tuple[Grouping, ...] = ("site", "country", "age_band", "sex", "race", "ethnicity", "distance")
SUPPRESS_BELOW = 5


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval of a proportion k/n (95 % by default).

    Examples
    --------
    >>> [round(x, 4) for x in wilson(10, 100)]
    [0.0552, 0.1744]
    """
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class CohortPatient:
    """One patient of the retention analysis with their groups and follow-up time."""

    id: str
    groups: dict[str, str]
    years: float  # infusion to loss, or to censoring
    lost: bool
    visits: list[VisitView]
    distance_km: float | None
    birth: date | None
    infusion: date
    moved: bool


def _age_band(birth: date | None, day0: date) -> str:
    if birth is None:
        return "unknown"
    age = (day0 - birth).days / 365.25
    for upper, name in ((12, "0-11"), (18, "12-17"), (26, "18-25"), (65, "26-64")):
        if age < upper:
            return name
    return "65+"


def _distance_band(km: float | None) -> str:
    if km is None:
        return "not recorded"
    return "<50 km" if km < 50 else ("50-150 km" if km <= 150 else ">150 km")


def _cohort_condition(scope: Scope, column: object) -> object:
    if scope.all_patients:
        return true()
    if scope.patient is not None:
        raise NotInScopeError("follow-up retention is not in this account's scope")
    products = select(TreatmentRow.patient_id).where(product_condition(scope, TreatmentRow.product_id))
    return (patient_condition(scope, column) | column.in_(products)) & consent_condition(  # type: ignore[attr-defined]
        "data_sharing", column
    )


def cohort_patients(session: Session, scope: Scope, rules: LtfuRuleSet, today: date) -> list[CohortPatient]:
    """Every patient with a follow-up plan in the scope's aggregates, with visits and outcome."""
    condition = _cohort_condition(scope, PatientRow.id)
    if not scope.patient_level and scope.aggregates is None:
        raise NotInScopeError("follow-up retention is not in this account's scope")
    rows = session.execute(
        select(PatientRow, LtfuPlanRow.start, LtfuPatientRow, LtfuSiteRow.country)
        .join(LtfuPlanRow, LtfuPlanRow.patient_id == PatientRow.id)
        .outerjoin(LtfuPatientRow, LtfuPatientRow.patient_id == PatientRow.id)
        .outerjoin(LtfuSiteRow, LtfuSiteRow.site == PatientRow.site)
        .where(condition)  # type: ignore[arg-type]
    ).all()
    ids = [p.id for p, *_ in rows]
    visits: dict[str, list[VisitView]] = {}
    for v in session.scalars(
        select(LtfuVisitRow).where(
            LtfuVisitRow.patient_id.in_(ids), LtfuVisitRow.state.in_(("scheduled", "done", "missed"))
        )
    ):
        visits.setdefault(v.patient_id, []).append(_view(v, today))
    withdrawn = {
        pid: since
        for pid, since in session.execute(
            select(ConsentStateRow.patient_id, ConsentStateRow.since).where(
                ConsentStateRow.use == "safety_followup", ConsentStateRow.state == "withdrawn"
            )
        )
    }
    moved = set(session.scalars(select(TransferRow.patient_id).where(TransferRow.patient_id.in_(ids))))
    lost = lost_patients([v for vs in visits.values() for v in vs], rules.lost_after_missed)
    out = []
    for p, start, extra, country in rows:
        end = today
        if extra is not None and extra.status != "active" and extra.status_since is not None:
            end = min(end, extra.status_since)
        if p.id in withdrawn:
            end = min(end, withdrawn[p.id])
        is_lost = p.id in lost and lost[p.id] <= end
        stop = lost[p.id] if is_lost else end
        groups = {
            "site": p.site,
            "country": country or "not recorded",
            "age_band": _age_band(p.birth_date, start),
            "sex": p.sex or "not recorded",
            "race": (extra.race if extra else None) or "not recorded",
            "ethnicity": (extra.ethnicity if extra else None) or "not recorded",
            "distance": _distance_band(extra.distance_km if extra else None),
        }
        out.append(
            CohortPatient(
                id=p.id,
                groups=groups,
                years=max(0.0, (stop - start).days / 365.25),
                lost=is_lost,
                visits=visits.get(p.id, []),
                distance_km=extra.distance_km if extra else None,
                birth=p.birth_date,
                infusion=start,
                moved=p.id in moved,
            )
        )
    return out


class KmPoint(BaseModel):
    years: float
    retained: float = Field(description="Kaplan–Meier probability of still being followed")
    lower: float
    upper: float


class GroupRetention(BaseModel):
    group: str
    patients: int | str = Field(description="a count, or '<5' when suppressed")
    lost: int | str
    visits_due: int | str = Field(description="visits whose window closed")
    missed: int | str
    missed_rate: float | None = None
    missed_low: float | None = None
    missed_high: float | None = None
    retained_5y: float | None = Field(None, description="Kaplan–Meier retention at 5 years")
    km: list[KmPoint] = Field(default_factory=list)
    suppressed: bool = False


class Retention(BaseModel):
    by: str
    today: date
    rule_version: str
    groups: list[GroupRetention]
    logrank_p: float | None = Field(None, description="log-rank test of equal retention across the shown groups")
    patients: int | str = Field(description="patients in the analysis ('<5' when suppressed)")
    suppressed_below: int = SUPPRESS_BELOW


def _km(years: list[float], events: list[bool]) -> tuple[list[KmPoint], float | None]:
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter().fit(years, event_observed=events)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_
    points = [
        KmPoint(years=float(t), retained=float(s), lower=float(lo), upper=float(hi))
        for t, s, lo, hi in zip(sf.index, sf.values, ci.iloc[:, 0].values, ci.iloc[:, 1].values, strict=True)
    ]
    at5 = float(kmf.predict(5.0)) if max(years, default=0) >= 5 else None
    return points, at5


def retention(session: Session, scope: Scope, rules: LtfuRuleSet, now: datetime, by: Grouping = "site") -> Retention:
    """Retention curves and missed-visit rates per group of ``by``."""
    if by not in GROUPINGS:
        raise ValidationError([f"The 'by' parameter of retention must be one of {', '.join(GROUPINGS)}. Got {by!r}."])
    today = now.date()
    patients = cohort_patients(session, scope, rules, today)
    groups: dict[str, list[CohortPatient]] = {}
    for p in patients:
        groups.setdefault(p.groups[by], []).append(p)
    raw: list[dict[str, Any]] = []
    for name, members in sorted(groups.items()):
        closed = [v for m in members for v in m.visits if v.status in ("missed", "done", "out_of_window")]
        raw.append(
            {
                "group": name,
                "patients": len(members),
                "lost": sum(m.lost for m in members),
                "visits_due": len(closed),
                "missed": sum(v.status == "missed" for v in closed),
            }
        )
    shown = suppress_small_cells(raw, ["patients", "lost", "visits_due", "missed"], threshold=SUPPRESS_BELOW)
    out = []
    for row, cells in zip(raw, shown, strict=True):
        g = GroupRetention(**cells)
        big = row["patients"] >= SUPPRESS_BELOW
        n, k = row["visits_due"], row["missed"]
        if big and n and isinstance(cells["visits_due"], int) and isinstance(cells["missed"], int):
            g.missed_rate = k / n
            g.missed_low, g.missed_high = wilson(k, n)
        if big and isinstance(cells["lost"], int):  # a curve shows its events: only when the count is shown
            members = groups[row["group"]]
            g.km, g.retained_5y = _km([m.years for m in members], [m.lost for m in members])
        out.append(g)
    p_value = None
    visible = [g.group for g in out if g.km]
    if len(visible) >= 2:
        from lifelines.statistics import multivariate_logrank_test

        chosen = [p for p in patients if p.groups[by] in visible]
        with warnings.catch_warnings():  # lifelines 0.30 calls DataFrame.sum positionally (pandas 3 warns)
            warnings.filterwarnings(
                "ignore", message=".*arguments of sum will be keyword-only", category=DeprecationWarning
            )
            test = multivariate_logrank_test(
                [p.years for p in chosen], [p.groups[by] for p in chosen], [p.lost for p in chosen]
            )
        p_value = float(test.p_value)
    return Retention(
        by=by,
        today=today,
        rule_version=rules.version,
        groups=out,
        logrank_p=p_value,
        patients=suppress_small_cells([{"n": len(patients)}], ["n"], threshold=SUPPRESS_BELOW)[0]["n"],
    )
