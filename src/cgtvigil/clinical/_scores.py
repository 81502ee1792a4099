"""Risk scores: EASIX, simplified EASIX, m-EASIX and CAR-HEMATOTOX (domain.md §2.4-2.5).

All take laboratory results with units; a missing input gives no score (never a partial one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from cgtvigil._validation import Problems
from cgtvigil.clinical._result import GradeResult
from cgtvigil.clinical._units import lab_values
from cgtvigil.model import LabResult

__all__ = ["car_hematotox", "easix", "m_easix", "simplified_easix"]


def _values(labs: Mapping[str, LabResult], needed: tuple[str, ...]) -> tuple[dict[str, float], list[str]]:
    problems = Problems()
    values, missing = lab_values(labs, problems, needed)
    problems.raise_if_any()
    return values, missing


def _ratio(scheme: str, labs: Mapping[str, LabResult], numerator: tuple[str, ...]) -> GradeResult:
    needed = (*numerator, "plt")
    v, missing = _values(labs, needed)
    version = {
        "EASIX": "Luft-2017",
        "simplified EASIX": "EASIX-simplified",
        "m-EASIX": "Pennisi-2021",
    }[scheme]
    if missing:
        return GradeResult(scheme=scheme, version=version, grade=None, missing=tuple(missing))
    if v["plt"] <= 0:
        return GradeResult(scheme=scheme, version=version, grade=None, missing=("a platelet count above 0",))
    value = math.prod(v[k] for k in numerator) / v["plt"]
    formula = " x ".join(numerator) + " / plt"
    inputs = {
        **v,
        "log2": math.log2(value) if value > 0 else None,
        "units": "LDH U/L, creatinine and CRP mg/dL, PLT 10^9/L",
    }
    return GradeResult(
        scheme=scheme,
        version=version,
        grade=None,
        value=value,
        driver=formula,
        inputs=inputs,
        notes=("Risk-group cut-offs are not confirmed (domain.md §2.5); the raw value and log2 are reported.",),
    )


def easix(labs: Mapping[str, LabResult]) -> GradeResult:
    """EASIX = LDH (U/L) x creatinine (mg/dL) / platelets (10^9/L).

    Examples
    --------
    >>> easix({"ldh": LabResult(analyte="ldh", value=300, unit="U/L"),
    ...        "creatinine": LabResult(analyte="creatinine", value=1.0, unit="mg/dL"),
    ...        "plt": LabResult(analyte="plt", value=150, unit="10^9/L")}).value
    2.0
    """
    return _ratio("EASIX", labs, ("ldh", "creatinine"))


def simplified_easix(labs: Mapping[str, LabResult]) -> GradeResult:
    """Simplified EASIX = LDH (U/L) / platelets (10^9/L)."""
    return _ratio("simplified EASIX", labs, ("ldh",))


def m_easix(labs: Mapping[str, LabResult]) -> GradeResult:
    """m-EASIX = LDH (U/L) x CRP (mg/dL) / platelets (10^9/L)."""
    return _ratio("m-EASIX", labs, ("ldh", "crp"))


def car_hematotox(labs: Mapping[str, LabResult]) -> GradeResult:
    """CAR-HEMATOTOX before lymphodepletion (Rejeski 2021, as implemented by the originating
    group): platelets, ANC, haemoglobin, CRP and ferritin; 0-7 points; low risk 0-1, high >= 2.
    A value exactly on a cut-off scores the higher point.

    Examples
    --------
    >>> r = car_hematotox({"plt": LabResult(analyte="plt", value=70, unit="10^9/L"),
    ...                    "anc": LabResult(analyte="anc", value=2.0, unit="10^9/L"),
    ...                    "hb": LabResult(analyte="hb", value=11, unit="g/dL"),
    ...                    "crp": LabResult(analyte="crp", value=1.0, unit="mg/dL"),
    ...                    "ferritin": LabResult(analyte="ferritin", value=500, unit="ng/mL")})
    >>> r.value, r.category
    (2.0, 'high risk')
    """
    v, missing = _values(labs, ("plt", "anc", "hb", "crp", "ferritin"))
    version = "Rejeski-2021 (originating group implementation)"
    if missing:
        return GradeResult(scheme="CAR-HEMATOTOX", version=version, grade=None, missing=tuple(missing))
    points = {
        "plt": 0 if v["plt"] > 175 else 1 if v["plt"] >= 75 else 2,
        "anc": 1 if v["anc"] <= 1.2 else 0,
        "hb": 1 if v["hb"] <= 9.0 else 0,
        "crp": 1 if v["crp"] >= 3.0 else 0,
        "ferritin": 0 if v["ferritin"] < 650 else 1 if v["ferritin"] <= 2000 else 2,
    }
    total = sum(points.values())
    category = "high risk" if total >= 2 else "low risk"
    driver = ", ".join(f"{k} {points[k]}" for k in points if points[k]) or "no points"
    return GradeResult(
        scheme="CAR-HEMATOTOX",
        version=version,
        grade=None,
        value=float(total),
        category=category,
        driver=driver,
        inputs={"values": v, "points": points},
    )
