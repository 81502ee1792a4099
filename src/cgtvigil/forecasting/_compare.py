"""The three model families compared on the same patient folds, per task (conventions.md §3).

Families: ``window`` (ToxicityForecaster, one classifier per grade and horizon), ``hazard``
(HazardForecaster, one per grade, its risk curve read at each horizon) and ``course``
(CourseForecaster, one chain for every grade and horizon: P(grade >= g reached within h days)).
Folds: leave-one-patient-out up to ``loo_max_patients`` patients, grouped k-fold above; every
fit (features, imputation, scaling, learner) sees the training patients only.

Per task (minimum grade g, horizon h), on the patient-days ``onset_labels`` scores (onset in
(t, t + h], or followed without it through t + h), for each family:

- per patient-day AUROC, AUPRC, Brier score, calibration slope and intercept (logistic
  recalibration on logit p) and the reliability curve (deciles of predicted risk);
- the patient-level score of Amidi et al. 2022: a patient with onset scores their highest
  forecast in the h days before onset, a patient without it their highest forecast on any
  scored day; AUROC between the two groups;
- lead time at a fixed alert rate: the threshold is the ``alert_rate`` quantile of the
  forecasts over the scored days; for each onset, the first alert among the 7 days before it
  (days of lead, and the share of onsets with an alert);
- the decision curve: net benefit TP/n - FP/n * p_t / (1 - p_t) at thresholds p_t, with the
  treat-all curve alongside.

Severity (``severity``, unless ``severity_horizon`` is None or grade 1 is not a task): among
patients who develop the syndrome (grade >= 1) after day 0, severe (highest grade >= 3)
against non-severe, each scored by their highest forecast of grade >= 3 within
``severity_horizon`` days over the ``severity_horizon`` days before the onset of any grade
(the forecast a physician has before the first symptom).

The winner of a task is the family with the highest per-patient-day AUROC (the window
classifier on a tie: it is the default); calibration is reported, not used to choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cgtvigil._validation import Problems, check_in, param_message
from cgtvigil.errors import ValidationError
from cgtvigil.forecasting._course import CourseForecaster
from cgtvigil.forecasting._daily import GRADE_COLUMNS, DailyTable, FloatArray, _groups, onset_labels
from cgtvigil.forecasting._evaluate import _calibration, _subset
from cgtvigil.forecasting._hazard import HazardForecaster
from cgtvigil.forecasting._model import ToxicityForecaster

__all__ = ["FAMILIES", "compare_families", "decision_curve", "lead_time", "patient_level_auroc"]

FAMILIES = ("window", "hazard", "course")
DEFAULT_FAMILY = "window"
LEAD_WINDOW = 7  # days before onset searched for the first alert
THRESHOLDS = tuple(round(0.02 * i, 2) for i in range(1, 26))  # decision curve, 0.02-0.50


def _auroc(y: FloatArray, p: FloatArray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None


def _first_days(table: DailyTable, target: str, min_grade: int) -> dict[str, int | None]:
    grade = np.nan_to_num(table.values[GRADE_COLUMNS[target]], nan=0.0)
    out: dict[str, int | None] = {}
    for s, e in zip(*_groups(table.patient_id), strict=True):
        hit = np.flatnonzero(grade[s:e] >= min_grade)
        out[str(table.patient_id[s])] = int(table.day[s + hit[0]]) if len(hit) else None
    return out


def patient_level_auroc(
    table: DailyTable, scored: npt.NDArray[np.bool_], pred: FloatArray, onset: dict[str, int | None], horizon: int
) -> dict[str, Any]:
    """Highest forecast in the ``horizon`` days before onset (patients with onset) against the
    highest forecast on any scored day (patients without)."""
    ok = scored & np.isfinite(pred)
    score: list[float] = []
    label: list[float] = []
    for s, e in zip(*_groups(table.patient_id), strict=True):
        pid = str(table.patient_id[s])
        d, p, m = table.day[s:e], pred[s:e], ok[s:e]
        o = onset[pid]
        window = m & ((d >= o - horizon) & (d < o) if o is not None else True)
        if window.any():
            score.append(float(p[window].max()))
            label.append(1.0 if o is not None else 0.0)
    y, p_ = np.array(label), np.array(score)
    return {"auroc": _auroc(y, p_), "n_with": int(y.sum()), "n_without": int(len(y) - y.sum())}


def lead_time(
    table: DailyTable, scored: npt.NDArray[np.bool_], pred: FloatArray, onset: dict[str, int | None], alert_rate: float
) -> dict[str, Any]:
    """Days between the first alert (forecast >= the ``alert_rate`` quantile of the scored
    days) among the LEAD_WINDOW days before onset and the onset."""
    ok = scored & np.isfinite(pred)
    if not ok.any():
        return {"alert_rate": alert_rate, "threshold": None, "n_onsets": 0}
    threshold = float(np.quantile(pred[ok], 1.0 - alert_rate))
    leads: list[int] = []
    n = 0
    for s, e in zip(*_groups(table.patient_id), strict=True):
        o = onset[str(table.patient_id[s])]
        if o is None:
            continue
        d, p = table.day[s:e], pred[s:e]
        before = ok[s:e] & (d >= o - LEAD_WINDOW) & (d < o)
        if not before.any():
            continue
        n += 1
        alerts = np.flatnonzero(before & (p >= threshold))
        if len(alerts):
            leads.append(int(o - d[alerts[0]]))
    return {
        "alert_rate": alert_rate,
        "threshold": threshold,
        "n_onsets": n,
        "detected": len(leads) / n if n else None,
        "median_lead_days": float(np.median(leads)) if leads else None,
        "mean_lead_days": float(np.sum(leads) / n) if n else None,  # undetected onsets count 0
    }


def decision_curve(y: FloatArray, p: FloatArray, thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, float]]:
    n = len(y)
    prevalence = float(y.mean()) if n else 0.0
    out = []
    for t in thresholds:
        alert = p >= t
        tp, fp = float((alert & (y == 1)).sum()), float((alert & (y == 0)).sum())
        w = t / (1 - t)
        out.append(
            {
                "threshold": t,
                "net_benefit": tp / n - fp / n * w if n else 0.0,
                "treat_all": prevalence - (1 - prevalence) * w,
            }
        )
    return out


def _splits(table: DailyTable, loo_max_patients: int, folds: int) -> tuple[Any, str]:
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    n = len(np.unique(table.patient_id))
    if n <= loo_max_patients:
        return LeaveOneGroupOut().split(table.day, groups=table.patient_id), "leave-one-patient-out"
    k = min(folds, n)
    return GroupKFold(n_splits=k).split(table.day, groups=table.patient_id), f"grouped {k}-fold"


def _check(
    target: str,
    families: Sequence[str],
    grades: Sequence[int],
    horizons: Sequence[int],
    alert_rate: float,
    loo_max_patients: int,
    folds: int,
    severity_horizon: int | None,
) -> None:
    problems = Problems()
    owner = "compare_families"
    check_in(target, "target", owner, tuple(GRADE_COLUMNS), problems)
    for f in families:
        check_in(f, "families", owner, FAMILIES, problems)
    if not families:
        problems.add(param_message("families", owner, f"some of {', '.join(FAMILIES)}", families))
    for name, values, low, high in (("grades", grades, 1, 4), ("horizons", horizons, 1, 28)):
        if not values or any(not isinstance(v, int) or isinstance(v, bool) or not low <= v <= high for v in values):
            problems.add(param_message(name, owner, f"integers from {low} to {high}", values))
    for name, value, low in (("loo_max_patients", loo_max_patients, 1), ("folds", folds, 2)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            problems.add(param_message(name, owner, f"an integer >= {low}", value))
    if severity_horizon is not None and (not isinstance(severity_horizon, int) or not 1 <= severity_horizon <= 28):
        problems.add(param_message("severity_horizon", owner, "an integer from 1 to 28", severity_horizon))
    if not isinstance(alert_rate, float) or not 0 < alert_rate < 1:
        problems.add(param_message("alert_rate", owner, "a number in (0, 1)", alert_rate))
    problems.raise_if_any()


def compare_families(
    table: DailyTable,
    target: Literal["crs", "icans"] = "icans",
    *,
    families: Sequence[str] = FAMILIES,
    grades: Sequence[int] = (1, 3),
    horizons: Sequence[int] = tuple(range(1, 8)),
    window_model: Literal["boosting", "logistic"] = "boosting",
    window_features: Literal["daily", "known", "core"] = "daily",
    severity_horizon: int | None = 5,
    alert_rate: float = 0.1,
    loo_max_patients: int = 60,
    folds: int = 10,
    random_state: int = 0,
    progress: Any = None,
) -> dict[str, Any]:
    """Out-of-fold forecasts of every family on the same folds and the metrics of the module
    docstring; ``progress(done, total)`` is called after each fold."""
    _check(target, families, grades, horizons, alert_rate, loo_max_patients, folds, severity_horizon)
    if GRADE_COLUMNS[target] not in table.values:
        raise ValidationError(
            [f"the daily table has no '{GRADE_COLUMNS[target]}' column, which target '{target}' needs."]
        )
    patients = np.unique(table.patient_id)
    if len(patients) < 2:
        raise ValidationError(
            [f"cross-validation by patient needs at least 2 patients; the table has {len(patients)}."]
        )
    grades = tuple(sorted(set(grades)))
    horizons = tuple(sorted(set(horizons)))
    with_severity = severity_horizon is not None and 1 in grades
    sev = severity_horizon if with_severity and severity_horizon is not None else horizons[-1]
    top = max(*horizons, sev)
    need_grades = tuple(sorted({*grades, 3})) if with_severity else grades
    pred: dict[tuple[str, int, int], FloatArray] = {}
    window_tasks = {(g, h) for g in grades for h in horizons} | ({(3, sev)} if with_severity else set())
    for f in families:
        for g in need_grades:
            for h in sorted({*horizons, sev}):
                pred[f, g, h] = np.full(len(table), np.nan)
    failed: dict[str, int] = dict.fromkeys(families, 0)
    splits, scheme = _splits(table, loo_max_patients, folds)
    splits = list(splits)
    for i, (train, test) in enumerate(splits):
        tr, te = _subset(table, train), _subset(table, test)
        if "window" in families:
            for g, h in sorted(window_tasks):
                try:
                    w = ToxicityForecaster(
                        target=target,
                        min_grade=g,
                        horizon=h,
                        model=window_model,
                        random_state=random_state,
                        features=window_features,
                    )
                    pred["window", g, h][test] = w.fit(tr).predict_proba(te)
                except ValidationError:
                    failed["window"] += 1  # a training fold without both outcomes: not scored
        if "hazard" in families:
            for g in need_grades:
                try:
                    risk = (
                        HazardForecaster(target=target, min_grade=g, horizon=top, random_state=random_state)
                        .fit(tr)
                        .predict_risk(te)
                    )
                    for h in sorted({*horizons, sev}):
                        pred["hazard", g, h][test] = risk[:, h - 1]
                except ValidationError:
                    failed["hazard"] += 1
        if "course" in families:
            try:
                fc = CourseForecaster(target=target, horizon=top, random_state=random_state).fit(tr).predict_course(te)
                for g in need_grades:
                    for h in sorted({*horizons, sev}):
                        pred["course", g, h][test] = fc.reached[g][:, h - 1]
            except ValidationError:
                failed["course"] += 1
        if progress is not None:
            progress(i + 1, len(splits))
    tasks = []
    for g in grades:
        onset = _first_days(table, target, g)
        for h in horizons:
            scored, y = onset_labels(table, target, g, h)
            ok = scored & np.all([np.isfinite(pred[f, g, h]) for f in families], axis=0)
            yt = y[ok]
            entry: dict[str, Any] = {
                "min_grade": g,
                "horizon_days": h,
                "n_patient_days": int(ok.sum()),
                "n_events": int(yt.sum()),
                "prevalence": float(yt.mean()) if len(yt) else None,
                "families": {},
            }
            for f in families:
                p = pred[f, g, h]
                pt = p[ok]
                m: dict[str, Any] = {
                    "auroc": _auroc(yt, pt),
                    "brier": float(np.mean((pt - yt) ** 2)) if len(yt) else None,
                }
                if m["auroc"] is not None:
                    from sklearn.metrics import average_precision_score

                    m["auprc"] = float(average_precision_score(yt, pt))
                    m["calibration"] = _calibration(yt, pt)
                    m["patient_level"] = patient_level_auroc(table, ok, p, onset, h)
                    m["lead_time"] = lead_time(table, ok, p, onset, alert_rate)
                    m["decision_curve"] = decision_curve(yt, pt)
                entry["families"][f] = m
            entry["winner"] = _winner(entry["families"])
            tasks.append(entry)
    result: dict[str, Any] = {
        "target": target,
        "families": list(families),
        "window_model": window_model,
        "window_features": window_features,
        "cross_validation": scheme,
        "n_patients": len(patients),
        "n_patient_days": len(table),
        "alert_rate": alert_rate,
        "failed_folds": failed,
        "tasks": tasks,
    }
    if with_severity:
        result["severity"] = _severity(table, target, families, pred, sev)
    return result


def _winner(by_family: dict[str, dict[str, Any]]) -> str | None:
    scores = {f: m["auroc"] for f, m in by_family.items() if m.get("auroc") is not None}
    if not scores:
        return None
    best = max(scores.values())
    return DEFAULT_FAMILY if scores.get(DEFAULT_FAMILY) == best else max(scores, key=lambda f: scores[f])


def _severity(
    table: DailyTable, target: str, families: Sequence[str], pred: dict[tuple[str, int, int], FloatArray], h: int
) -> dict[str, Any]:
    onset = _first_days(table, target, 1)
    grade = np.nan_to_num(table.values[GRADE_COLUMNS[target]], nan=0.0)
    label: list[float] = []
    score: dict[str, list[float]] = {f: [] for f in families}
    for s, e in zip(*_groups(table.patient_id), strict=True):
        o = onset[str(table.patient_id[s])]
        if o is None:
            continue
        d = table.day[s:e]
        before = (d >= o - h) & (d < o)
        if not before.any() or not all(np.isfinite(pred[f, 3, h][s:e][before]).all() for f in families):
            continue
        label.append(1.0 if grade[s:e].max() >= 3 else 0.0)
        for f in families:
            score[f].append(float(pred[f, 3, h][s:e][before].max()))
    y = np.array(label)
    by = {f: {"auroc": _auroc(y, np.array(score[f]))} for f in families}
    return {
        "horizon_days": h,
        "n_patients": len(y),
        "n_severe": int(y.sum()),
        "families": by,
        "winner": _winner(by),
    }
