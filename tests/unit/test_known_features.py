"""The features known at the time (forecasting._known) added for issue 16: age, product class,
CRS so far, treatment so far, EASIX and CAR-HEMATOTOX; each from the rows up to day t only,
and the scores the same as cgtvigil.clinical's."""

from __future__ import annotations

import numpy as np

from cgtvigil.clinical import car_hematotox, easix
from cgtvigil.forecasting import DailyTable, ToxicityForecaster
from cgtvigil.forecasting._known import PatientDays, known_features
from cgtvigil.model import LabResult


def _table(later_crp: float = 4.0) -> DailyTable:
    days = list(range(6))
    return DailyTable.from_columns(
        {
            "patient_id": ["A"] * 6 + ["B"] * 6,
            "day": days * 2,
            "crs_grade": [0, 0, 1, 2, 1, 0] + [0] * 6,
            "icans_grade": [0] * 12,
            "tocilizumab": [None, None, None, 1, None, None] + [None] * 6,
            "steroids": [0] * 12,
            "age": [64, None, None, None, None, None, None, None, 50, None, None, None],
            "product": ["Yescarta"] + [""] * 5 + ["", "", "Carvykti", "", "", ""],
            "crp_mg_l": [12, 20, 40, 80, later_crp, 3, 2, 2, 2, 2, 2, 2],
            "ferritin_ng_ml": [700, None, None, None, None, None] + [300] * 6,
            "plt_1e9_l": [70, 60, 50, 40, 40, 40] + [200] * 6,
            "anc_1e9_l": [1.0, None, None, None, None, None] + [3.0] * 6,
            "hb_g_dl": [8.5, None, None, None, None, None] + [12.0] * 6,
            "ldh_u_l": [300, 320, None, None, None, None] + [200] * 6,
            "creatinine_mg_dl": [1.2, None, None, None, None, None] + [0.8] * 6,
        }
    )


def _features(table: DailyTable) -> dict[str, np.ndarray]:
    x, names = known_features(table, PatientDays(table))
    return {n: x[:, i] for i, n in enumerate(names)}


def _lab(analyte: str, value: float, unit: str) -> LabResult:
    return LabResult(analyte=analyte, value=value, unit=unit)


def test_patient_treatment_and_crs_so_far_are_known_from_their_day_on() -> None:
    f = _features(_table())
    a, b = slice(0, 6), slice(6, 12)
    assert f["age"][a].tolist() == [64.0] * 6
    assert np.isnan(f["age"][b][:2]).all() and f["age"][b][2:].tolist() == [50.0] * 4  # not known before day 2
    assert f["product_class_cd19"][a].tolist() == [1.0] * 6 and f["product_class_bcma"][a].tolist() == [0.0] * 6
    assert np.isnan(f["product_class_bcma"][b][:2]).all() and f["product_class_bcma"][b][2:].tolist() == [1.0] * 4
    assert f["crs_grade_started"][a].tolist() == [0, 0, 1, 1, 1, 1]
    assert f["crs_grade_max"][a].tolist() == [0, 0, 1, 2, 2, 2]
    assert f["crs_grade_days_since_onset"][a].tolist() == [0, 0, 1, 2, 3, 4]
    assert f["tocilizumab_given"][a].tolist() == [0, 0, 0, 1, 1, 1] and f["tocilizumab_days"][a].max() == 1
    assert f["steroids_given"].max() == 0
    assert f["plt_1e9_l_min"][a].tolist() == np.log([70, 60, 50, 40, 40, 40]).tolist()


def test_easix_and_car_hematotox_are_cgtvigil_clinicals() -> None:
    f = _features(_table())
    ldh, creatinine, plt = 300.0, 1.2, 70.0
    expected = easix(
        {
            "ldh": _lab("ldh", ldh, "U/L"),
            "creatinine": _lab("creatinine", creatinine, "mg/dL"),
            "plt": _lab("plt", plt, "10^9/L"),
        }
    ).value
    assert expected is not None
    np.testing.assert_allclose(f["easix_baseline_log2"][0], np.log2(expected))
    # day 1: the last LDH (320), creatinine carried forward (1.2), platelets 60
    np.testing.assert_allclose(f["easix_log2"][1], np.log2(320 * 1.2 / 60))
    hematotox = car_hematotox(
        {
            "plt": _lab("plt", 70, "10^9/L"),
            "anc": _lab("anc", 1.0, "10^9/L"),
            "hb": _lab("hb", 8.5, "g/dL"),
            "crp": _lab("crp", 1.2, "mg/dL"),
            "ferritin": _lab("ferritin", 700, "ng/mL"),
        }
    )
    assert f["car_hematotox_baseline"][0] == hematotox.value == 5.0  # plt 2, anc 1, hb 1, crp 0, ferritin 1
    assert f["car_hematotox_baseline"][6] == 0.0


def test_a_later_value_does_not_move_an_earlier_feature() -> None:
    before, after = _features(_table()), _features(_table(later_crp=400.0))
    for name, v in before.items():
        np.testing.assert_array_equal(v[:4], after[name][:4], err_msg=name)  # days 0-3 of patient A


def test_the_window_classifier_on_known_features_fits_and_predicts() -> None:
    t = _table()
    f = ToxicityForecaster(target="crs", min_grade=1, horizon=2, model="logistic", features="known").fit(t)
    assert {"age", "product", "tocilizumab", "plt_1e9_l", "ldh_u_l"} <= set(f.inputs_)
    p = f.predict_proba(t)
    assert p.shape == (len(t),) and np.all((p > 0) & (p < 1))
    # a table without the patient columns: their features are imputed, not an error
    bare = DailyTable(t.patient_id, t.day, t.values)
    assert f.predict_proba(bare).shape == (len(t),)
