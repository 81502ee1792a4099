"""Day-by-day onset risk: a discrete-time hazard model over patient-days (conventions.md §3).

Risk set: for each patient, the days t from the first row while no onset has happened through
day t and day t + 1 is followed (the last row is not at risk: its next day is not observed).
The row at day t is an event if the onset (first day with target grade >= g) is day t + 1.
Discharge or end of data without the event is censoring: those days stay in the risk set as
non-events. A patient followed days 0-5 without the event contributes 5 rows (t = 0..4); one
with onset on day 4 contributes 4 (t = 0..3, the last an event). Features at t use data up to
and including day t only (``_known``).

Risk of onset by day t + k: 1 - prod_{j<k} (1 - h(t + j)), the hazards of the days ahead with
every covariate held at its last known value except the day since infusion, which advances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cgtvigil._validation import Problems, check_in, param_message
from cgtvigil.forecasting._daily import GRADE_COLUMNS, DailyTable, FloatArray
from cgtvigil.forecasting._known import (
    TIME_FEATURES,
    PatientDays,
    check_usable,
    inputs_of,
    known_features,
    select_features,
    time_features,
)
from cgtvigil.forecasting._model import make_classifier

__all__ = ["HazardForecaster", "risk_set"]

MAX_HORIZON = 28


def risk_set(
    table: DailyTable, grid: PatientDays, target: str, min_grade: int
) -> tuple[npt.NDArray[np.bool_], FloatArray]:
    """(at-risk mask, event) on the grid of patient-days."""
    grade = np.nan_to_num(grid.on_grid(table.values[GRADE_COLUMNS[target]]), nan=0.0)
    at_risk = np.zeros(len(grid), dtype=bool)
    event = np.zeros(len(grid))
    for s, e in grid.spans:
        hit = np.flatnonzero(grade[s:e] >= min_grade)
        if len(hit):
            o = s + int(hit[0])
            at_risk[s:o] = True
            if o > s:
                event[o - 1] = 1.0
        else:
            at_risk[s : e - 1] = True
    return at_risk, event


@dataclass(kw_only=True)
class HazardForecaster:
    """Daily hazard of onset of ``target`` grade >= ``min_grade`` and the risk curve by day.

    Parameters
    ----------
    target : {"crs", "icans"}
    min_grade : int
    horizon : int
        Days of the risk curve (1-28).
    model : {"logistic", "boosting"}
        L2-penalised logistic regression (strength ``C``, median imputation inside the
        pipeline, no missingness indicators) or scikit-learn HistGradientBoostingClassifier.
    C : float
    random_state : int

    Attributes
    ----------
    feature_names_, inputs_ : list of str
    estimator_ : the fitted scikit-learn estimator
    n_patients_, n_patient_days_, n_events_ : int
    """

    target: Literal["crs", "icans"] = "icans"
    min_grade: int = 1
    horizon: int = MAX_HORIZON
    model: Literal["logistic", "boosting"] = "logistic"
    C: float = 0.02
    random_state: int = 0
    feature_names_: list[str] = field(init=False, repr=False)
    estimator_: Any = field(init=False, repr=False)
    n_patients_: int = field(init=False, repr=False)
    n_patient_days_: int = field(init=False, repr=False)
    n_events_: int = field(init=False, repr=False)

    def check_params(self) -> None:
        problems = Problems()
        owner = "HazardForecaster"
        check_in(self.target, "target", owner, tuple(GRADE_COLUMNS), problems)
        check_in(self.model, "model", owner, ("logistic", "boosting"), problems)
        for name, low, high in (("min_grade", 1, 4), ("horizon", 1, MAX_HORIZON)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.add(param_message(name, owner, f"an integer from {low} to {high}", value))
        if not isinstance(self.C, (int, float)) or isinstance(self.C, bool) or not self.C > 0:
            problems.add(param_message("C", owner, "a number > 0", self.C))
        problems.raise_if_any()

    def _estimator(self) -> Any:
        return make_classifier(
            self.model, random_state=self.random_state, C=float(self.C), max_iter=3000, keep_empty_features=True
        )

    @property
    def inputs_(self) -> list[str]:
        return inputs_of(self.feature_names_)

    def fit(self, table: DailyTable) -> HazardForecaster:
        self.check_params()
        problems = Problems()
        column = GRADE_COLUMNS[self.target]
        if column not in table.values:
            problems.add(f"the daily table has no '{column}' column, which target '{self.target}' needs.")
            problems.raise_if_any()
        grid = PatientDays(table)
        at_risk, event = risk_set(table, grid, self.target, self.min_grade)
        x, names = known_features(table, grid)
        x, y = x[at_risk], event[at_risk]
        n_events = int(y.sum())
        if n_events in (0, len(y)):
            problems.add(
                f"the {len(y):,} patient-days at risk hold {n_events:,} onsets of {self.target.upper()} grade >= "
                f"{self.min_grade}: both outcomes are needed. Check the grade column and the minimum grade."
            )
            problems.raise_if_any()
        # a feature with no value (e.g. no day-0 baseline) is dropped
        keep = np.asarray(~np.isnan(x).all(axis=0), dtype=bool)
        keep[: len(TIME_FEATURES)] = True
        self.feature_names_ = [n for n, k in zip(names, keep, strict=True) if k]
        self.estimator_ = self._estimator().fit(x[:, keep], y)
        self.n_patients_ = len(np.unique(grid.patient_id[at_risk]))
        self.n_patient_days_ = len(y)
        self.n_events_ = n_events
        return self

    def _design(self, table: DailyTable) -> tuple[FloatArray, PatientDays]:
        check_usable(self, table)
        grid = PatientDays(table)
        x, names = known_features(table, grid, self.inputs_)
        return select_features(x, names, self.feature_names_), grid

    def predict_hazard(self, table: DailyTable) -> FloatArray:
        """The hazard of onset on the next day, for every row of the table."""
        x, grid = self._design(table)
        h: FloatArray = self.estimator_.predict_proba(x[grid.grid_of_row])[:, 1]
        return h

    def predict_risk(self, table: DailyTable) -> FloatArray:
        """Risk of onset by day t + k for k = 1..horizon (columns), for every row of the table."""
        x, grid = self._design(table)
        x = x[grid.grid_of_row]
        n, k = len(x), self.horizon
        ahead = np.repeat(x, k, axis=0)
        day = np.repeat(grid.day[grid.grid_of_row].astype(np.float64), k) + np.tile(np.arange(k), n)
        ahead[:, : len(TIME_FEATURES)] = time_features(day)
        h = self.estimator_.predict_proba(ahead)[:, 1].reshape(n, k) if n else np.empty((0, k))
        risk: FloatArray = np.clip(1.0 - np.cumprod(1.0 - np.clip(h, 0.0, 1.0), axis=1), 0.0, 1.0)
        return np.maximum.accumulate(risk, axis=1)

    def predict_proba(self, table: DailyTable) -> FloatArray:
        """Risk of onset within the horizon (the last day of the risk curve) for every row."""
        out: FloatArray = self.predict_risk(table)[:, -1]
        return out
