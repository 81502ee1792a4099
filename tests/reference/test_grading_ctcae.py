"""CTCAE laboratory grading against NCI's tables as encoded in pharmaverse/admiral
(``data-raw/adlb_grading/ncictcaev5_uscv.json`` and ``ncictcaev6_uscv.json``):

- v6.0 "Thrombocytopenia": grade 1 <LLN - 75.0, grade 2 <75.0 - 50.0, grade 3 <50.0 - 10.0,
  grade 4 <10.0 x10^9/L; v5.0 "Platelet count decreased": grade 3 <50 - 25, grade 4 <25.
- "Anemia" (v5.0 and v6.0): grade 1 <LLN - 10.0 g/dL; <LLN - 6.2 mmol/L; <LLN - 100 g/L;
  grade 2 <10.0 - 8.0 g/dL; <6.2 - 4.9 mmol/L; <100 - 80 g/L; grade 3 <8.0 g/dL; <4.9 mmol/L;
  <80 g/L. Each unit is graded on its own column.
"""

from __future__ import annotations

import pytest

from cgtvigil.clinical import grade_ctcae
from cgtvigil.model import LabResult


def plt(value: float) -> LabResult:
    return LabResult(analyte="plt", value=value, unit="10^9/L", ref_low=150, ref_high=400)


@pytest.mark.parametrize(
    ("value", "v5", "v6"),
    [
        (150, 0, 0),
        (75, 1, 1),  # 75 is not < 75
        (74.9, 2, 2),
        (50, 2, 2),
        (49.9, 3, 3),
        (25, 3, 3),
        (24.9, 4, 3),  # v5 grade 4 < 25; v6 grade 3 down to 10
        (10, 4, 3),
        (9.9, 4, 4),  # v6 grade 4 < 10
    ],
)
def test_platelets_v5_and_v6_bands(value: float, v5: int, v6: int) -> None:
    assert grade_ctcae("platelet_count_decreased", plt(value)).grade == v5
    six = grade_ctcae("Thrombocytopenia", plt(value), version="6.0")
    assert six.grade == v6 and not six.notes  # no "graded with v5" caveat any more


@pytest.mark.parametrize(
    "term",
    ["Thrombocytopenia", "thrombocytopenia", "Platelet count decreased", "platelet_count_decreased"],
)
def test_terms_as_each_version_spells_them(term: str) -> None:
    r = grade_ctcae(term, plt(30), version="6.0")
    assert r.grade == 3 and r.inputs["ctcae_term"] == "Thrombocytopenia" and r.inputs["term_as_given"] == term
    assert grade_ctcae(term, plt(30)).inputs["ctcae_term"] == "Platelet count decreased"
    anc = LabResult(analyte="anc", value=0.4, unit="10^9/L")
    assert grade_ctcae("Neutrophil count decreased", anc, version="6.0").grade == 3  # <0.5 - 0.1


@pytest.mark.parametrize(
    ("value", "unit", "lln", "grade"),
    [
        (6.2, "mmol/L", 7.4, 1),  # <LLN - 6.2 mmol/L: 6.2 is not < 6.2
        (6.19, "mmol/L", 7.4, 2),
        (4.9, "mmol/L", 7.4, 2),  # <6.2 - 4.9: 4.9 is not < 4.9 (4.9 / 0.6206 = 7.9 g/dL would say 3)
        (4.89, "mmol/L", 7.4, 3),
        (7.5, "mmol/L", 7.4, 0),
        (100, "g/L", 120, 1),
        (80, "g/L", 120, 2),
        (79.9, "g/L", 120, 3),
        (10.0, "g/dL", 12.0, 1),
        (8.0, "g/dL", 12.0, 2),
    ],
)
def test_anaemia_on_its_own_unit_column(value: float, unit: str, lln: float, grade: int) -> None:
    r = grade_ctcae("anemia", LabResult(analyte="hb", value=value, unit=unit, ref_low=lln, ref_high=lln * 1.4))
    assert r.grade == grade
    assert r.inputs["graded_unit"] == unit and r.inputs["graded_value"] == value
    assert f"CTCAE's {unit} column" in r.driver
    v6 = LabResult(analyte="hb", value=value, unit=unit, ref_low=lln)  # unchanged in v6.0
    assert grade_ctcae("Anemia", v6, version="6.0").grade == grade


def test_default_range_in_mmol_per_litre() -> None:
    """Without a range, cgtvigil's default LLN 12.0 g/dL is expressed in mmol/L (7.4472)."""
    r = grade_ctcae("anemia", LabResult(analyte="hb", value=7.0, unit="mmol/L"))
    assert r.grade == 1 and r.inputs["graded_lln"] == pytest.approx(7.4472)
