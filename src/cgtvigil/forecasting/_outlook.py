"""One patient's outlook from a fitted forecaster: the risk curve by day ahead, its band from
bootstrap refits, and the inputs that moved it most (conventions.md §3: functions over fitters).

- Curves: a hazard model gives P(onset of grade >= its minimum by day t + k); a course model
  P(grade >= 1 reached by day t + k) and P(grade >= 3 reached by day t + k); a window classifier
  one point, P(onset within its horizon). t is the patient's last day in the table.
- Band: refits of the same forecaster on bootstrap resamples of the training patients
  (``bootstrap_refits``: patients drawn with replacement, each copy a patient of its own), the
  ``level`` central interval of their curves (percentiles of the refits, linear interpolation).
  It shows how much the fit depends on the training sample (model uncertainty), not the
  patient's own randomness.
- Contributions: for each input the model uses (CRP, temperature, the other syndrome's grade,
  ...), the forecast at the last day shown minus the forecast with that input of this patient
  set aside as not measured (labs, temperature and age then take the model's imputation, the
  training median; a grade counts as 0, a treatment as not given, the product as not known).
  Positive: the input raised the risk. An occlusion, not an additive decomposition: the
  contributions need not sum to the forecast. The day since infusion cannot be set aside and
  is not listed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cgtvigil._validation import Problems, param_message
from cgtvigil.errors import ValidationError
from cgtvigil.forecasting._course import CourseForecaster
from cgtvigil.forecasting._daily import GRADE_COLUMNS, DailyTable, FloatArray
from cgtvigil.forecasting._hazard import HazardForecaster
from cgtvigil.forecasting._model import ToxicityForecaster

__all__ = ["INPUT_LABELS", "Contribution", "OutlookCurve", "bootstrap_refits", "risk_outlook"]

Fitted = ToxicityForecaster | HazardForecaster | CourseForecaster
INPUT_LABELS = {
    "max_temp_c": "temperature",
    "crp_mg_l": "CRP",
    "ferritin_ng_ml": "ferritin",
    "il6_pg_ml": "IL-6",
    "pct_ng_ml": "procalcitonin",
    "wbc_1e9_l": "WBC",
    "crs_grade": "CRS grade so far",
    "icans_grade": "ICANS grade so far",
    "plt_1e9_l": "platelets",
    "anc_1e9_l": "ANC",
    "hb_g_dl": "haemoglobin",
    "ldh_u_l": "LDH",
    "creatinine_mg_dl": "creatinine",
    "age": "age",
    "product": "product (class)",
    "tocilizumab": "tocilizumab given",
    "steroids": "steroids given",
}
SEVERE_GRADE = 3


@dataclass(frozen=True)
class Contribution:
    input: str  # canonical column
    label: str
    delta: float  # forecast minus the forecast with the input set aside (probability)


@dataclass(frozen=True)
class OutlookCurve:
    """P(outcome by day ``day + k``), k = ``ahead``; ``low``/``high`` the band (None without refits)."""

    target: str
    min_grade: int
    family: str
    day: int  # the patient's last day in the table (the forecast's origin)
    ahead: list[int]
    risk: list[float]
    low: list[float] | None
    high: list[float] | None
    reached: bool  # the outcome already happened in the table (the curve is then not a forecast)
    contributions: list[Contribution]


def _family(model: Fitted) -> str:
    if isinstance(model, CourseForecaster):
        return "course"
    if isinstance(model, HazardForecaster):
        return "hazard"
    return "window"


def _grades(model: Fitted) -> tuple[int, ...]:
    return (1, SEVERE_GRADE) if isinstance(model, CourseForecaster) else (model.min_grade,)


def _curves(model: Fitted, table: DailyTable, last_rows: np.ndarray[Any, Any], days: int) -> dict[int, FloatArray]:
    """min grade -> curves (one row per entry of ``last_rows``, ``days`` columns or 1)."""
    if isinstance(model, CourseForecaster):
        course = model.predict_course(table)
        return {g: course.reached[g][last_rows, :days] for g in _grades(model)}
    if isinstance(model, HazardForecaster):
        return {model.min_grade: model.predict_risk(table)[last_rows, :days]}
    return {model.min_grade: model.predict_proba(table)[last_rows][:, None]}


def _stack(table: DailyTable, blanks: Sequence[str | None]) -> tuple[DailyTable, np.ndarray[Any, Any]]:
    """Copies of a one-patient table, the k-th with column ``blanks[k]`` set to not measured,
    as patients '000', '001', ... (sorted as DailyTable requires); and each copy's last row."""
    n = len(table)
    values: dict[str, list[FloatArray]] = {k: [] for k in table.values}
    text: dict[str, list[np.ndarray[Any, Any]]] = {k: [] for k in table.text}
    for blank in blanks:
        for k, v in table.values.items():
            values[k].append(np.full(n, np.nan) if k == blank else v)
        for k, t in table.text.items():
            text[k].append(np.full(n, "") if k == blank else t)
    width = len(str(len(blanks)))
    pid = np.repeat(np.array([f"{i:0{width + 1}d}" for i in range(len(blanks))]), n)
    stacked = DailyTable(
        pid,
        np.tile(table.day, len(blanks)),
        {k: np.concatenate(v) for k, v in values.items()},
        {k: np.concatenate(t) for k, t in text.items()},
    )
    return stacked, np.arange(1, len(blanks) + 1) * n - 1


def risk_outlook(
    model: Fitted,
    table: DailyTable,
    *,
    refits: Sequence[Fitted] = (),
    days: int = 7,
    level: float = 0.9,
    top: int = 5,
) -> list[OutlookCurve]:
    """The outlook of the one patient in ``table`` (rows of one patient id, sorted by day) from
    its last day: curves up to ``days`` days ahead (at most the model's horizon), the band of
    ``refits`` and the ``top`` contributions by size; see the module docstring."""
    problems = Problems()
    if len(table) == 0 or len(np.unique(table.patient_id)) != 1:
        problems.add("risk_outlook needs the daily table of one patient (at least one row).")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 28:
        problems.add(param_message("days", "risk_outlook", "an integer from 1 to 28", days))
    if not isinstance(level, float) or not 0 < level < 1:
        problems.add(param_message("level", "risk_outlook", "a number in (0, 1)", level))
    problems.raise_if_any()
    days = min(days, model.horizon)
    inputs = [k for k in model.inputs_ if k != "day" and (k in table.values or k in table.text)]
    stacked, last = _stack(table, [None, *inputs])
    point = _curves(model, stacked, last, days)
    bands: dict[int, tuple[list[float], list[float]]] = {}
    if refits:
        own = _stack(table, [None])
        draws = [_curves(r, *own, days) for r in refits]
        q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
        for g in point:
            at = np.vstack([d[g][0] for d in draws if g in d])
            lo, hi = np.percentile(at, q, axis=0)
            bands[g] = ([float(v) for v in lo], [float(v) for v in hi])
    target_grade = table.values.get(GRADE_COLUMNS[model.target])
    highest = float(np.nanmax(target_grade)) if target_grade is not None and not np.isnan(target_grade).all() else 0.0
    ahead = list(range(1, days + 1)) if point[next(iter(point))].shape[1] > 1 else [model.horizon]
    out = []
    for g, curves in point.items():
        base = curves[0]
        deltas = [
            Contribution(k, INPUT_LABELS.get(k, k), float(base[-1] - curves[i + 1][-1])) for i, k in enumerate(inputs)
        ]
        deltas = sorted((c for c in deltas if abs(c.delta) >= 0.01), key=lambda c: -abs(c.delta))[:top]
        out.append(
            OutlookCurve(
                target=model.target,
                min_grade=g,
                family=_family(model),
                day=int(table.day[-1]),
                ahead=ahead,
                risk=[float(v) for v in base],
                low=bands[g][0] if g in bands else None,
                high=bands[g][1] if g in bands else None,
                reached=highest >= g,
                contributions=deltas,
            )
        )
    return out


def bootstrap_refits(model: Fitted, table: DailyTable, *, n: int = 20, random_state: int = 0) -> list[Fitted]:
    """``n`` refits of ``model``'s settings on bootstrap resamples of the patients of ``table``
    (drawn with replacement; a patient drawn twice is two patients). A resample on which the
    model cannot be fitted (one outcome only) is drawn again, up to ``3 n`` draws in all."""
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 1000:
        raise ValidationError([param_message("n", "bootstrap_refits", "an integer from 1 to 1000", n)])
    rng = np.random.default_rng(random_state)
    starts = np.flatnonzero(np.r_[True, table.patient_id[1:] != table.patient_id[:-1]])
    ends = np.r_[starts[1:], len(table)]
    out: list[Fitted] = []
    for _ in range(3 * n):
        if len(out) == n:
            break
        pick = rng.integers(0, len(starts), len(starts))
        rows = np.concatenate([np.arange(starts[p], ends[p]) for p in pick])
        width = len(str(len(pick)))
        pid = np.repeat([f"{i:0{width}d}" for i in range(len(pick))], ends[pick] - starts[pick])
        sample = DailyTable(
            pid,
            table.day[rows],
            {k: v[rows] for k, v in table.values.items()},
            {k: t[rows] for k, t in table.text.items()},
        )
        settings = {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.init}
        try:
            out.append(type(model)(**settings).fit(sample))
        except ValidationError:
            continue
    return out
