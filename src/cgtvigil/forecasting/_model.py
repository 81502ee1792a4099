"""Forecasting severe toxicity: a fitter over the daily patient table (conventions.md §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cgtvigil._validation import Problems, check_in
from cgtvigil.forecasting._daily import DailyTable, FloatArray, build_features, onset_labels

__all__ = ["ToxicityForecaster"]


@dataclass
class ToxicityForecaster:
    """Probability that a toxicity of at least ``min_grade`` starts within ``horizon`` days,
    predicted at day t from data up to day t.

    Parameters
    ----------
    target : {"crs", "icans"}
    min_grade : int
    horizon : int
        Days ahead.
    model : {"boosting", "logistic"}
        scikit-learn HistGradientBoostingClassifier (handles missing values) or a
        standardised logistic regression with median imputation.
    random_state : int

    Attributes
    ----------
    feature_names_ : list of str
    estimator_ : the fitted scikit-learn estimator
    n_patients_, n_patient_days_ : int
    """

    target: Literal["crs", "icans"] = "icans"
    min_grade: int = 1
    horizon: int = 5
    model: Literal["boosting", "logistic"] = "boosting"
    random_state: int = 0
    feature_names_: list[str] = field(init=False, repr=False)
    estimator_: Any = field(init=False, repr=False)
    n_patients_: int = field(init=False, repr=False)
    n_patient_days_: int = field(init=False, repr=False)

    def _validate(self) -> None:
        problems = Problems()
        check_in(self.target, "target", "ToxicityForecaster", ("crs", "icans"), problems)
        check_in(self.model, "model", "ToxicityForecaster", ("boosting", "logistic"), problems)
        if not 1 <= self.min_grade <= 4:
            problems.add(f"The 'min_grade' parameter of ToxicityForecaster must be 1-4. Got {self.min_grade!r}.")
        if not 1 <= self.horizon <= 30:
            problems.add(f"The 'horizon' parameter of ToxicityForecaster must be 1-30 days. Got {self.horizon!r}.")
        problems.raise_if_any()

    def _estimator(self) -> Any:
        if self.model == "boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier

            return HistGradientBoostingClassifier(
                max_iter=150,
                learning_rate=0.06,
                max_leaf_nodes=15,
                l2_regularization=1.0,
                random_state=self.random_state,
            )
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000))

    def design(self, table: DailyTable) -> tuple[FloatArray, FloatArray, np.ndarray]:
        """(features, labels, scored mask) for a daily table."""
        x, self.feature_names_ = build_features(table)
        scored, y = onset_labels(table, self.target, self.min_grade, self.horizon)
        return x, y, scored

    def fit(self, table: DailyTable) -> ToxicityForecaster:
        self._validate()
        x, y, scored = self.design(table)
        if scored.sum() == 0 or len(np.unique(y[scored])) < 2:
            problems = Problems()
            problems.add(
                f"The data hold {int(scored.sum())} scorable patient-days with "
                f"{int(y[scored].sum())} onsets of {self.target} grade >= {self.min_grade} within {self.horizon} days: "
                "both outcomes are needed to fit. Check the grade columns and the horizon."
            )
            problems.raise_if_any()
        self.estimator_ = self._estimator().fit(x[scored], y[scored])
        self.n_patients_ = len(np.unique(table.patient_id[scored]))
        self.n_patient_days_ = int(scored.sum())
        return self

    def predict_proba(self, table: DailyTable) -> FloatArray:
        """Probability of onset within the horizon for every row (also rows that would not be
        scored, e.g. after onset; the caller decides what to show)."""
        x, _ = build_features(table)
        p: FloatArray = self.estimator_.predict_proba(x)[:, 1]
        return p
