"""Likely units of a column (cgtvigil.clinical.likely_units): implausible values read in
another unit, and a block of patients a unit factor away (two extractions stacked), on the
SYNTHETIC realistic simulator's site files (site C reports CRP in mg/dL and temperature in °F)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from cgtvigil.clinical import likely_units
from cgtvigil.synth import TrajectoryConfig, simulate_trajectories


def _cohort(seed: int) -> tuple[pa.Table, dict[str, str]]:
    daily, patients = simulate_trajectories(TrajectoryConfig(patients=120, seed=seed, realistic=True))
    site = dict(zip(patients.column("patient_id").to_pylist(), patients.column("site").to_pylist(), strict=True))
    return daily, site


def test_a_temperature_in_fahrenheit_in_a_celsius_column_is_named_row_by_row() -> None:
    mix = likely_units("temperature", [37.1, np.nan, 101.3, 38.9, 99.0, 20.0], "Cel")
    assert mix.mixed and mix.reason == "implausible"
    assert mix.likely.tolist() == ["", "", "[degF]", "", "[degF]", ""]  # 20 °C: implausible, no likely unit
    assert mix.rows("[degF]").tolist() == [2, 4] and mix.units() == ["[degF]"]


@pytest.mark.parametrize("seed", [2, 3, 5, 11])
def test_crp_in_mg_dl_stacked_below_mg_l_is_found_patient_by_patient(seed: int) -> None:
    daily, site = _cohort(seed)
    pid = np.array(daily.column("patient_id").to_pylist())
    crp = daily.column("crp_mg_l").to_numpy(zero_copy_only=False)
    in_c = np.array([site[p] == "C" for p in pid])
    order = np.r_[np.flatnonzero(~in_c), np.flatnonzero(in_c)]  # sites A and B, then C
    stacked = np.where(in_c, crp / 10.0, crp)[order]
    mix = likely_units("crp", stacked, "mg/L", pid[order])
    assert mix.mixed and mix.reason == "level shift" and mix.units() == ["mg/dL"]
    flagged = mix.likely == "mg/dL"
    measured_c = in_c[order] & np.isfinite(stacked)
    assert np.array_equal(flagged, measured_c)
    # one unit throughout: nothing found, in file order or sorted by patient
    assert not likely_units("crp", crp, "mg/L", pid).mixed
    assert not likely_units("crp", crp[order], "mg/L", pid[order]).mixed
