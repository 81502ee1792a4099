"""Discrete-time hazard: the risk set, censoring, no leakage, and the risk curve (hand-made
tables; expected counts by construction, see the module docstring of forecasting._hazard)."""

from __future__ import annotations

import numpy as np

from cgtvigil.forecasting import DailyTable, HazardForecaster, risk_set
from cgtvigil.forecasting._known import PatientDays, known_features


def _table(rows: list[tuple[str, int, float, int]]) -> DailyTable:
    pid, day, crp, icans = zip(*rows, strict=True)
    return DailyTable.from_columns({"patient_id": pid, "day": day, "crp_mg_l": crp, "icans_grade": icans})


def _tiny() -> DailyTable:
    a = [("A", d, 5.0 + 10 * d, 1 if d >= 4 else 0) for d in range(0, 8)]  # onset day 4
    b = [("B", d, 5.0, 0) for d in range(0, 6)]  # censored after day 5
    c = [("C", d, 5.0 + 8 * d, 1 if d >= 3 else 0) for d in (0, 1, 3, 4)]  # a gap on day 2
    return _table(a + b + c)


def test_risk_set_and_censoring_are_exact() -> None:
    t = _tiny()
    grid = PatientDays(t)
    at_risk, event = risk_set(t, grid, "icans", 1)
    by = {p: (int(at_risk[grid.patient_id == p].sum()), int(event[grid.patient_id == p].sum())) for p in "ABC"}
    assert by == {"A": (4, 1), "B": (5, 0), "C": (3, 1)}  # B: days 0-4 at risk, day 5 censored
    assert grid.day[at_risk & (event == 1)].tolist() == [3, 2]  # the day before onset


def test_features_before_day_t_do_not_change_the_day_t_hazard() -> None:
    t = _tiny()
    model = HazardForecaster(target="icans", horizon=5).fit(t)
    base = model.predict_hazard(t)
    for cut in range(0, 7):
        rows = [("A", d, 500.0 if d > cut else 5.0 + 10 * d, 4 if d > cut else (1 if d >= 4 else 0)) for d in range(8)]
        rows += [("B", d, 5.0, 0) for d in range(6)] + [("C", d, 5.0 + 8 * d, 1 if d >= 3 else 0) for d in (0, 1, 3, 4)]
        changed = model.predict_hazard(_table(rows))
        a = (t.patient_id == "A") & (t.day <= cut)
        np.testing.assert_array_equal(base[a], changed[a])
    _x, names = known_features(t, PatientDays(t))
    assert "crp_mg_l_baseline_ratio" in names and "icans_grade_days_since_onset" in names


def test_risk_curve_is_monotone_and_bounded() -> None:
    t = _tiny()
    risk = HazardForecaster(target="icans", horizon=7, model="logistic").fit(t).predict_risk(t)
    assert risk.shape == (len(t), 7)
    assert np.all((risk >= 0) & (risk <= 1)) and np.all(np.diff(risk, axis=1) >= 0)
