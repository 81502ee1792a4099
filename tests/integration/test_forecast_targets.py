"""Issue 16's targets on the simulator (`synth trajectories --realistic`, 120 patients, seed 3,
grouped 5-fold cross-validation, every fit inside the folds), and the missingness-shuffle test.

Targets (issue 16, "Evaluation"): severe against non-severe ICANS five days ahead, among the
patients who develop ICANS, AUROC >= 0.75; onset of ICANS within five days, per patient-day,
AUROC >= 0.85; calibration slope within 0.8-1.2. Each is measured with the family that wins
its task when the three are compared on the same folds (the window classifier on the core
features known at the time, logistic; the hazard model; the course model). Measured
2026-12-02 on this cohort: onset within 5 days AUROC 0.854 window on the core features
(patient bootstrap 95 % interval in benchmarks/README.md; 0.838 on every known feature, 0.787
hazard, 0.796 course), calibration slope 1.06, severe against non-severe 0.989 (hazard; window
0.964). The onset target is reached here by a small margin, smaller than the interval: on
other cohorts of the same size the core window classifier measured 0.861 (seed 11), 0.861 (5),
0.883 (7), 0.874 (13), every known feature 0.834-0.871. The simulator's ceiling on this cohort
(the Bayes-optimal forecast from its own generative rules, `benchmarks/forecast.py --oracle`)
is 0.92 for a forecaster that also knew the CRS course ahead, 0.95 for one that knew the latent
inflammatory propensity as well: the target is below it; what a fitted model misses is mostly
the variance of ~50 coefficients fitted on 96 patients (a logistic model on every known feature
fitted on 1,500 other simulated patients scores 0.88 on this cohort).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cgtvigil.forecasting import DailyTable, compare_families
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories

PATIENTS, SEED = 120, 3


def _table(missing_labs: bool = True) -> DailyTable:
    cfg = TrajectoryConfig(patients=PATIENTS, seed=SEED, realistic=True, missing_labs=missing_labs)
    daily, _ = simulate_trajectories(cfg)
    return DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})


@pytest.fixture(scope="module")
def table() -> DailyTable:
    return _table()


def _compare_5d(table: DailyTable) -> dict[str, Any]:
    return compare_families(
        table,
        "icans",
        grades=(1,),
        horizons=(5,),
        folds=5,
        window_model="logistic",
        window_features="core",
    )


@pytest.fixture(scope="module")
def compared_5d(table: DailyTable) -> dict[str, Any]:
    return _compare_5d(table)


def _onset_winner(result: dict[str, Any]) -> dict[str, Any]:
    task = result["tasks"][0]
    m: dict[str, Any] = task["families"][task["winner"]]
    return m


def test_the_table_holds_what_a_cohort_table_holds(table: DailyTable) -> None:
    assert {"age", "product", "plt_1e9_l", "tocilizumab", "steroids"} <= set(table.columns)


def test_severe_against_non_severe_icans_five_days_ahead(compared_5d: dict[str, Any]) -> None:
    sev = compared_5d["severity"]
    assert sev["n_patients"] >= 30 and sev["n_severe"] >= 5
    assert sev["families"][sev["winner"]]["auroc"] >= 0.75  # the target (measured 0.989, hazard)


def test_calibration_slope_onset_within_five_days(compared_5d: dict[str, Any]) -> None:
    assert 0.8 <= _onset_winner(compared_5d)["calibration"]["slope"] <= 1.2  # the target (measured 1.06)


def test_onset_within_five_days_target(compared_5d: dict[str, Any]) -> None:
    task = compared_5d["tasks"][0]
    assert task["winner"] == "window"
    m = _onset_winner(compared_5d)
    assert m["auroc"] >= 0.85  # the target (measured 0.854)
    assert m["patient_level"]["auroc"] >= 0.75  # measured 0.80
    # the other families keep their figures (they do not use the core set)
    assert task["families"]["hazard"]["auroc"] >= 0.77 and task["families"]["course"]["auroc"] >= 0.78


def _shuffled_missingness(seed: int) -> DailyTable:
    """The complete labs of the same cohort with the missingness pattern of another patient
    (a random permutation), aligned by day since infusion; a day the donor lacks keeps its value."""
    full, masked = _table(missing_labs=False), _table()
    assert np.array_equal(full.patient_id, masked.patient_id) and np.array_equal(full.day, masked.day)
    ids = np.unique(full.patient_id)
    donor = dict(zip(ids, np.random.default_rng(seed).permutation(ids), strict=True))
    values = dict(full.values)
    for k in ("max_temp_c", "crp_mg_l", "ferritin_ng_ml", "il6_pg_ml", "pct_ng_ml", "wbc_1e9_l", "plt_1e9_l"):
        gone = {
            (p, int(d)) for p, d, v in zip(masked.patient_id, masked.day, masked.values[k], strict=True) if np.isnan(v)
        }
        take = np.array([(donor[p], int(d)) in gone for p, d in zip(full.patient_id, full.day, strict=True)])
        values[k] = np.where(take, np.nan, full.values[k])
    return DailyTable(full.patient_id, full.day, values, full.text)


def test_shuffling_the_missingness_between_patients_changes_discrimination_by_noise_only(
    compared_5d: dict[str, Any],
) -> None:
    """Labs are measured more often while a toxicity is active (as in real data): a model that
    read the pattern of missing values would lose that cue here. Noise: twice the standard
    error of the AUROC by the Hanley-McNeil formula on the scored patient-days."""
    task = _compare_5d(_shuffled_missingness(1))["tasks"][0]
    before = compared_5d["tasks"][0]
    assert task["n_patient_days"] == before["n_patient_days"] and task["n_events"] == before["n_events"]
    family = before["winner"]
    a, n1 = before["families"][family]["auroc"], task["n_events"]
    n0 = task["n_patient_days"] - n1
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n0 * n1))
    for f in before["families"]:  # every family, the winner's noise
        got = task["families"][f]["auroc"]
        assert abs(got - before["families"][f]["auroc"]) <= 2 * se, (f, got, before["families"][f]["auroc"], se)
