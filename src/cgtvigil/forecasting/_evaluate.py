"""Cross-validated evaluation grouped by patient: leave-one-patient-out up to a cohort size,
grouped 10-fold above it; AUROC, AUPRC and calibration."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from cgtvigil.forecasting._daily import DailyTable, FloatArray
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


def evaluate_forecaster(
    table: DailyTable, forecaster: ToxicityForecaster, *, loo_max_patients: int = 60, folds: int = 10
) -> dict[str, Any]:
    """Out-of-fold predictions for every scorable patient-day, and their metrics."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    x, y, scored = forecaster.design(table)
    groups = table.patient_id[scored]
    xs, ys = x[scored], y[scored]
    n_patients = len(np.unique(groups))
    splitter = LeaveOneGroupOut() if n_patients <= loo_max_patients else GroupKFold(n_splits=folds)
    scheme = "leave-one-patient-out" if n_patients <= loo_max_patients else f"grouped {folds}-fold"
    pred = np.full(len(ys), np.nan)
    for train, test in splitter.split(xs, ys, groups):
        if len(np.unique(ys[train])) < 2:
            continue
        model = replace(forecaster)._estimator().fit(xs[train], ys[train])
        pred[test] = model.predict_proba(xs[test])[:, 1]
    ok = ~np.isnan(pred)
    result: dict[str, Any] = {
        "target": forecaster.target,
        "min_grade": forecaster.min_grade,
        "horizon_days": forecaster.horizon,
        "model": forecaster.model,
        "cross_validation": scheme,
        "n_patients": int(n_patients),
        "n_patient_days": len(ys),
        "n_events": int(ys.sum()),
        "prevalence": float(ys.mean()) if len(ys) else None,
    }
    if ok.sum() and len(np.unique(ys[ok])) == 2:
        result["auroc"] = float(roc_auc_score(ys[ok], pred[ok]))
        result["auprc"] = float(average_precision_score(ys[ok], pred[ok]))
        result["calibration"] = _calibration(ys[ok], pred[ok])
    else:
        result["auroc"] = result["auprc"] = None
    return result
