"""Sequential surveillance of a registry cohort: observed against expected events as follow-up
accrues, tested by the exact continuous Poisson MaxSPRT, with an alert when the boundary is crossed.

The cohort is every registered patient treated with one of the spec's products (the first such
infusion). The event is the first observation of ``event_kind`` at or above ``min_value`` (for
example a ``crs_grade`` of 3 or more) inside the risk window ``[window_start_day,
window_end_day)`` after the infusion day. Under H0 the event hazard is constant inside the window,
fixed by the risk of the event over the whole window (``h0_risk``, e.g. from the label or the
pivotal trial): lambda = -log(1 - h0_risk) / window length per patient-day. The expected count at
time t is lambda times the patient-days at risk by t (a patient leaves the risk set at the end of
the window or at the first event), so follow-up accrues as the calendar advances.

The LLR is evaluated at every event (where it peaks) and at the end: ``now``, or the time the
expected count reaches the surveillance length, whichever comes first. A crossing raises one
cohort alert (patient id ``cohort:<name>``, rule ``maxsprt:<event_kind>``) through the monitoring
alert life-cycle (acknowledge, escalate, resolve); a re-run finds the alert of that crossing and
does not raise another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.monitoring._alerts import raise_alert
from cgtvigil.monitoring._rules import MonitoringRules
from cgtvigil.signals import MaxSPRTBoundary, SequentialTestResult, maxsprt_poisson_cv, poisson_llr, sequential_test
from cgtvigil.store import AlertRow, ObservationRow, TreatmentRow, utc_naive

__all__ = ["CohortSpec", "CohortSurveillance", "run_cohort_surveillance"]

_DAY = 86400.0
_EPOCH = datetime(1970, 1, 1)


class CohortSpec(BaseModel):
    """A sequential surveillance analysis of a registry cohort (frozen; round-trips through JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_.:-]+$")
    products: tuple[str, ...] = Field(min_length=1)
    event_kind: str = Field(min_length=1, max_length=48)
    min_value: float = 1.0
    window_start_day: float = Field(0.0, ge=0)
    window_end_day: float = Field(28.0, gt=0)
    h0_risk: float = Field(gt=0, lt=1, description="risk of the event over the window under H0")
    surveillance_length: float = Field(gt=0, description="expected events under H0 when surveillance ends")
    alpha: float = Field(0.05, gt=0, le=0.5)
    minimum_events: int = Field(1, ge=1)
    severity: str = "high"

    @model_validator(mode="after")
    def _window(self) -> CohortSpec:
        if self.window_end_day <= self.window_start_day:
            raise ValueError(
                f"window_end_day ({self.window_end_day}) must be after window_start_day ({self.window_start_day})"
            )
        return self

    @property
    def rate_per_day(self) -> float:
        return float(-np.log1p(-self.h0_risk) / (self.window_end_day - self.window_start_day))

    @property
    def alert_patient(self) -> str:
        return f"cohort:{self.name}"

    @property
    def alert_rule(self) -> str:
        return f"maxsprt:{self.event_kind}"[:64]


@dataclass(frozen=True)
class CohortSurveillance:
    """The cohort's LLR path against the MaxSPRT boundary, the signal (if any) and its alert."""

    spec: CohortSpec
    boundary: MaxSPRTBoundary
    times: list[datetime]
    test: SequentialTestResult
    signal_time: datetime | None
    alert_id: int | None
    alert_created: bool
    attrition: dict[str, int]
    curve: pa.Table  # the LLR on a fine time grid (it falls between events as follow-up accrues), for charts

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {
                "time": pa.array(self.times, type=pa.timestamp("s")),
                "observed": pa.array(self.test.observed),
                "expected": pa.array(self.test.expected),
                "llr": pa.array(self.test.llr),
                "critical": pa.array(self.test.critical),
            }
        )

    def summary(self) -> dict[str, Any]:
        """A flat summary of the run (for tables and JSON): the counts at the signal, where the test
        stops, or at the last analysis."""
        t = self.test
        at = t.signal_index if t.signal_index is not None else len(t.llr) - 1
        return {
            "cohort": self.spec.name,
            "patients": self.attrition["patients"],
            "at": self.times[at].isoformat(),
            "events": int(t.observed[at]),
            "expected": float(t.expected[at]),
            "llr": float(t.llr[at]),
            "cv": self.boundary.cv,
            "signalled": t.signalled,
            "signal_time": self.signal_time.isoformat() if self.signal_time else None,
            "ended": t.ended,
            "alert_id": self.alert_id,
        }


def _days(t: datetime) -> float:
    return (utc_naive(t) - _EPOCH).total_seconds() / _DAY


def _when(days: float) -> datetime:
    return (_EPOCH + timedelta(seconds=round(days * _DAY))).replace(tzinfo=UTC)


def _expected(at: np.ndarray, entry: np.ndarray, exit_: np.ndarray, rate: float) -> np.ndarray:
    """lambda x patient-days at risk by each time in ``at``."""
    out = np.zeros(len(at))
    for lo in range(0, len(at), 512):  # bounded memory: 512 x patients at a time
        q = at[lo : lo + 512, None]
        out[lo : lo + 512] = rate * np.clip(np.minimum(q, exit_[None, :]) - entry[None, :], 0.0, None).sum(axis=1)
    return out


def _end_of_surveillance(length: float, entry: np.ndarray, exit_: np.ndarray, rate: float) -> float | None:
    """The time at which the expected count reaches ``length`` (it is piecewise linear)."""
    knots = np.unique(np.concatenate([entry, exit_]))
    if len(knots) == 0:
        return None
    values = _expected(knots, entry, exit_, rate)
    if values[-1] < length:
        return None
    i = int(np.searchsorted(values, length, side="left"))
    if i == 0:
        return float(knots[0])
    t0, t1, v0, v1 = knots[i - 1], knots[i], values[i - 1], values[i]
    return float(t0 + (length - v0) * (t1 - t0) / (v1 - v0))


def run_cohort_surveillance(
    session: Session,
    spec: CohortSpec,
    products: ProductDictionary,
    *,
    now: datetime,
    rules: MonitoringRules,
    raise_alerts: bool = True,
) -> CohortSurveillance:
    """Test the cohort's events against the boundary as of ``now``; raise the cohort alert on a
    crossing (the caller commits)."""
    known = products.by_id()
    unknown = [p for p in spec.products if p not in known]
    if unknown:
        raise ValidationError(
            [f"The 'products' of cohort {spec.name!r} must be product ids of the dictionary. Got {unknown}."]
        )
    boundary = maxsprt_poisson_cv(spec.surveillance_length, alpha=spec.alpha, minimum_events=spec.minimum_events)
    now_d = _days(now)
    first: dict[str, float] = {}
    for patient, infusion in session.execute(
        select(TreatmentRow.patient_id, TreatmentRow.infusion_date).where(TreatmentRow.product_id.in_(spec.products))
    ):
        day = (datetime(infusion.year, infusion.month, infusion.day) - _EPOCH).days
        first[patient] = min(first.get(patient, float(day)), float(day))
    attrition = {"patients": len(first), "observations": 0, "events": 0, "outside_window": 0, "after_now": 0}
    events: dict[str, float] = {}
    if first:
        cohort = select(TreatmentRow.patient_id).where(TreatmentRow.product_id.in_(spec.products)).distinct()
        rows = session.execute(
            select(ObservationRow.patient_id, ObservationRow.time)
            .where(
                ObservationRow.kind == spec.event_kind,
                ObservationRow.value >= spec.min_value,
                ObservationRow.superseded.is_(False),
                ObservationRow.patient_id.in_(cohort),
            )
            .order_by(ObservationRow.time, ObservationRow.id)
        ).all()
        for patient, time in rows:
            attrition["observations"] += 1
            t = _days(time)
            since = t - first[patient]
            if not spec.window_start_day <= since < spec.window_end_day:
                attrition["outside_window"] += 1
            elif t > now_d:
                attrition["after_now"] += 1
            elif patient not in events:
                events[patient] = t
    attrition["events"] = len(events)
    ids = sorted(first)
    entry = np.array([first[p] + spec.window_start_day for p in ids])
    exit_ = np.array([min(first[p] + spec.window_end_day, events.get(p, np.inf), now_d) for p in ids])
    exit_ = np.maximum(exit_, entry)  # a patient infused after now has no time at risk yet
    end = _end_of_surveillance(spec.surveillance_length, entry, exit_, spec.rate_per_day)
    stop = now_d if end is None else min(end, now_d)
    event_times = np.sort(np.array([t for t in events.values() if t <= stop]))
    times = np.unique(np.concatenate([event_times, [stop]]))
    expected = _expected(times, entry, exit_, spec.rate_per_day)
    observed = np.searchsorted(event_times, times, side="right").astype(np.float64)
    if end is not None and times[-1] == end:
        expected[-1] = spec.surveillance_length  # the interpolated end, up to rounding
    keep = expected > 0
    times, expected, observed = times[keep], expected[keep], observed[keep]
    if len(times) == 0:  # no follow-up yet: a path of one point with nothing expected
        times, expected, observed = np.array([stop]), np.array([1e-12]), np.array([0.0])
    test = sequential_test(boundary, observed, expected)
    signal_time = _when(float(times[test.signal_index])) if test.signal_index is not None else None
    alert_id, created = None, False
    if signal_time is not None and raise_alerts:
        alert_id, created = _alert(session, spec, test, signal_time, boundary, rules)
    curve = _curve(event_times, float(entry.min()) if len(entry) else stop, stop, entry, exit_, spec.rate_per_day)
    return CohortSurveillance(
        spec, boundary, [_when(float(t)) for t in times], test, signal_time, alert_id, created, attrition, curve
    )


def _curve(
    events: np.ndarray, start: float, stop: float, entry: np.ndarray, exit_: np.ndarray, rate: float
) -> pa.Table:
    """Observed, expected and LLR on a grid of 200 times plus each event and the instant before it."""
    grid = np.unique(np.concatenate([np.linspace(start, stop, 200), events, events - 1e-6]))
    grid = grid[(grid >= start) & (grid <= stop)]
    expected = _expected(grid, entry, exit_, rate)
    observed = np.searchsorted(events, grid, side="right").astype(np.float64)
    keep = expected > 0
    return pa.table(
        {
            "time": pa.array([_when(float(t)) for t in grid[keep]], type=pa.timestamp("s", tz="UTC")),
            "observed": observed[keep],
            "expected": expected[keep],
            "llr": poisson_llr(observed[keep], expected[keep]),
        }
    )


def _alert(
    session: Session,
    spec: CohortSpec,
    test: SequentialTestResult,
    at: datetime,
    boundary: MaxSPRTBoundary,
    rules: MonitoringRules,
) -> tuple[int, bool]:
    """One alert per crossing: a re-run finds it (whatever its status) instead of raising another."""
    earlier = session.scalars(
        select(AlertRow).where(
            AlertRow.patient_id == spec.alert_patient,
            AlertRow.rule == spec.alert_rule,
            AlertRow.first_seen == utc_naive(at),
        )
    ).first()
    if earlier is not None:
        return earlier.id, False
    i = test.signal_index
    assert i is not None
    message = (
        f"MaxSPRT signal for cohort {spec.name}: {int(test.observed[i])} {spec.event_kind} >= {spec.min_value:g} "
        f"observed vs {test.expected[i]:.2f} expected (LLR {test.llr[i]:.2f} >= cv {boundary.cv:.4f}, "
        f"alpha {spec.alpha:g}, length {spec.surveillance_length:g})"
    )
    alert, created = raise_alert(session, spec.alert_patient, spec.alert_rule, spec.severity, message[:512], at, rules)
    return alert.id, created
