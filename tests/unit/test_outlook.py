"""One patient's outlook: curves by day ahead, the bootstrap band and the occlusion
contributions (SYNTHETIC trajectories; expected relations by construction, see the module
docstring of forecasting._outlook)."""

from __future__ import annotations

import numpy as np
import pytest

from cgtvigil.errors import ValidationError
from cgtvigil.forecasting import CourseForecaster, DailyTable, HazardForecaster, bootstrap_refits, risk_outlook
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories


@pytest.fixture(scope="module")
def table() -> DailyTable:
    daily, _ = simulate_trajectories(TrajectoryConfig(patients=80, seed=3))
    return DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})


def _patient(table: DailyTable, pid: str, days: int) -> DailyTable:
    sel = np.flatnonzero(table.patient_id == pid)[:days]
    return DailyTable(table.patient_id[sel], table.day[sel], {k: v[sel] for k, v in table.values.items()})


def test_hazard_outlook_curve_band_and_contributions(table: DailyTable) -> None:
    model = HazardForecaster(target="icans", horizon=10).fit(table)
    refits = bootstrap_refits(model, table, n=8, random_state=1)
    assert len(refits) == 8 and all(r.horizon == 10 and r.target == "icans" for r in refits)
    one = _patient(table, str(table.patient_id[0]), 4)
    (curve,) = risk_outlook(model, one, refits=refits, days=7)
    assert curve.ahead == list(range(1, 8)) and curve.day == int(one.day[-1]) and curve.min_grade == 1
    assert np.all(np.diff(curve.risk) >= 0) and 0 <= curve.risk[0] <= curve.risk[-1] <= 1
    assert curve.low is not None and curve.high is not None
    assert all(lo <= hi for lo, hi in zip(curve.low, curve.high, strict=True))
    # the curve is the model's own risk at the last row
    assert np.allclose(curve.risk, model.predict_risk(one)[-1, :7])
    sizes = [abs(c.delta) for c in curve.contributions]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) <= 5
    for c in curve.contributions:  # each is the forecast minus the forecast with the input not measured
        blank = DailyTable(one.patient_id, one.day, {**one.values, c.input: np.full(len(one), np.nan)})
        assert c.delta == pytest.approx(model.predict_risk(one)[-1, 6] - model.predict_risk(blank)[-1, 6], abs=1e-9)


def test_course_outlook_gives_onset_and_severe_curves_and_marks_reached(table: DailyTable) -> None:
    model = CourseForecaster(target="crs", horizon=7).fit(table)
    grade = table.values["crs_grade"]
    had = next(p for p in np.unique(table.patient_id) if np.nanmax(grade[table.patient_id == p]) >= 1)
    whole = _patient(table, str(had), 40)
    onset, severe = risk_outlook(model, whole)
    assert (onset.min_grade, severe.min_grade) == (1, 3) and onset.reached and onset.low is None
    assert np.all(np.asarray(severe.risk) <= np.asarray(onset.risk) + 1e-12)


def test_outlook_refuses_two_patients_and_bad_settings(table: DailyTable) -> None:
    model = HazardForecaster(target="icans", horizon=5).fit(table)
    with pytest.raises(ValidationError, match="one patient"):
        risk_outlook(model, table)
    with pytest.raises(ValidationError, match="'days' parameter"):
        risk_outlook(model, _patient(table, str(table.patient_id[0]), 3), days=0)
    with pytest.raises(ValidationError, match="'n' parameter"):
        bootstrap_refits(model, table, n=0)


def test_outlook_keeps_patient_and_treatment_columns() -> None:
    """A model fitted with age, product, platelets and treatments (the realistic simulator):
    the stacked and resampled tables keep the product text, and each such input can be set aside."""
    daily, _ = simulate_trajectories(TrajectoryConfig(patients=80, seed=5, realistic=True))
    table = DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})
    model = HazardForecaster(target="crs", horizon=7).fit(table)
    assert {"age", "product", "tocilizumab"} <= set(model.inputs_)
    refits = bootstrap_refits(model, table, n=2)
    pid = str(table.patient_id[0])
    sel = np.flatnonzero(table.patient_id == pid)[:2]
    one = DailyTable(
        table.patient_id[sel],
        table.day[sel],
        {k: v[sel] for k, v in table.values.items()},
        {k: t[sel] for k, t in table.text.items()},
    )
    (curve,) = risk_outlook(model, one, refits=refits, top=50)
    assert np.allclose(curve.risk, model.predict_risk(one)[-1, :7]) and curve.low is not None
    blank = DailyTable(one.patient_id, one.day, one.values, {"product": np.full(len(one), "")})
    shift = model.predict_risk(one)[-1, 6] - model.predict_risk(blank)[-1, 6]
    listed = {c.input: c.delta for c in curve.contributions}
    assert listed.get("product", 0.0) == pytest.approx(shift if abs(shift) >= 0.01 else 0.0, abs=1e-9)
