"""Cross-validated evaluation grouped by patient: leave-one-patient-out up to a cohort size,
grouped k-fold above it; AUROC, AUPRC and calibration."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np

from cgtvigil._validation import Problems, param_message
from cgtvigil.errors import ValidationError
from cgtvigil.forecasting._daily import DailyTable, FloatArray, feature_inputs, onset_labels
from cgtvigil.forecasting._hazard import HazardForecaster
from cgtvigil.forecasting._known import inputs_of
from cgtvigil.forecasting._model import ToxicityForecaster

__all__ = ["evaluate_forecaster", "evaluate_hazard"]


def _calibration(y: FloatArray, p: FloatArray, bins: int = 10) -> dict[str, Any]:
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    table = []
    for b in range(bins):
        m = idx == b
        if m.any():
            table.append({"mean_predicted": float(p[m].mean()), "observed": float(y[m].mean()), "n": int(m.sum())})
    brier = float(np.mean((p - y) ** 2))
    # calibration-in-the-large and slope by logistic recalibration on logit(p)
    from sklearn.linear_model import LogisticRegression

    lp = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(lp[:, None], y)
    return {"brier": brier, "slope": float(fit.coef_[0][0]), "intercept": float(fit.intercept_[0]), "bins": table}


def _check(forecaster: ToxicityForecaster, loo_max_patients: int, folds: int) -> None:
    problems = Problems()
    try:
        forecaster.check_params()
    except ValidationError as exc:
        problems.extend(exc.problems)
    for name, value, low in (("loo_max_patients", loo_max_patients, 1), ("folds", folds, 2)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            problems.add(param_message(name, "evaluate_forecaster", f"an integer >= {low}", value))
    problems.raise_if_any()


def evaluate_forecaster(
    table: DailyTable, forecaster: ToxicityForecaster, *, loo_max_patients: int = 60, folds: int = 10
) -> dict[str, Any]:
    """Out-of-fold predictions for every scorable patient-day, and their metrics.

    Leave-one-patient-out up to ``loo_max_patients`` patients with scorable days, grouped
    ``folds``-fold above (fewer folds if there are fewer patients). The result names the
    canonical columns the features came from (``inputs``) and the features themselves.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    _check(forecaster, loo_max_patients, folds)
    x, names, y, scored = forecaster.design(table)
    problems = Problems()
    problem = forecaster._outcome_problem(table, y, scored)
    groups = table.patient_id[scored]
    xs, ys = x[scored], y[scored]
    n_patients = len(np.unique(groups))
    if problem is None and n_patients < 2:
        problem = (
            f"cross-validation by patient needs at least 2 patients with scorable days; the table has "
            f"{n_patients} ({groups[0][:40]!r}). Check the patient_id column."
        )
    if problem:
        problems.add(problem)
        problems.raise_if_any()
    if n_patients <= loo_max_patients:
        splitter: Any = LeaveOneGroupOut()
        scheme = "leave-one-patient-out"
    else:
        k = min(folds, n_patients)
        splitter, scheme = GroupKFold(n_splits=k), f"grouped {k}-fold"
    pred = np.full(len(ys), np.nan)
    for train, test in splitter.split(xs, ys, groups):
        if len(np.unique(ys[train])) < 2:
            continue
        model = forecaster._estimator().fit(xs[train], ys[train])
        pred[test] = model.predict_proba(xs[test])[:, 1]
    ok = ~np.isnan(pred)
    result: dict[str, Any] = {
        "target": forecaster.target,
        "min_grade": forecaster.min_grade,
        "horizon_days": forecaster.horizon,
        "model": forecaster.model,
        "cross_validation": scheme,
        "inputs": inputs_of(names) if forecaster._known else feature_inputs(names),
        "features": names,
        "n_patients": int(n_patients),
        "n_patient_days": len(ys),
        "n_events": int(ys.sum()),
        "prevalence": float(ys.mean()),
    }
    if ok.sum() and len(np.unique(ys[ok])) == 2:
        result["auroc"] = float(roc_auc_score(ys[ok], pred[ok]))
        result["auprc"] = float(average_precision_score(ys[ok], pred[ok]))
        result["calibration"] = _calibration(ys[ok], pred[ok])
    else:
        result["auroc"] = result["auprc"] = None
    return result


def _scores(y: FloatArray, p: FloatArray) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(np.unique(y)) < 2:
        return {"auroc": None, "auprc": None, "brier": float(np.mean((p - y) ** 2)) if len(y) else None}
    return {
        "auroc": float(roc_auc_score(y, p)),
        "auprc": float(average_precision_score(y, p)),
        "brier": float(np.mean((p - y) ** 2)),
    }


def evaluate_hazard(
    table: DailyTable,
    hazard: HazardForecaster,
    *,
    horizons: tuple[int, ...] = (1, 3, 5, 7),
    window_model: Literal["boosting", "logistic"] = "boosting",
    loo_max_patients: int = 60,
    folds: int = 10,
) -> dict[str, Any]:
    """The hazard model and the window classifier (``ToxicityForecaster``, one per horizon)
    cross-validated on the SAME patient folds; for each horizon h, per patient-day (landmark
    day t, scored as ``onset_labels``: onset in (t, t + h], or followed event-free through t + h)
    AUROC, AUPRC, Brier and calibration of both on the same rows, and AUROC by landmark day."""
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    hazard.check_params()
    _check(
        ToxicityForecaster(target=hazard.target, min_grade=hazard.min_grade, model=window_model),
        loo_max_patients,
        folds,
    )
    patients = np.unique(table.patient_id)
    if len(patients) < 2:
        problems = Problems()
        problems.add(f"cross-validation by patient needs at least 2 patients; the table has {len(patients)}.")
        problems.raise_if_any()
    if len(patients) <= loo_max_patients:
        splitter: Any = LeaveOneGroupOut()
        scheme = "leave-one-patient-out"
    else:
        k = min(folds, len(patients))
        splitter, scheme = GroupKFold(n_splits=k), f"grouped {k}-fold"
    horizons = tuple(sorted(set(horizons)))
    top = max(horizons)
    h_pred = np.full((len(table), top), np.nan)
    w_pred = {h: np.full(len(table), np.nan) for h in horizons}
    for train, test in splitter.split(table.day, groups=table.patient_id):
        tr, te = _subset(table, train), _subset(table, test)
        try:
            model = replace(hazard, horizon=max(top, 1)).fit(tr)
            h_pred[test] = model.predict_risk(te)[:, :top]
        except ValidationError:
            pass  # a training fold without both outcomes: its patients are not scored
        for h in horizons:
            try:
                w = ToxicityForecaster(target=hazard.target, min_grade=hazard.min_grade, horizon=h, model=window_model)
                w_pred[h][test] = w.fit(tr).predict_proba(te)
            except ValidationError:
                pass
    by_horizon, by_landmark = [], []
    for h in horizons:
        scored, y = onset_labels(table, hazard.target, hazard.min_grade, h)
        ok = scored & np.isfinite(h_pred[:, h - 1]) & np.isfinite(w_pred[h])
        yh, ph, pw = y[ok], h_pred[ok, h - 1], w_pred[h][ok]
        entry: dict[str, Any] = {"horizon_days": h, "n_patient_days": int(ok.sum()), "n_events": int(yh.sum())}
        entry["hazard"], entry["window"] = _scores(yh, ph), _scores(yh, pw)
        if len(np.unique(yh)) == 2:
            entry["hazard"]["calibration"] = _calibration(yh, ph)
            entry["window"]["calibration"] = _calibration(yh, pw)
        by_horizon.append(entry)
        for d in np.unique(table.day[ok]):
            m = table.day[ok] == d
            if len(np.unique(yh[m])) == 2:
                by_landmark.append(
                    {
                        "horizon_days": h,
                        "day": int(d),
                        "n": int(m.sum()),
                        "events": int(yh[m].sum()),
                        "hazard_auroc": _scores(yh[m], ph[m])["auroc"],
                        "window_auroc": _scores(yh[m], pw[m])["auroc"],
                    }
                )
    return {
        "target": hazard.target,
        "min_grade": hazard.min_grade,
        "model": f"hazard ({hazard.model})",
        "window_model": window_model,
        "cross_validation": scheme,
        "n_patients": len(patients),
        "by_horizon": by_horizon,
        "by_landmark": by_landmark,
    }


def _subset(table: DailyTable, index: Any) -> DailyTable:
    return DailyTable(
        table.patient_id[index],
        table.day[index],
        {k: v[index] for k, v in table.values.items()},
        {k: v[index] for k, v in table.text.items()},
    )
