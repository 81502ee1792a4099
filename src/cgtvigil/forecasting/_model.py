"""Forecasting severe toxicity: a fitter over the daily patient table (conventions.md §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cgtvigil._validation import Problems, check_in, param_message
from cgtvigil.forecasting._daily import (
    GRADE_COLUMNS,
    DailyTable,
    FloatArray,
    build_features,
    feature_inputs,
    onset_labels,
)
from cgtvigil.forecasting._known import (
    TIME_FEATURES,
    PatientDays,
    check_usable,
    core_features,
    inputs_of,
    known_features,
    select_features,
)

__all__ = ["ToxicityForecaster"]

CORE_C = 0.03  # penalty strength of the logistic model on the core features


def make_classifier(
    model: str,
    *,
    random_state: int,
    C: float = 1.0,
    max_iter: int = 2000,
    keep_empty_features: bool = False,
    solver: str = "lbfgs",
) -> Any:
    """The project's two learners: gradient boosting, or median imputation, scaling and
    (L2-penalised) logistic regression (``solver``: newton-cg converges in a few steps on the
    course model's multinomial fit, where lbfgs needs hundreds)."""
    if model == "boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=150, learning_rate=0.06, max_leaf_nodes=15, l2_regularization=1.0, random_state=random_state
        )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=keep_empty_features),
        StandardScaler(),
        LogisticRegression(C=C, max_iter=max_iter, solver=solver),
    )


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
    features : {"daily", "known", "core"}
        ``daily``: the value, its change since the previous day and the maximum so far of each
        column, and the grades (``build_features``); ``known``: the features known at the time of
        the hazard and course models (``_known``: slopes, ratios to baseline, fever burden, CRS so
        far, age, product and class, treatment, EASIX, CAR-HEMATOTOX); ``core``: the dozen of
        them that carry the signal on a cohort of about 100 patients (``_known.core_features``:
        day since infusion, last CRP, ferritin and IL-6, fever burden, each syndrome's status,
        the product class).

    Only ``patient_id``, ``day`` and the target's grade column are needed; every other column
    of the daily table with at least one value (the other grade, labs, vital signs) is used.

    Attributes
    ----------
    feature_names_ : list of str
    inputs_ : list of str
        The canonical columns the features come from (a table to predict on needs them).
    estimator_ : the fitted scikit-learn estimator
    n_patients_, n_patient_days_ : int
    """

    target: Literal["crs", "icans"] = "icans"
    min_grade: int = 1
    horizon: int = 5
    model: Literal["boosting", "logistic"] = "boosting"
    random_state: int = 0
    features: Literal["daily", "known", "core"] = "daily"
    feature_names_: list[str] = field(init=False, repr=False)
    estimator_: Any = field(init=False, repr=False)
    n_patients_: int = field(init=False, repr=False)
    n_patient_days_: int = field(init=False, repr=False)

    def check_params(self) -> None:
        """Raise a ``ValidationError`` listing every setting out of its range."""
        problems = Problems()
        owner = "ToxicityForecaster"
        check_in(self.target, "target", owner, tuple(GRADE_COLUMNS), problems)
        check_in(self.model, "model", owner, ("boosting", "logistic"), problems)
        check_in(getattr(self, "features", "daily"), "features", owner, ("daily", "known", "core"), problems)
        for name, low, high, unit in (("min_grade", 1, 4, ""), ("horizon", 1, 30, " days")):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.add(param_message(name, owner, f"an integer from {low} to {high}{unit}", value))
        if not isinstance(self.random_state, int) or isinstance(self.random_state, bool):
            problems.add(param_message("random_state", owner, "an integer", self.random_state))
        problems.raise_if_any()

    def _estimator(self) -> Any:
        if self._known:
            # the hazard model's learner (shrunk hard; median imputation without indicators); the
            # core set's dozen features need less shrinkage (C 0.01-1 within 0.01 AUROC there)
            return make_classifier(
                self.model,
                random_state=self.random_state,
                C=CORE_C if self.features == "core" else 0.02,
                max_iter=3000,
                keep_empty_features=True,
            )
        return make_classifier(self.model, random_state=self.random_state)

    @property
    def _known(self) -> bool:
        return getattr(self, "features", "daily") in ("known", "core")  # saved before the option: daily

    @property
    def inputs_(self) -> list[str]:
        return inputs_of(self.feature_names_) if self._known else feature_inputs(self.feature_names_)

    def _known_design(self, table: DailyTable, fitted: bool) -> tuple[FloatArray, list[str]]:
        grid = PatientDays(table)
        if not fitted:
            x, names = known_features(table, grid)
            if self.features == "core":
                core = core_features(names)
                x, names = select_features(x, names, core), core
            return x[grid.grid_of_row], names
        x, names = known_features(table, grid, self.inputs_)
        return select_features(x, names, self.feature_names_)[grid.grid_of_row], self.feature_names_

    def _require_target(self, table: DailyTable) -> None:
        """Raise a ``ValidationError`` if the table lacks the target's grade column."""
        column = GRADE_COLUMNS[self.target]
        if column not in table.values:
            problems = Problems()
            problems.add(
                f"the daily table has no '{column}' column, which target '{self.target}' needs "
                f"(it has {', '.join(table.columns)})."
            )
            problems.raise_if_any()

    def design(self, table: DailyTable) -> tuple[FloatArray, list[str], FloatArray, npt.NDArray[np.bool_]]:
        """(features, feature names, labels, scored mask) for a daily table."""
        self._require_target(table)
        x, names = self._known_design(table, fitted=False) if self._known else build_features(table)
        scored, y = onset_labels(table, self.target, self.min_grade, self.horizon)
        return x, names, y, scored

    def _outcome_problem(self, table: DailyTable, y: FloatArray, scored: npt.NDArray[np.bool_]) -> str | None:
        """Why the scorable patient-days cannot train or test a model (None if they can)."""
        what = f"{self.target.upper()} grade >= {self.min_grade} within {self.horizon} days"
        if len(table) == 0:
            return "the daily table has no rows. Check that the file holds data below its header."
        n, events = int(scored.sum()), int(y[scored].sum())
        if n == 0:
            return (
                f"none of the {len(table):,} patient-days can be scored for {what}: every day is at or after an "
                "onset, or too close to the patient's last day to know the outcome. Check the grade column "
                "(is the onset on each patient's first day?), that the table starts before onset (day 0 = "
                "infusion), the minimum grade and the horizon."
            )
        if events in (0, n):
            return (
                f"the {n:,} scorable patient-days hold {events:,} onsets of {what}: both outcomes are needed. "
                "Check the grade columns, the minimum grade and the horizon."
            )
        return None

    def fit(self, table: DailyTable) -> ToxicityForecaster:
        self.check_params()
        x, names, y, scored = self.design(table)
        problem = self._outcome_problem(table, y, scored)
        if problem:
            problems = Problems()
            problems.add(problem)
            problems.raise_if_any()
        if self._known:  # a feature with no value (e.g. no day-0 baseline) is dropped
            keep = np.asarray(~np.isnan(x[scored]).all(axis=0), dtype=bool)
            keep[: len(TIME_FEATURES)] = True
            x, names = x[:, keep], [n for n, k in zip(names, keep, strict=True) if k]
        self.estimator_ = self._estimator().fit(x[scored], y[scored])
        self.feature_names_ = names
        self.n_patients_ = len(np.unique(table.patient_id[scored]))
        self.n_patient_days_ = int(scored.sum())
        return self

    def predict_proba(self, table: DailyTable) -> FloatArray:
        """Probability of onset within the horizon for every row (also rows that would not be
        scored, e.g. after onset; the caller decides what to show)."""
        if not hasattr(self, "estimator_"):
            problems = Problems()
            problems.add("This ToxicityForecaster is not fitted yet; call fit() first.")
            problems.raise_if_any()
        if self._known:
            check_usable(self, table)
            x, _ = self._known_design(table, fitted=True)
        else:
            x, _ = build_features(table, self.inputs_)
        p: FloatArray = self.estimator_.predict_proba(x)[:, 1]
        return p
