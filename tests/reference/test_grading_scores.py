"""HScore and HLH-2004 thresholds in the units their sources write them in.

HScore (Fardet et al., Arthritis Rheumatol 2014;66:2613-2620, the score's variable table): triglycerides (mmol/L)
< 1.5: 0, 1.5-4: 44, > 4: 64; fibrinogen (g/L) > 2.5: 0, <= 2.5: 30; cytopenias: haemoglobin
<= 92 g/L, leucocytes <= 5 x10^9/L, platelets <= 110 x10^9/L; 1 lineage 0, 2 lineages 24,
3 lineages 34.

HLH-2004 (Henter et al., Pediatr Blood Cancer 2007;48:124-131, diagnostic guidelines, as
reproduced in Curr Opin Rheumatol 2014;26:562-569, Table 2, PMC4227502): fasting
triglycerides >= 3.0 mmol/L (i.e. >= 265 mg/dL), fibrinogen <= 1.5 g/L, ferritin >= 500 ug/L,
haemoglobin < 90 g/L.
"""

from __future__ import annotations

import pytest

from cgtvigil.clinical import GradeResult, HLHFindings, hlh2004, hscore
from cgtvigil.errors import ValidationError
from cgtvigil.model import LabResult

ZERO = {  # every HScore variable at 0 points
    "max_temperature_c": 37.0,
    "hepatomegaly": False,
    "splenomegaly": False,
    "haemophagocytosis": False,
    "known_immunosuppression": False,
}
NORMAL = {
    "hb": ("hb", 130, "g/L"),
    "wbc": ("wbc", 7, "10^9/L"),
    "plt": ("plt", 250, "10^9/L"),
    "ferritin": ("ferritin", 300, "ng/mL"),
    "triglycerides": ("triglycerides", 1.0, "mmol/L"),
    "fibrinogen": ("fibrinogen", 3.0, "g/L"),
    "ast": ("ast", 20, "U/L"),
}


def _hscore(lab: dict, **findings: object) -> float | None:
    labs = {k: LabResult(analyte=a, value=v, unit=u) for k, (a, v, u) in {**NORMAL, **lab}.items()}
    return hscore(HLHFindings(**{**ZERO, **findings}), labs).value


@pytest.mark.parametrize(
    ("value", "unit", "points"),
    [
        (4.0, "mmol/L", 44),  # exactly 4.0 mmol/L is in 1.5-4 (4.0 x 88.57 = 354.3 mg/dL would say 64)
        (4.01, "mmol/L", 64),
        (1.5, "mmol/L", 44),
        (1.49, "mmol/L", 0),
        (354, "mg/dL", 44),  # the mg/dL equivalents as written (domain.md §1.3)
        (354.1, "mg/dL", 64),
    ],
)
def test_hscore_triglycerides_on_fardet_bands(value: float, unit: str, points: int) -> None:
    assert _hscore({"triglycerides": ("triglycerides", value, unit)}) == points


@pytest.mark.parametrize(
    ("lab", "points"),
    [
        ({"fibrinogen": ("fibrinogen", 2.5, "g/L")}, 30),
        ({"fibrinogen": ("fibrinogen", 2.51, "g/L")}, 0),
        ({"hb": ("hb", 92, "g/L"), "plt": ("plt", 110, "10^9/L")}, 24),  # 92 g/L is <= 92 (not 9.2000000001)
        ({"hb": ("hb", 9.2, "g/dL"), "plt": ("plt", 110000, "/uL")}, 24),
        ({"hb": ("hb", 92, "g/L"), "plt": ("plt", 110, "10^9/L"), "wbc": ("wbc", 5000, "cells/uL")}, 34),
    ],
)
def test_hscore_other_bands_in_their_units(lab: dict, points: int) -> None:
    assert _hscore(lab) == points


def test_cytopenic_lineages_given_by_the_clinician() -> None:
    """Without blood counts, the number of cytopenic lineages scores directly (2 -> 24, 3 -> 34)."""
    labs = {k: v for k, v in NORMAL.items() if k not in ("hb", "wbc", "plt")}

    def score(n: int | None) -> GradeResult:
        return hscore(
            HLHFindings(**ZERO, cytopenic_lineages=n),
            {k: LabResult(analyte=a, value=v, unit=u) for k, (a, v, u) in labs.items()},
        )

    assert score(2).value == 24 and score(3).value == 34 and score(1).value == 0
    assert score(None).value is None and "cytopenias" in score(None).missing
    with pytest.raises(ValidationError, match="cytopenic_lineages 3 contradicts"):
        _hscore({}, cytopenic_lineages=3)  # all three counts normal


HLH_NONE = {"max_temperature_c": 37.0, "splenomegaly": False, "haemophagocytosis": False, "low_nk_activity": False}
HLH_NORMAL = {
    "hb": ("hb", 130, "g/L"),
    "plt": ("plt", 250, "10^9/L"),
    "anc": ("anc", 3.0, "10^9/L"),
    "triglycerides": ("triglycerides", 1.0, "mmol/L"),
    "fibrinogen": ("fibrinogen", 3.0, "g/L"),
    "ferritin": ("ferritin", 100, "ng/mL"),
    "scd25": ("scd25", 500, "U/mL"),
}


@pytest.mark.parametrize(
    ("lab", "criterion", "present"),
    [
        ({"triglycerides": ("triglycerides", 3.0, "mmol/L")}, "hypertriglyceridaemia and/or hypofibrinogenaemia", True),
        (
            {"triglycerides": ("triglycerides", 2.99, "mmol/L")},
            "hypertriglyceridaemia and/or hypofibrinogenaemia",
            False,
        ),
        ({"triglycerides": ("triglycerides", 265, "mg/dL")}, "hypertriglyceridaemia and/or hypofibrinogenaemia", True),
        ({"fibrinogen": ("fibrinogen", 1.5, "g/L")}, "hypertriglyceridaemia and/or hypofibrinogenaemia", True),
        ({"fibrinogen": ("fibrinogen", 150, "mg/dL")}, "hypertriglyceridaemia and/or hypofibrinogenaemia", True),
        ({"ferritin": ("ferritin", 500, "ng/mL")}, "ferritin >= 500 ng/mL", True),
        ({"ferritin": ("ferritin", 499, "ug/L")}, "ferritin >= 500 ng/mL", False),
        ({"hb": ("hb", 89, "g/L"), "anc": ("anc", 0.9, "10^9/L")}, "cytopenias (>= 2 lineages)", True),
        ({"hb": ("hb", 90, "g/L"), "anc": ("anc", 0.9, "10^9/L")}, "cytopenias (>= 2 lineages)", False),
    ],
)
def test_hlh2004_thresholds_as_henter_words_them(lab: dict, criterion: str, present: bool) -> None:
    labs = {k: LabResult(analyte=a, value=v, unit=u) for k, (a, v, u) in {**HLH_NORMAL, **lab}.items()}
    r = hlh2004(HLHFindings(**HLH_NONE), labs)
    assert r.inputs["criteria"][criterion] is present
