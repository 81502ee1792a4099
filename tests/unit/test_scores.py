"""HLH-2004, HScore, EASIX family, CAR-HEMATOTOX and the IEC-HS screen (domain.md §1.3,
§2.4-2.5; point tables as stated there)."""

from __future__ import annotations

import math

import pytest

from cgtvigil.clinical import (
    HLHFindings,
    car_hematotox,
    easix,
    hlh2004,
    hscore,
    iec_hs_screen,
    m_easix,
    simplified_easix,
)
from cgtvigil.model import LabResult


def L(analyte: str, value: float, unit: str) -> LabResult:
    return LabResult(analyte=analyte, value=value, unit=unit)


HLH_LABS = {
    "hb": L("hb", 8.0, "g/dL"),
    "plt": L("plt", 60, "10^9/L"),
    "anc": L("anc", 2.0, "10^9/L"),
    "triglycerides": L("triglycerides", 3.5, "mmol/L"),  # 310 mg/dL > 265
    "fibrinogen": L("fibrinogen", 2.0, "g/L"),
    "ferritin": L("ferritin", 12000, "ng/mL"),
    "scd25": L("scd25", 3000, "U/mL"),
}


def test_hlh2004_met_not_met_and_indeterminate() -> None:
    full = HLHFindings(max_temperature_c=39.0, splenomegaly=False, haemophagocytosis=False, low_nk_activity=False)
    r = hlh2004(full, HLH_LABS)  # fever, cytopenias (hb, plt), TG, ferritin, sCD25 = 5
    assert r.category == "criteria met" and r.value == 5
    partial = hlh2004(HLHFindings(max_temperature_c=39.0), {k: HLH_LABS[k] for k in ("hb", "plt", "ferritin")})
    assert partial.value == 3 and partial.category == "indeterminate"
    assert "splenomegaly" in partial.missing and "soluble CD25 >= 2400 U/mL" in partial.missing
    few = hlh2004(
        HLHFindings(max_temperature_c=37.0, splenomegaly=False, haemophagocytosis=False, low_nk_activity=False),
        {"hb": L("hb", 13, "g/dL"), "plt": L("plt", 200, "10^9/L"), "ferritin": L("ferritin", 300, "ng/mL")},
    )
    assert few.category == "criteria not met"  # 0 present, at most 2 possible (TG/fibrinogen, sCD25)
    five_with_missing = hlh2004(
        HLHFindings(max_temperature_c=39.0, splenomegaly=True, haemophagocytosis=True),
        {"ferritin": L("ferritin", 900, "ng/mL"), "scd25": L("scd25", 2400, "U/mL")},
    )
    assert five_with_missing.category == "criteria met" and len(five_with_missing.missing) == 3


def test_hscore_complete_and_bounded() -> None:
    """Points: immunosuppression 18, temperature 39.5 -> 49, both organs 38, 3 lineages 34,
    ferritin 6000 -> 35 (inclusive), TG 354 -> 44 (inclusive), fibrinogen 250 -> 30, AST 30 -> 19,
    haemophagocytosis 35: total 302."""
    f = HLHFindings(
        max_temperature_c=39.5,
        hepatomegaly=True,
        splenomegaly=True,
        haemophagocytosis=True,
        known_immunosuppression=True,
    )
    labs = {
        "hb": L("hb", 9.2, "g/dL"),
        "wbc": L("wbc", 5.0, "10^9/L"),
        "plt": L("plt", 110, "10^9/L"),
        "ferritin": L("ferritin", 6000, "ng/mL"),
        "triglycerides": L("triglycerides", 354, "mg/dL"),
        "fibrinogen": L("fibrinogen", 250, "mg/dL"),
        "ast": L("ast", 30, "U/L"),
    }
    r = hscore(f, labs)
    assert r.value == 302 and r.category == "high probability (>= 169)"
    low = hscore(
        HLHFindings(
            max_temperature_c=37.0,
            hepatomegaly=False,
            splenomegaly=False,
            haemophagocytosis=False,
            known_immunosuppression=False,
        ),
        {
            "hb": L("hb", 13, "g/dL"),
            "wbc": L("wbc", 7, "10^9/L"),
            "plt": L("plt", 250, "10^9/L"),
            "ferritin": L("ferritin", 300, "ng/mL"),
            "triglycerides": L("triglycerides", 100, "mg/dL"),
            "fibrinogen": L("fibrinogen", 300, "mg/dL"),
            "ast": L("ast", 20, "U/L"),
        },
    )
    assert low.value == 0 and low.category == "below 169"
    partial = hscore(HLHFindings(max_temperature_c=39.5), {"ferritin": L("ferritin", 7000, "ng/mL")})
    assert partial.value is None and partial.category is None
    assert partial.inputs["range"] == [99, 99 + 18 + 38 + 34 + 64 + 30 + 19 + 35]


def test_easix_family() -> None:
    labs = {
        "ldh": L("ldh", 450, "U/L"),
        "creatinine": L("creatinine", 88.42, "umol/L"),
        "plt": L("plt", 90, "10^9/L"),
        "crp": L("crp", 40, "mg/L"),
    }
    e = easix(labs)
    assert e.value == pytest.approx(450 * 1.0 / 90) and e.inputs["log2"] == pytest.approx(math.log2(5.0))
    assert simplified_easix(labs).value == pytest.approx(5.0)
    assert m_easix(labs).value == pytest.approx(450 * 4.0 / 90)  # CRP 40 mg/L = 4 mg/dL
    assert easix({"ldh": labs["ldh"], "plt": labs["plt"]}).missing == ("creatinine",)


@pytest.mark.parametrize(
    ("plt", "anc", "hb", "crp", "ferritin", "total"),
    [
        (176, 1.3, 9.1, 2.9, 649, 0),
        (175, 1.3, 9.1, 2.9, 649, 1),  # 75-175 inclusive: 1
        (75, 1.3, 9.1, 2.9, 649, 1),
        (74, 1.3, 9.1, 2.9, 649, 2),  # < 75: 2
        (200, 1.2, 9.1, 2.9, 649, 1),  # ANC <= 1.2
        (200, 1.3, 9.0, 2.9, 649, 1),  # Hb <= 9.0
        (200, 1.3, 9.1, 3.0, 649, 1),  # CRP >= 3.0 mg/dL
        (200, 1.3, 9.1, 2.9, 650, 1),  # ferritin 650-2000 inclusive
        (200, 1.3, 9.1, 2.9, 2000, 1),
        (200, 1.3, 9.1, 2.9, 2001, 2),  # > 2000: 2
        (50, 0.5, 7.0, 10.0, 5000, 7),
    ],
)
def test_car_hematotox_cut_offs(plt: float, anc: float, hb: float, crp: float, ferritin: float, total: int) -> None:
    r = car_hematotox(
        {
            "plt": L("plt", plt, "10^9/L"),
            "anc": L("anc", anc, "10^9/L"),
            "hb": L("hb", hb, "g/dL"),
            "crp": L("crp", crp, "mg/dL"),
            "ferritin": L("ferritin", ferritin, "ng/mL"),
        }
    )
    assert r.value == total and r.category == ("high risk" if total >= 2 else "low risk")


def test_car_hematotox_needs_all_five() -> None:
    r = car_hematotox({"plt": L("plt", 50, "10^9/L")})
    assert r.value is None and r.missing == ("anc", "hb", "crp", "ferritin")


def test_iec_hs_screen_is_unverified_and_timing_aware() -> None:
    met = hlh2004(
        HLHFindings(max_temperature_c=39.0, splenomegaly=False, haemophagocytosis=False, low_nk_activity=False),
        HLH_LABS,
    )
    hs = hscore(HLHFindings(max_temperature_c=39.0), {})
    suspected = iec_hs_screen(met, hs, "resolved")
    assert suspected.category == "suspected" and suspected.verified is False
    assert "not confirmed" in suspected.notes[0] and "UNVERIFIED" in suspected.explain()
    assert iec_hs_screen(met, hs, "active_worsening").category.startswith("possible")
    unknown = hlh2004(HLHFindings(), {})
    assert iec_hs_screen(unknown, hs, "none").category == "indeterminate"


HSCORE_BASE = {
    "max_temperature_c": 37.0,
    "hepatomegaly": False,
    "splenomegaly": False,
    "haemophagocytosis": False,
    "known_immunosuppression": False,
}
HSCORE_LABS = {
    "hb": ("hb", 13, "g/dL"),
    "wbc": ("wbc", 7, "10^9/L"),
    "plt": ("plt", 250, "10^9/L"),
    "ferritin": ("ferritin", 300, "ng/mL"),
    "triglycerides": ("triglycerides", 100, "mg/dL"),
    "fibrinogen": ("fibrinogen", 300, "mg/dL"),
    "ast": ("ast", 20, "U/L"),
}


@pytest.mark.parametrize(
    ("finding", "lab", "points"),
    [
        ({"known_immunosuppression": True}, {}, 18),
        ({"max_temperature_c": 38.3}, {}, 0),
        ({"max_temperature_c": 38.4}, {}, 33),
        ({"max_temperature_c": 39.4}, {}, 33),
        ({"max_temperature_c": 39.5}, {}, 49),
        ({"hepatomegaly": True}, {}, 23),
        ({"hepatomegaly": True, "splenomegaly": True}, {}, 38),
        ({}, {"hb": ("hb", 9.2, "g/dL")}, 0),  # one lineage
        ({}, {"hb": ("hb", 9.2, "g/dL"), "plt": ("plt", 110, "10^9/L")}, 24),
        ({}, {"hb": ("hb", 9.0, "g/dL"), "plt": ("plt", 100, "10^9/L"), "wbc": ("wbc", 5.0, "10^9/L")}, 34),
        ({}, {"ferritin": ("ferritin", 1999, "ng/mL")}, 0),
        ({}, {"ferritin": ("ferritin", 2000, "ng/mL")}, 35),
        ({}, {"ferritin": ("ferritin", 6001, "ng/mL")}, 50),
        ({}, {"triglycerides": ("triglycerides", 132.7, "mg/dL")}, 44),
        ({}, {"triglycerides": ("triglycerides", 354.1, "mg/dL")}, 64),
        ({}, {"fibrinogen": ("fibrinogen", 250, "mg/dL")}, 30),
        ({}, {"fibrinogen": ("fibrinogen", 251, "mg/dL")}, 0),
        ({}, {"ast": ("ast", 30, "U/L")}, 19),
        ({}, {"ast": ("ast", 29, "U/L")}, 0),
        ({"haemophagocytosis": True}, {}, 35),
    ],
)
def test_hscore_each_variable(finding: dict, lab: dict, points: int) -> None:
    """One row of the HScore table at a time, all other variables at 0 points (domain.md §1.3)."""
    labs = {k: L(*v) for k, v in {**HSCORE_LABS, **lab}.items()}
    assert hscore(HLHFindings(**{**HSCORE_BASE, **finding}), labs).value == points


NONE_PRESENT = {"max_temperature_c": 37.0, "splenomegaly": False, "haemophagocytosis": False, "low_nk_activity": False}
NORMAL_LABS = {
    "hb": ("hb", 13, "g/dL"),
    "plt": ("plt", 250, "10^9/L"),
    "anc": ("anc", 3.0, "10^9/L"),
    "triglycerides": ("triglycerides", 100, "mg/dL"),
    "fibrinogen": ("fibrinogen", 300, "mg/dL"),
    "ferritin": ("ferritin", 100, "ng/mL"),
    "scd25": ("scd25", 500, "U/mL"),
}


@pytest.mark.parametrize(
    ("finding", "lab", "criterion"),
    [
        ({"max_temperature_c": 38.5}, {}, "fever >= 38.5 °C"),
        ({"splenomegaly": True}, {}, "splenomegaly"),
        ({}, {"hb": ("hb", 8.9, "g/dL"), "anc": ("anc", 0.9, "10^9/L")}, "cytopenias (>= 2 lineages)"),
        ({}, {"triglycerides": ("triglycerides", 266, "mg/dL")}, "hypertriglyceridaemia and/or hypofibrinogenaemia"),
        ({}, {"fibrinogen": ("fibrinogen", 149, "mg/dL")}, "hypertriglyceridaemia and/or hypofibrinogenaemia"),
        ({"haemophagocytosis": True}, {}, "haemophagocytosis"),
        ({"low_nk_activity": True}, {}, "low or absent NK activity"),
        ({}, {"ferritin": ("ferritin", 500, "ng/mL")}, "ferritin >= 500 ng/mL"),  # Henter 2007: >= 500
        ({}, {"scd25": ("scd25", 2400, "U/mL")}, "soluble CD25 >= 2400 U/mL"),
    ],
)
def test_hlh2004_each_criterion(finding: dict, lab: dict, criterion: str) -> None:
    """Each HLH-2004 criterion alone (Henter et al. 2007 thresholds; see tests/reference/test_grading_scores.py)."""
    labs = {k: L(*v) for k, v in {**NORMAL_LABS, **lab}.items()}
    r = hlh2004(HLHFindings(**{**NONE_PRESENT, **finding}), labs)
    assert r.value == 1 and r.inputs["criteria"][criterion] is True and r.category == "criteria not met"
