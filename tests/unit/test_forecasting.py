"""Forecasting: labels without leakage, features from the past only, and cross-validated
evaluation on the SYNTHETIC trajectory simulator (expected values by construction)."""

from __future__ import annotations

import numpy as np
import pytest

from cgtvigil.errors import ValidationError
from cgtvigil.forecasting import (
    FEATURE_SOURCES,
    DailyTable,
    ToxicityForecaster,
    build_features,
    evaluate_forecaster,
    onset_labels,
)
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
    assert r["inputs"] == ["day", *(k for k in FEATURE_SOURCES if k in cohort.values), "crs_grade", "icans_grade"]
    assert r["features"][:4] == ["day", "max_temp_c", "max_temp_c_change", "max_temp_c_max"]
    assert r["auroc"] > 0.8 and r["auprc"] > r["prevalence"] * 2
    assert abs(sum(b["n"] for b in r["calibration"]["bins"]) - r["n_patient_days"]) == 0
    small = DailyTable.from_columns(
        {
            "patient_id": cohort.patient_id[: 40 * 22],
            "day": cohort.day[: 40 * 22],
            **{k: v[: 40 * 22] for k, v in cohort.values.items()},
        }
    )
    lopo = evaluate_forecaster(small, ToxicityForecaster(target="crs", min_grade=1, horizon=3, model="logistic"))
    assert lopo["cross_validation"] == "leave-one-patient-out" and lopo["n_patients"] <= 40


def test_fit_predict_and_parameter_errors(cohort: DailyTable) -> None:
    f = ToxicityForecaster(target="crs", min_grade=2, horizon=3).fit(cohort)
    p = f.predict_proba(cohort)
    assert p.shape == (len(cohort),) and np.all((p >= 0) & (p <= 1)) and f.n_patients_ == 120
    assert f.inputs_ == ["day", *(k for k in FEATURE_SOURCES if k in cohort.values), "crs_grade", "icans_grade"]
    with pytest.raises(ValidationError) as info:
        ToxicityForecaster(target="sepsis", min_grade=7, horizon=0).fit(cohort)  # type: ignore[arg-type]
    assert len(info.value.problems) == 3
    with pytest.raises(ValidationError, match="both outcomes are needed"):
        ToxicityForecaster(target="crs", min_grade=4, horizon=1).fit(_table([("A", d, 1.0, 0, 0) for d in range(5)]))


def _minimal(cohort: DailyTable, *keys: str) -> DailyTable:
    return DailyTable.from_columns(
        {"patient_id": cohort.patient_id, "day": cohort.day, **{k: cohort.values[k] for k in keys}}
    )


def test_only_the_id_day_and_target_grade_are_needed(cohort: DailyTable) -> None:
    """Issue 8 §3: patient_id, day and the target's grade suffice; the model uses what the
    table has and names it (before: crs_grade and icans_grade were both required, and every
    feature present was used without saying so)."""
    f = ToxicityForecaster(target="icans", model="logistic").fit(_minimal(cohort, "icans_grade"))
    assert f.inputs_ == ["day", "icans_grade"]
    assert f.feature_names_ == ["day", "icans_grade", "icans_grade_max"]
    with_crp = ToxicityForecaster(target="icans", model="logistic").fit(_minimal(cohort, "icans_grade", "crp_mg_l"))
    assert with_crp.inputs_ == ["day", "crp_mg_l", "icans_grade"]
    p = with_crp.predict_proba(cohort)  # extra columns of the table are not used
    assert p.shape == (len(cohort),)
    with pytest.raises(ValidationError, match=r"uses column\(s\) crp_mg_l, which the daily table lacks"):
        with_crp.predict_proba(_minimal(cohort, "icans_grade"))
    with pytest.raises(ValidationError, match="no 'crs_grade' column, which target 'crs' needs"):
        ToxicityForecaster(target="crs").fit(_minimal(cohort, "icans_grade"))
    empty = DailyTable.from_columns(
        {
            "patient_id": cohort.patient_id,
            "day": cohort.day,
            "icans_grade": cohort.values["icans_grade"],
            "il6_pg_ml": np.full(len(cohort), np.nan),
        }
    )
    assert ToxicityForecaster(model="logistic").fit(empty).inputs_ == ["day", "icans_grade"]  # no values: not used


def test_daily_table_lists_every_problem_with_rows() -> None:
    """Reliability review D17: NaN/inf values, negative, fractional and absurd days, grades 7
    and -1, duplicate patient-days and blank ids were all used silently."""
    columns = {
        "patient_id": ["A", "A", "A", "A", " ", "B", "B", "B"],
        "day": [0, 1, 1, 2, 0, -1, 2.5, 1e12],
        "crs_grade": [0, 0, 0, 7, 0, 0, 1.5, 0],
        "icans_grade": [0, 0, 0, 0, -1, 0, 0, np.nan],
        "crp_mg_l": [1.0, np.inf, np.nan, 2.0, 1.0, 1.0, -np.inf, 1.0],
    }
    with pytest.raises(ValidationError) as info:
        DailyTable.from_columns(columns, where="t.csv", row_label="line", first_row=2)
    text = "\n".join(info.value.problems)
    assert len(info.value.problems) == 6, text
    assert "t.csv: column 'patient_id' must not be blank: line 6." in text
    assert "column 'day' must hold whole days from 0 (infusion) to 10,000: lines 7, 8, 9. Got -1, 2.5, 1e+12." in text
    assert "column 'crs_grade' must hold whole grades 0-4 (blank: not assessed): lines 5, 8. Got 7, 1.5." in text
    assert "column 'icans_grade' must hold whole grades 0-4 (blank: not assessed): line 6. Got -1." in text
    assert "column 'crp_mg_l' must hold finite numbers (blank: not measured): lines 3, 8. Got inf, -inf." in text
    assert "comes again on line 4 (e.g. patient 'A' day 1)" in text
    with pytest.raises(ValidationError, match="unknown column\\(s\\) 'crp'; the canonical columns are patient_id, day"):
        DailyTable.from_columns({"patient_id": ["A"], "day": [0], "crp": [1.0]})
    with pytest.raises(ValidationError, match="needs column\\(s\\) day"):
        DailyTable.from_columns({"patient_id": ["A"], "icans_grade": [0]})


def test_evaluation_checks_its_options(cohort: DailyTable) -> None:
    """Reliability review D17: evaluate_forecaster never called the forecaster's validation;
    target 'foo' ran the ICANS model and horizon -3 or loo_max_patients -1 were accepted."""
    bad = ToxicityForecaster(target="foo", model="foo", min_grade=9, horizon=-3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as info:
        evaluate_forecaster(cohort, bad, loo_max_patients=-1)
    assert len(info.value.problems) == 5
    assert "The 'loo_max_patients' parameter of evaluate_forecaster must be an integer >= 1. Got -1." in (
        info.value.problems
    )
    with pytest.raises(ValidationError, match="'horizon' parameter of ToxicityForecaster must be an integer"):
        evaluate_forecaster(cohort, ToxicityForecaster(horizon=100000))


def _days(patients: list[str], grade: float) -> DailyTable:
    pid = [p for p in patients for _ in range(10)]
    return DailyTable.from_columns(
        {"patient_id": pid, "day": [d for _ in patients for d in range(10)], "icans_grade": [grade] * len(pid)}
    )


def test_evaluation_explains_data_it_cannot_use() -> None:
    """Reliability review D20: a header-only table, every day an event and one patient gave
    numpy/sklearn texts ('zero-size array ...', 'Found array with 0 sample(s)', LeaveOneGroupOut)."""
    f = ToxicityForecaster(model="logistic")
    with pytest.raises(ValidationError, match="the daily table has no rows"):
        evaluate_forecaster(DailyTable.from_columns({"patient_id": [], "day": [], "icans_grade": []}), f)
    with pytest.raises(ValidationError, match=r"none of the 20 patient-days can be scored .* every day is at or after"):
        evaluate_forecaster(_days(["A", "B"], 1.0), f)
    with pytest.raises(ValidationError, match="hold 0 onsets of ICANS grade >= 1 within 5 days: both outcomes"):
        evaluate_forecaster(_days(["A", "B"], 0.0), f)
    one = DailyTable.from_columns({"patient_id": ["A"] * 10, "day": list(range(10)), "icans_grade": [0] * 6 + [1] * 4})
    with pytest.raises(ValidationError, match="at least 2 patients with scorable days; the table has 1 \\('A'\\)"):
        evaluate_forecaster(one, f)


def test_core_features_are_the_known_features_subset_from_the_past_only() -> None:
    """features="core": the dozen known-at-time features of ``core_features`` (no slope, ratio,
    treatment or other lab), fitted and predicted from data up to each day only."""
    from cgtvigil.forecasting._known import PatientDays, core_features, known_features

    daily, _ = simulate_trajectories(TrajectoryConfig(patients=40, seed=5, realistic=True))
    cols = {k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names}
    table = DailyTable.from_columns(cols)
    model = ToxicityForecaster(target="icans", min_grade=1, horizon=5, model="logistic", features="core").fit(table)
    _, known = known_features(table, PatientDays(table))
    assert model.feature_names_ == core_features(known)
    assert {"crp_mg_l_last", "il6_pg_ml_last", "crs_grade_days_since_onset", "fever_days"} <= set(model.feature_names_)
    assert not any("slope" in n or "ratio" in n or n.startswith(("tocilizumab", "plt_")) for n in model.feature_names_)
    assert set(model.inputs_) == {
        "day", "max_temp_c", "crp_mg_l", "ferritin_ng_ml", "il6_pg_ml", "crs_grade", "icans_grade", "product"
    }  # fmt: skip
    before = model.predict_proba(table)
    later = dict(cols)  # every value after day 6 of the first patient changed
    first = (cols["patient_id"] == cols["patient_id"][0]) & (cols["day"] > 6)
    for k in ("crp_mg_l", "ferritin_ng_ml", "il6_pg_ml", "max_temp_c"):
        later[k] = np.where(first, 999.0, cols[k])
    later["crs_grade"] = np.where(first, 4, cols["crs_grade"])
    after = model.predict_proba(DailyTable.from_columns(later))
    keep = ~first
    np.testing.assert_array_equal(before[keep & (cols["patient_id"] == cols["patient_id"][0])],
                                  after[keep & (cols["patient_id"] == cols["patient_id"][0])])  # fmt: skip
    assert not np.array_equal(before[first], after[first])
    r = evaluate_forecaster(table, ToxicityForecaster(target="icans", horizon=5, model="logistic", features="core"))
    assert r["features"] == model.feature_names_ and "il6_pg_ml" in r["inputs"] and r["auroc"] is not None
