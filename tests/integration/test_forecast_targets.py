"""Issue 16's targets on the simulator (`synth trajectories --realistic`, 120 patients, seed 3,
grouped 5-fold cross-validation, every fit inside the folds), and the missingness-shuffle test.

Targets (issue 16, "Evaluation"): severe against non-severe ICANS five days ahead, among the
patients who develop ICANS, AUROC >= 0.75; onset of ICANS within five days, per patient-day,
AUROC >= 0.85; calibration slope within 0.8-1.2. Each is measured with the family kept for its
task by `forecast evaluate --family all` on this cohort (2026-12-02): the course model (onset
within 5 days AUROC 0.798 against hazard 0.785 and window 0.765; calibration slope 0.96;
severe against non-severe 0.986). The onset target is not reached: a strict expected failure
(it turns into a failure when a model reaches it, so that this file is updated), with a floor
just below the measured figure to catch a regression. On another cohort (seed 11) the course
model measured onset 0.789, slope 0.99, but severity 0.733 (43 patients, 8 severe: the AUROC
of so few patients is uncertain by about 0.1).
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


def _course_5d(table: DailyTable) -> dict[str, Any]:
    return compare_families(table, "icans", families=("course",), grades=(1,), horizons=(5,), folds=5)


@pytest.fixture(scope="module")
def course_5d(table: DailyTable) -> dict[str, Any]:
    return _course_5d(table)


def test_severe_against_non_severe_icans_five_days_ahead(course_5d: dict[str, Any]) -> None:
    sev = course_5d["severity"]
    assert sev["n_patients"] >= 30 and sev["n_severe"] >= 5
    assert sev["families"]["course"]["auroc"] >= 0.75  # the target (measured 0.986)


def test_calibration_slope_onset_within_five_days(course_5d: dict[str, Any]) -> None:
    cal = course_5d["tasks"][0]["families"]["course"]["calibration"]
    assert 0.8 <= cal["slope"] <= 1.2  # the target (measured 0.96)


def test_onset_within_five_days_floor(course_5d: dict[str, Any]) -> None:
    m = course_5d["tasks"][0]["families"]["course"]
    assert m["auroc"] >= 0.77  # measured 0.798
    assert m["patient_level"]["auroc"] >= 0.65


@pytest.mark.xfail(strict=True, reason="not reached on the realistic simulator: AUROC 0.798 (target 0.85)")
def test_onset_within_five_days_target(course_5d: dict[str, Any]) -> None:
    assert course_5d["tasks"][0]["families"]["course"]["auroc"] >= 0.85


def _shuffled_missingness(seed: int) -> DailyTable:
    """The complete labs of the same cohort with the missingness pattern of another patient
    (a random permutation), aligned by day since infusion; a day the donor lacks keeps its value."""
    full, masked = _table(missing_labs=False), _table()
    assert np.array_equal(full.patient_id, masked.patient_id) and np.array_equal(full.day, masked.day)
    ids = np.unique(full.patient_id)
    donor = dict(zip(ids, np.random.default_rng(seed).permutation(ids), strict=True))
    values = dict(full.values)
    for k in ("max_temp_c", "crp_mg_l", "ferritin_ng_ml", "il6_pg_ml", "pct_ng_ml", "wbc_1e9_l"):
        gone = {
            (p, int(d)) for p, d, v in zip(masked.patient_id, masked.day, masked.values[k], strict=True) if np.isnan(v)
        }
        take = np.array([(donor[p], int(d)) in gone for p, d in zip(full.patient_id, full.day, strict=True)])
        values[k] = np.where(take, np.nan, full.values[k])
    return DailyTable(full.patient_id, full.day, values)


def test_shuffling_the_missingness_between_patients_changes_discrimination_by_noise_only(
    course_5d: dict[str, Any],
) -> None:
    """Labs are measured more often while a toxicity is active (as in real data): a model that
    read the pattern of missing values would lose that cue here. Noise: twice the standard
    error of the AUROC by the Hanley-McNeil formula on the scored patient-days."""
    task = _course_5d(_shuffled_missingness(1))["tasks"][0]
    before = course_5d["tasks"][0]
    assert task["n_patient_days"] == before["n_patient_days"] and task["n_events"] == before["n_events"]
    a, n1 = before["families"]["course"]["auroc"], task["n_events"]
    n0 = task["n_patient_days"] - n1
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = np.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n0 * n1))
    assert abs(task["families"]["course"]["auroc"] - a) <= 2 * se, (task["families"]["course"]["auroc"], a, se)
