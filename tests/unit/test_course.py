"""The course model (forecasting._course): a Markov chain of the daily grade with covariates.
Properties by construction (see its module docstring): probabilities in [0, 1], P(grade >= g)
falling with g, the probability of having reached a grade never falling with the days ahead, a
patient at grade >= g today having reached it, time to resolution within the horizon and only
for a patient with a grade today; fixed seed, same forecast."""

from __future__ import annotations

import numpy as np
import pytest

from cgtvigil.errors import ValidationError
from cgtvigil.forecasting import CourseForecaster, DailyTable
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories


@pytest.fixture(scope="module")
def table() -> DailyTable:
    daily, _ = simulate_trajectories(TrajectoryConfig(patients=40, seed=7, realistic=True))
    return DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})


def test_course_forecast_is_coherent(table: DailyTable) -> None:
    model = CourseForecaster(target="icans", horizon=6, paths=32).fit(table)
    fc = model.predict_course(table)
    today = np.nan_to_num(table.values["icans_grade"])
    for g in (1, 2, 3, 4):
        for p in (fc.grade_at_least[g], fc.reached[g]):
            assert p.shape == (len(table), 6) and np.all((p >= 0) & (p <= 1))
        assert np.all(np.diff(fc.reached[g], axis=1) >= 0)
        np.testing.assert_array_equal(fc.reached[g][today >= g], 1.0)
        if g > 1:
            assert np.all(fc.grade_at_least[g] <= fc.grade_at_least[g - 1] + 1e-12)
    active = today > 0
    assert np.isnan(fc.days_to_resolution[~active]).all()
    assert np.all((fc.days_to_resolution[active] >= 1) & (fc.days_to_resolution[active] <= 6))
    np.testing.assert_array_equal(model.predict_proba(table), fc.reached[1][:, -1])
    again = CourseForecaster(target="icans", horizon=6, paths=32).fit(table).predict_course(table)
    np.testing.assert_array_equal(again.reached[3], fc.reached[3])
    rows = model.transition_proba(table)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)


def test_course_model_checks_its_settings_and_data(table: DailyTable) -> None:
    with pytest.raises(ValidationError, match="'horizon' parameter of CourseForecaster"):
        CourseForecaster(horizon=0).fit(table)
    flat = DailyTable(table.patient_id, table.day, {"icans_grade": np.zeros(len(table))})
    with pytest.raises(ValidationError, match="one next-day grade only"):
        CourseForecaster().fit(flat)
    with pytest.raises(ValidationError, match="not fitted"):
        CourseForecaster().predict_course(table)
