"""Forecasting: labels without leakage, features from the past only, and cross-validated
evaluation on the SYNTHETIC trajectory simulator (expected values by construction)."""

from __future__ import annotations

import numpy as np
import pytest

from cgtvigil.errors import ValidationError
from cgtvigil.forecasting import DailyTable, ToxicityForecaster, build_features, evaluate_forecaster, onset_labels
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories


def _table(rows: list[tuple[str, int, float, int, int]]) -> DailyTable:
    pid, day, crp, crs, icans = zip(*rows, strict=True)
    return DailyTable.from_columns(
        {"patient_id": pid, "day": day, "crp_mg_l": crp, "crs_grade": crs, "icans_grade": icans}
    )


def test_labels_and_scoring_without_leakage() -> None:
    """Patient A: ICANS onset on day 4. With horizon 2, days 2 and 3 are positive, days 0-1
    negative, days >= 4 not scored. Patient B: never ICANS, followed to day 5: days 0-3 scored
    negative; days 4-5 have no full horizon and are not scored."""
    rows = [("A", d, 1.0, 0, 1 if d >= 4 else 0) for d in range(0, 7)] + [("B", d, 1.0, 0, 0) for d in range(0, 6)]
    t = _table(rows)
    scored, label = onset_labels(t, "icans", 1, 2)
    a = t.patient_id == "A"
    assert scored[a].tolist() == [True, True, True, True, False, False, False]
    assert label[a].tolist()[:4] == [0, 0, 1, 1]
    assert scored[~a].tolist() == [True, True, True, True, False, False]


def test_features_use_only_the_past() -> None:
    rows = [("A", d, float(d), 0, 0) for d in range(0, 8)]
    base, names = build_features(_table(rows))
    changed = [("A", d, 100.0 if d > 4 else float(d), 0, 0) for d in range(0, 8)]
    later, _ = build_features(_table(changed))
    np.testing.assert_array_equal(base[:5], later[:5])  # rows up to day 4 do not see days 5-7
    assert {"crp_mg_l", "crp_mg_l_change", "crp_mg_l_max", "icans_grade_max"} <= set(names)


@pytest.fixture(scope="module")
def cohort() -> DailyTable:
    daily, _ = simulate_trajectories(TrajectoryConfig(patients=120, seed=3))
    return DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})


def test_evaluation_on_the_simulator(cohort: DailyTable) -> None:
    """The simulator raises IL-6 and CRP before ICANS, so a forecaster must beat chance by far;
    the exact values depend on the seed (120 patients, seed 3)."""
    r = evaluate_forecaster(cohort, ToxicityForecaster(target="icans", min_grade=1, horizon=5))
    assert r["cross_validation"] == "grouped 10-fold" and r["n_patients"] == 120
    assert r["auroc"] > 0.8 and r["auprc"] > r["prevalence"] * 2
    assert abs(sum(b["n"] for b in r["calibration"]["bins"]) - r["n_patient_days"]) == 0
    small = DailyTable.from_columns(
        {
            "patient_id": cohort.patient_id[: 40 * 22],
            "day": cohort.day[: 40 * 22],
            "crs_grade": cohort.crs_grade[: 40 * 22],
            "icans_grade": cohort.icans_grade[: 40 * 22],
            **{k: v[: 40 * 22] for k, v in cohort.values.items()},
        }
    )
    lopo = evaluate_forecaster(small, ToxicityForecaster(target="crs", min_grade=1, horizon=3, model="logistic"))
    assert lopo["cross_validation"] == "leave-one-patient-out" and lopo["n_patients"] <= 40


def test_fit_predict_and_parameter_errors(cohort: DailyTable) -> None:
    f = ToxicityForecaster(target="crs", min_grade=2, horizon=3).fit(cohort)
    p = f.predict_proba(cohort)
    assert p.shape == (len(cohort),) and np.all((p >= 0) & (p <= 1)) and f.n_patients_ == 120
    with pytest.raises(ValidationError) as info:
        ToxicityForecaster(target="sepsis", min_grade=7, horizon=0).fit(cohort)  # type: ignore[arg-type]
    assert len(info.value.problems) == 3
    with pytest.raises(ValidationError, match="both outcomes are needed"):
        ToxicityForecaster(target="crs", min_grade=4, horizon=1).fit(_table([("A", d, 1.0, 0, 0) for d in range(5)]))
