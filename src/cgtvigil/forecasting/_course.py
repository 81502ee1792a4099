"""Severity and course: a Markov transition model of the daily grade (conventions.md §3).

Tomorrow's grade (0-4) of the target given today's features (``_known``, data up to day t):
today's and yesterday's grade, the highest so far, days since onset and the phase it implies
(none: never >= 1; active: today >= 1; resolved: back to 0 after an episode), the other
syndrome's grades, labs and temperature. A multinomial logistic regression (L2, median
imputation and scaling inside the pipeline) gives P(grade_{t+1} = j | day t).

Forecasts for the days ahead are the chain run forward from each day t: the grade path is
sampled (``paths`` per day, seeded), its grade features updated, every other covariate held at
its last known value and the day since infusion advancing (as the hazard model does). The
probabilities are Rao-Blackwellised: each step contributes the model's probability, not the
sampled indicator, so that ``paths`` = 64 is enough for curves within about 0.02.

- P(grade >= g on day t + k) and P(grade >= g reached by day t + k) for k = 1..horizon;
- expected days to resolution (grade back to 0) for a patient with grade >= 1 today, the mean
  of min(T, horizon) (a restricted mean: a path not resolved within the horizon counts the
  horizon).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

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

__all__ = ["CourseForecast", "CourseForecaster"]

MAX_HORIZON = 28
GRADES = (0, 1, 2, 3, 4)
_CHUNK = 40_000  # simulated patient-day paths per batch (memory bound)


@dataclass(frozen=True)
class CourseForecast:
    """Per row of the table and day ahead k = 1..horizon (columns)."""

    grade_at_least: dict[int, FloatArray]  # g -> P(grade >= g on day t + k)
    reached: dict[int, FloatArray]  # g -> P(grade >= g on some day in (t, t + k])
    days_to_resolution: FloatArray  # per row; NaN when today's grade is 0


def _extra(today: FloatArray, prev: FloatArray, top: FloatArray, since: FloatArray) -> FloatArray:
    """Grade-state features beyond _known's: today's grade as indicators, yesterday's grade,
    the resolved phase and the log of days since onset while active."""
    cols = [(today == g).astype(float) for g in GRADES[1:]]
    cols += [prev, ((top > 0) & (today == 0)).astype(float), np.log1p(since) * (today > 0)]
    return np.column_stack(cols)


_EXTRA_NAMES = [*(f"today_grade_{g}" for g in GRADES[1:]), "yesterday_grade", "resolved", "log_days_active"]


@dataclass(kw_only=True)
class CourseForecaster:
    """Daily grade of ``target`` as a Markov chain with covariates.

    Parameters
    ----------
    target : {"crs", "icans"}
    min_grade : int
        The grade ``predict_proba`` reads (the chain forecasts every grade).
    horizon : int
        Days forecast ahead (1-28).
    C : float
        Inverse L2 strength of the multinomial logistic regression.
    paths : int
        Simulated grade paths per patient-day.
    random_state : int

    Attributes
    ----------
    feature_names_, inputs_ : list of str
    estimator_ : the fitted scikit-learn pipeline
    classes_ : grades seen as a next-day grade in training
    n_patients_, n_transitions_ : int
    """

    target: Literal["crs", "icans"] = "icans"
    min_grade: int = 1
    horizon: int = 7
    C: float = 0.02
    paths: int = 64
    random_state: int = 0
    feature_names_: list[str] = field(init=False, repr=False)
    estimator_: Any = field(init=False, repr=False)
    classes_: list[int] = field(init=False, repr=False)
    n_patients_: int = field(init=False, repr=False)
    n_transitions_: int = field(init=False, repr=False)

    def check_params(self) -> None:
        problems = Problems()
        owner = "CourseForecaster"
        check_in(self.target, "target", owner, tuple(GRADE_COLUMNS), problems)
        for name, low, high in (("min_grade", 1, 4), ("horizon", 1, MAX_HORIZON), ("paths", 1, 10_000)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                problems.add(param_message(name, owner, f"an integer from {low} to {high}", value))
        if not isinstance(self.C, (int, float)) or isinstance(self.C, bool) or not self.C > 0:
            problems.add(param_message("C", owner, "a number > 0", self.C))
        if not isinstance(self.random_state, int) or isinstance(self.random_state, bool):
            problems.add(param_message("random_state", owner, "an integer", self.random_state))
        problems.raise_if_any()

    @property
    def inputs_(self) -> list[str]:
        return inputs_of(self.feature_names_)

    def _state(self, table: DailyTable, grid: PatientDays, inputs: list[str] | None) -> tuple[FloatArray, list[str]]:
        x, names = known_features(table, grid, inputs)
        col = GRADE_COLUMNS[self.target]
        idx = {n: i for i, n in enumerate(names)}
        today = x[:, idx[f"{col}_today"]]
        prev = np.zeros_like(today)
        for s, e in grid.spans:
            prev[s + 1 : e] = today[s : e - 1]
        extra = _extra(today, prev, x[:, idx[f"{col}_max"]], x[:, idx[f"{col}_days_since_onset"]])
        return np.column_stack([x, extra]), [*names, *_EXTRA_NAMES]

    def fit(self, table: DailyTable) -> CourseForecaster:
        self.check_params()
        problems = Problems()
        column = GRADE_COLUMNS[self.target]
        if column not in table.values:
            problems.add(f"the daily table has no '{column}' column, which target '{self.target}' needs.")
            problems.raise_if_any()
        grid = PatientDays(table)
        x, names = self._state(table, grid, None)
        today = x[:, names.index(f"{column}_today")]
        has_next = np.ones(len(grid), dtype=bool)
        nxt = np.zeros(len(grid))
        for s, e in grid.spans:
            has_next[e - 1] = False
            nxt[s : e - 1] = today[s + 1 : e]
        y = nxt[has_next].astype(int)
        if len(np.unique(y)) < 2:
            problems.add(
                f"the {len(y):,} day-to-day transitions hold one next-day grade only: the course model needs "
                f"days with and without {self.target.upper()}. Check the grade column."
            )
            problems.raise_if_any()
        keep = np.asarray(~np.isnan(x).all(axis=0), dtype=bool)
        keep[: len(TIME_FEATURES)] = True
        self.feature_names_ = [n for n, k in zip(names, keep, strict=True) if k]
        self.estimator_ = make_classifier(
            "logistic",
            random_state=self.random_state,
            C=float(self.C),
            max_iter=3000,
            keep_empty_features=True,
            solver="newton-cg",
        ).fit(x[has_next][:, keep], y)
        self.classes_ = [int(c) for c in self.estimator_.classes_]
        self.n_patients_ = len(np.unique(grid.patient_id[has_next]))
        self.n_transitions_ = int(has_next.sum())
        return self

    def _design(self, table: DailyTable) -> tuple[FloatArray, PatientDays]:
        check_usable(self, table)
        grid = PatientDays(table)
        x, names = self._state(table, grid, [k for k in self.inputs_ if k != "day"])
        return select_features(x, names, self.feature_names_), grid

    def transition_proba(self, table: DailyTable) -> FloatArray:
        """P(tomorrow's grade = 0..4) for every row (columns are grades 0-4)."""
        x, grid = self._design(table)
        return self._full(self.estimator_.predict_proba(x[grid.grid_of_row]))

    def _full(self, p: FloatArray) -> FloatArray:
        out = np.zeros((len(p), len(GRADES)))
        out[:, self.classes_] = p
        return out

    def predict_course(self, table: DailyTable) -> CourseForecast:
        """The forecast from every row of the table (rows in the table's order)."""
        x, grid = self._design(table)
        x = x[grid.grid_of_row]
        day0 = grid.day[grid.grid_of_row].astype(np.float64)
        n, k, m = len(x), self.horizon, self.paths
        col = GRADE_COLUMNS[self.target]
        pos = {n_: i for i, n_ in enumerate(self.feature_names_)}
        at = [pos.get(f"{col}_{s}") for s in ("today", "max", "days_since_onset", "started")]
        extra_at = [pos.get(name) for name in _EXTRA_NAMES]
        ge = {g: np.zeros((n, k)) for g in GRADES[1:]}
        reached = {g: np.zeros((n, k)) for g in GRADES[1:]}
        resolution = np.full(n, np.nan)
        rng = np.random.default_rng(self.random_state)
        step = max(1, _CHUNK // m)
        for s in range(0, n, step):
            e = min(n, s + step)
            rows = np.repeat(np.arange(s, e), m)
            z = x[rows].copy()
            today = np.nan_to_num(z[:, at[0]]) if at[0] is not None else np.zeros(len(rows))
            top = np.nan_to_num(z[:, at[1]]) if at[1] is not None else today.copy()
            since = np.nan_to_num(z[:, at[2]]) if at[2] is not None else np.zeros(len(rows))
            already = {g: (top >= g).astype(float) for g in GRADES[1:]}
            alive = {g: 1.0 - already[g] for g in GRADES[1:]}  # not yet reached g (per path)
            got = {g: np.zeros(len(rows)) for g in GRADES[1:]}
            active = today > 0
            unresolved = active.astype(float)
            days_res = np.zeros(len(rows))
            for j in range(k):
                p = self._full(self.estimator_.predict_proba(z))
                tail = np.cumsum(p[:, ::-1], axis=1)[:, ::-1]  # P(next >= g)
                for g in GRADES[1:]:
                    got[g] += alive[g] * tail[:, g]
                    reached[g][s:e, j] = (got[g] + already[g]).reshape(e - s, m).mean(axis=1)
                    ge[g][s:e, j] = tail[:, g].reshape(e - s, m).mean(axis=1)
                days_res += unresolved  # one more day for every path not resolved before this day
                nxt = (rng.random(len(rows))[:, None] > np.cumsum(p, axis=1)[:, :-1]).sum(axis=1).astype(float)
                unresolved *= nxt > 0
                for g in GRADES[1:]:
                    alive[g] *= nxt < g
                prev, today = today, nxt
                since = np.where(since > 0, since + 1, np.where(today > 0, 1.0, 0.0))
                top = np.maximum(top, today)
                z[:, : len(TIME_FEATURES)] = time_features(day0[rows] + j + 1)
                for i, v in zip(at, (today, top, since, (top >= 1).astype(float)), strict=True):
                    if i is not None:
                        z[:, i] = v
                extra = _extra(today, prev, top, since)
                for i, c in zip(extra_at, extra.T, strict=True):
                    if i is not None:
                        z[:, i] = c
            res = days_res.reshape(e - s, m).mean(axis=1)
            resolution[s:e] = np.where(active.reshape(e - s, m)[:, 0], res, np.nan)
        for g in GRADES[1:]:
            reached[g] = np.clip(np.maximum.accumulate(reached[g], axis=1), 0.0, 1.0)
        return CourseForecast(ge, reached, resolution)

    def predict_proba(self, table: DailyTable) -> FloatArray:
        """P(grade >= ``min_grade`` on some day of the horizon) for every row."""
        return self.predict_course(table).reached[self.min_grade][:, -1]
