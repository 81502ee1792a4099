"""CTCAE v5.0 / v6.0 laboratory grading: each grade band of domain.md §2.1-2.2 (NCI text as
encoded in pharmaverse/admiral), with units, reference ranges and baselines."""

from __future__ import annotations

import pytest

from cgtvigil.clinical import grade_ctcae
from cgtvigil.errors import ValidationError
from cgtvigil.model import LabResult


def lab(analyte: str, value: float, unit: str, lo: float | None = None, hi: float | None = None) -> LabResult:
    return LabResult(analyte=analyte, value=value, unit=unit, ref_low=lo, ref_high=hi)


@pytest.mark.parametrize(
    ("value", "unit", "v5", "v6"),
    [
        (2000, "cells/uL", 0, 0),
        (1600, "/mm3", 1, 0),  # < LLN (1800) - 1500: v5 grade 1; v6 starts at < 1500
        (1200, "cells/uL", 2, 1),
        (0.8, "10^9/L", 3, 2),
        (400, "cells/uL", 4, 3),
        (0.05, "x10^9/L", 4, 4),  # v6 grade 4 is < 100/mm3
    ],
)
def test_neutrophils_v5_and_v6(value: float, unit: str, v5: int, v6: int) -> None:
    per_ul = unit in ("cells/uL", "/mm3")
    r = lab("anc", value, unit, 1800 if per_ul else 1.8, 7700 if per_ul else 7.7)  # range in the result's unit
    assert grade_ctcae("neutrophil_count_decreased", r).grade == v5
    assert grade_ctcae("neutrophil_count_decreased", r, version="6.0").grade == v6


@pytest.mark.parametrize(
    ("value", "v5", "v6"), [(160, 0, 0), (100, 1, 1), (60, 2, 2), (30, 3, 3), (20, 4, 3), (9, 4, 4)]
)
def test_platelets(value: float, v5: int, v6: int) -> None:
    """v5: grade 4 < 25; v6 ("Thrombocytopenia"): grade 3 < 50 - 10, grade 4 < 10 x10^9/L
    (admiral ncictcaev5_uscv.json / ncictcaev6_uscv.json)."""
    r = lab("plt", value, "10^9/L", 150, 400)
    assert grade_ctcae("platelet_count_decreased", r).grade == v5
    six = grade_ctcae("Thrombocytopenia", r, version="6.0")
    assert six.grade == v6 and six.inputs["ctcae_term"] == "Thrombocytopenia" and not six.notes


@pytest.mark.parametrize(
    ("value", "unit", "grade"),
    [(12.5, "g/dL", 0), (11.0, "g/dL", 1), (90, "g/L", 2), (4.8, "mmol/L", 3)],  # mmol/L column: < 4.9
)
def test_anaemia(value: float, unit: str, grade: int) -> None:
    assert grade_ctcae("anemia", LabResult(analyte="hb", value=value, unit=unit)).grade == grade


def test_anaemia_clinical_grades() -> None:
    r = LabResult(analyte="hb", value=9.0, unit="g/dL")
    assert grade_ctcae("anemia", r, transfusion_indicated=True).grade == 3
    assert grade_ctcae("anemia", r, life_threatening=True).grade == 4


@pytest.mark.parametrize(
    ("value", "baseline", "v5", "v6"),
    [
        (35, None, 0, 0),
        (100, 30, 1, 1),  # 2.5 x ULN (baseline normal: same in v5 and v6)
        (160, 30, 2, 2),  # 4 x ULN
        (400, 30, 3, 3),  # 10 x ULN
        (1000, 30, 4, 4),  # 25 x ULN
        (70, 60, 0, 1),  # baseline 60 > ULN: 1.17 x baseline -> v5 0 (< 1.5x), v6 1 (1.0-1.5x)
        (100, 60, 1, 2),  # 1.67 x baseline: v5 1 (1.5-3.0x), v6 2 (>1.5-2.0x)
        (200, 60, 2, 3),  # 3.33 x baseline: v5 2, v6 3 (>2.0-4.0x)
        (300, 60, 2, 4),  # exactly 5.0 x baseline: v5 grade 3 needs > 5.0 -> 2; v6 > 4.0 -> 4
    ],
)
def test_alt_with_and_without_abnormal_baseline(value: float, baseline: float | None, v5: int, v6: int) -> None:
    base = LabResult(analyte="alt", value=baseline, unit="U/L") if baseline is not None else None
    r = lab("alt", value, "U/L", 0, 40)
    assert grade_ctcae("alanine_aminotransferase_increased", r, baseline=base).grade == v5
    assert grade_ctcae("alanine_aminotransferase_increased", r, baseline=base, version="6.0").grade == v6


@pytest.mark.parametrize(
    ("value", "unit", "baseline", "v5", "v6"),
    [
        (1.5, "mg/dL", None, 1, 1),  # 1.25 x ULN 1.2
        (3.0, "mg/dL", None, 2, 2),  # 2.5 x ULN
        (102.6, "umol/L", None, 3, 3),  # 6 mg/dL = 5 x ULN
        (15.0, "mg/dL", None, 4, 4),  # 12.5 x ULN
        (4.2, "mg/dL", 2.0, 2, 2),  # baseline 2.0 > ULN: 2.1 x baseline: v5 >1.5-3.0 -> 2; v6 >1.5-2.5 -> 2
        (5.6, "mg/dL", 2.0, 2, 3),  # 2.8 x baseline: v5 2; v6 >2.5 -> 3
    ],
)
def test_bilirubin(value: float, unit: str, baseline: float | None, v5: int, v6: int) -> None:
    base = LabResult(analyte="bilirubin", value=baseline, unit="mg/dL") if baseline is not None else None
    r = LabResult(analyte="bilirubin", value=value, unit=unit, ref_low=0.0, ref_high=1.2 if unit == "mg/dL" else 20.52)
    assert grade_ctcae("blood_bilirubin_increased", r, baseline=base).grade == v5
    assert grade_ctcae("blood_bilirubin_increased", r, baseline=base, version="6.0").grade == v6


@pytest.mark.parametrize(
    ("value", "unit", "baseline", "grade"),
    [
        (180, "mg/dL", None, 1),  # 0.9 x LLN 200
        (1.4, "g/L", None, 2),  # 140 mg/dL = 0.7 x LLN
        (90, "mg/dL", None, 3),  # 0.45 x LLN
        (45, "mg/dL", None, 4),  # < 50 mg/dL absolute
        (150, "mg/dL", 180, 1),  # baseline abnormal (< LLN): 17% fall
        (120, "mg/dL", 180, 2),  # 33% fall
        (80, "mg/dL", 180, 3),  # 56% fall
        (55, "mg/dL", 240, 3),  # baseline normal: 55/200 = 0.275 x LLN -> grade 3 (< 0.5 - 0.25)
    ],
)
def test_fibrinogen(value: float, unit: str, baseline: float | None, grade: int) -> None:
    base = LabResult(analyte="fibrinogen", value=baseline, unit="mg/dL") if baseline is not None else None
    r = LabResult(
        analyte="fibrinogen",
        value=value,
        unit=unit,
        ref_low=200 if unit == "mg/dL" else 2.0,
        ref_high=400 if unit == "mg/dL" else 4.0,
    )
    assert grade_ctcae("fibrinogen_decreased", r, baseline=base).grade == grade


def test_default_range_is_stated_and_bad_input_is_listed() -> None:
    r = grade_ctcae("platelet_count_decreased", LabResult(analyte="plt", value=140, unit="10^9/L"))
    assert r.grade == 1 and "cgtvigil default 150-400" in r.notes[0]
    with pytest.raises(ValidationError) as info:
        grade_ctcae("neutrophil_count_decreased", LabResult(analyte="plt", value=-3, unit="mg"))
    assert len(info.value.problems) == 2  # wrong analyte; unknown unit
    with pytest.raises(ValidationError, match="unknown CTCAE term"):
        grade_ctcae("lymphocyte_count_decreased", LabResult(analyte="anc", value=1, unit="10^9/L"))


def test_explanations_show_the_deciding_precision() -> None:
    """ALT 120.1 with ULN 40 is 3.0025 x ULN: > 3.0 -> grade 2 (admiral ncictcaev5_uscv.json),
    shown as more than 3.0, never as "3.00 x ULN"; a 24.6% fall is not shown as "25%"."""
    alt = grade_ctcae("alanine_aminotransferase_increased", lab("alt", 120.1, "U/L", 0, 40))
    assert alt.grade == 2 and "3.002 x ULN" in alt.driver
    fib = grade_ctcae(
        "fibrinogen_decreased",
        lab("fibrinogen", 135.7, "mg/dL", 200, 400),
        baseline=LabResult(analyte="fibrinogen", value=180, unit="mg/dL"),
    )
    assert fib.grade == 1 and "24.61% fall" in fib.driver
