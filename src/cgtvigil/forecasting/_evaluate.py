"""Cross-validated evaluation grouped by patient: leave-one-patient-out up to a cohort size,
grouped k-fold above it; AUROC, AUPRC and calibration."""

from __future__ import annotations

from typing import Any

import numpy as np

from cgtvigil._validation import Problems, param_message
from cgtvigil.errors import ValidationError
from cgtvigil.forecasting._daily import DailyTable, FloatArray, feature_inputs
from cgtvigil.forecasting._model import ToxicityForecaster

__all__ = ["evaluate_forecaster"]


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
        "inputs": feature_inputs(names),
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
