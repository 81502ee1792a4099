"""CTCAE v5.0 and v6.0 grading of the laboratory terms in domain.md §2.1-2.2.

Every result is graded against the reference range stored with it. Without one, cgtvigil's
documented default adult range (below, not clinical guidance) is used and the result says so.
Terms with a "baseline abnormal" branch use the patient's pre-treatment baseline. v6.0
platelet criteria were not retrieved: platelets under v6.0 use the v5.0 criteria, stated in
the result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from cgtvigil._validation import Problems
from cgtvigil.clinical._checks import check_time
from cgtvigil.clinical._result import GradeResult
from cgtvigil.clinical._units import to_canonical
from cgtvigil.model import LabResult

__all__ = ["CTCAE_TERMS", "DEFAULT_RANGES", "grade_ctcae"]

Version = Literal["5.0", "6.0"]

# term -> analyte
CTCAE_TERMS = {
    "neutrophil_count_decreased": "anc",
    "platelet_count_decreased": "plt",
    "anemia": "hb",
    "alanine_aminotransferase_increased": "alt",
    "aspartate_aminotransferase_increased": "ast",
    "blood_bilirubin_increased": "bilirubin",
    "fibrinogen_decreased": "fibrinogen",
}
# cgtvigil default adult reference ranges (canonical units), used only when a result has none.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "anc": (1.8, 7.7),
    "plt": (150.0, 400.0),
    "hb": (12.0, 17.5),
    "alt": (0.0, 40.0),
    "ast": (0.0, 40.0),
    "bilirubin": (0.0, 1.2),
    "fibrinogen": (200.0, 400.0),
}


def _by_cutoffs(value: float, cutoffs: list[tuple[int, float]], *, below: bool) -> int:
    """Highest grade whose cut-off is passed; cutoffs ordered from grade 1 upwards."""
    grade = 0
    for g, c in cutoffs:
        if (value < c) if below else (value > c):
            grade = g
    return grade


def grade_ctcae(
    term: str,
    result: LabResult,
    *,
    version: Version = "5.0",
    baseline: LabResult | None = None,
    transfusion_indicated: bool = False,
    life_threatening: bool = False,
    now: datetime | None = None,
) -> GradeResult:
    """CTCAE grade of one laboratory result.

    Examples
    --------
    >>> grade_ctcae("neutrophil_count_decreased", LabResult(analyte="anc", value=400, unit="cells/uL")).grade
    4
    >>> grade_ctcae("neutrophil_count_decreased", LabResult(analyte="anc", value=400, unit="cells/uL"),
    ...             version="6.0").grade
    3
    """
    problems = Problems()
    if term not in CTCAE_TERMS:
        problems.add(f"unknown CTCAE term '{term}'; expected one of {', '.join(CTCAE_TERMS)}.")
        problems.raise_if_any()
    analyte = CTCAE_TERMS[term]
    if version not in ("5.0", "6.0"):
        problems.add(f"The 'version' parameter of grade_ctcae must be '5.0' or '6.0'. Got {version!r}.")
    if result.analyte != analyte:
        problems.add(f"{term} grades '{analyte}' results. Got a '{result.analyte}' result.")
    value = to_canonical(analyte, result.value, result.unit, problems, "result")
    if result.time is not None:
        check_time(result.time, problems, "result", now=now)
    lo = to_canonical(analyte, result.ref_low, result.unit, problems, "ref_low") if result.ref_low is not None else None
    hi = (
        to_canonical(analyte, result.ref_high, result.unit, problems, "ref_high")
        if result.ref_high is not None
        else None
    )
    base = None
    if baseline is not None:
        if baseline.analyte != analyte:
            problems.add(f"the baseline must be a '{analyte}' result. Got '{baseline.analyte}'.")
        else:
            base = to_canonical(analyte, baseline.value, baseline.unit, problems, "baseline")
    problems.raise_if_any()
    assert value is not None
    notes: list[str] = []
    default_lo, default_hi = DEFAULT_RANGES[analyte]
    if lo is None or hi is None:
        notes.append(
            f"no reference range with the result: cgtvigil default {default_lo:g}-{default_hi:g} "
            "used for the missing limit."
        )
    lln = lo if lo is not None else default_lo
    uln = hi if hi is not None else default_hi
    label = f"CTCAE-{version}"
    inputs = {
        "value": value,
        "lln": lln,
        "uln": uln,
        "baseline": base,
        "canonical_unit": _unit(analyte),
        "time": result.time.isoformat() if result.time else None,
    }
    grade, driver = _grade(term, value, lln, uln, base, version, notes, transfusion_indicated, life_threatening)
    return GradeResult(
        scheme=f"CTCAE {term}", version=label, grade=grade, driver=driver, inputs=inputs, notes=tuple(notes)
    )


def _unit(analyte: str) -> str:
    from cgtvigil.clinical._units import canonical_unit

    return canonical_unit(analyte)


def _grade(
    term: str,
    v: float,
    lln: float,
    uln: float,
    base: float | None,
    version: str,
    notes: list[str],
    transfusion: bool,
    life: bool,
) -> tuple[int, str]:
    if term == "neutrophil_count_decreased":
        if version == "6.0":
            g = _by_cutoffs(v, [(1, 1.5), (2, 1.0), (3, 0.5), (4, 0.1)], below=True)
        else:
            g = _by_cutoffs(v, [(1, lln), (2, 1.5), (3, 1.0), (4, 0.5)], below=True)
        return g, f"ANC {v:g} x10^9/L"
    if term == "platelet_count_decreased":
        if version == "6.0":
            notes.append("CTCAE v6.0 platelet criteria not retrieved: graded with the v5.0 criteria (UNCONFIRMED).")
        g = _by_cutoffs(v, [(1, lln), (2, 75.0), (3, 50.0), (4, 25.0)], below=True)
        return g, f"platelets {v:g} x10^9/L"
    if term == "anemia":
        g = _by_cutoffs(v, [(1, lln), (2, 10.0), (3, 8.0)], below=True)
        why = f"haemoglobin {v:g} g/dL"
        if transfusion and g < 3:
            g, why = 3, "transfusion indicated"
        if life:
            g, why = 4, "life-threatening; urgent intervention indicated"
        return g, why
    if term in (
        "alanine_aminotransferase_increased",
        "aspartate_aminotransferase_increased",
        "blood_bilirubin_increased",
    ):
        liver = term != "blood_bilirubin_increased"
        abnormal = base is not None and base > uln
        if base is None and v > uln:
            notes.append("no baseline given: graded as if the baseline were normal.")
        if not abnormal:
            cut = [(1, 1.0), (2, 3.0), (3, 5.0), (4, 20.0)] if liver else [(1, 1.0), (2, 1.5), (3, 3.0), (4, 10.0)]
            g = _by_cutoffs(v / uln, cut, below=False)
            return g, f"{v:g} = {v / uln:.2f} x ULN (baseline normal)"
        assert base is not None
        ratio = v / base
        if version == "6.0":
            cut = [(1, 1.0), (2, 1.5), (3, 2.0), (4, 4.0)] if liver else [(1, 1.0), (2, 1.5), (3, 2.5), (4, 10.0)]
            g = 1 if ratio >= 1.0 else 0
            for gg, c in cut[1:]:
                if ratio > c:
                    g = gg
        else:
            cut = [(1, 1.5), (2, 3.0), (3, 5.0), (4, 20.0)] if liver else [(1, 1.0), (2, 1.5), (3, 3.0), (4, 10.0)]
            g = 1 if (ratio >= 1.5 if liver else ratio > 1.0) else 0
            for gg, c in cut[1:]:
                if ratio > c:
                    g = gg
        return g, f"{v:g} = {ratio:.2f} x baseline (baseline {base:g} > ULN)"
    # fibrinogen decreased
    if v < 50.0:
        return 4, f"fibrinogen {v:g} mg/dL (< 50 mg/dL absolute)"
    if base is not None and base < lln:
        fall = (base - v) / base
        g = 0 if fall <= 0 else 1 if fall < 0.25 else 2 if fall < 0.5 else 3 if fall < 0.75 else 4
        return g, f"fibrinogen {v:g} mg/dL, a {100 * max(fall, 0):.0f}% fall from an abnormal baseline {base:g}"
    g = _by_cutoffs(v / lln, [(1, 1.0), (2, 0.75), (3, 0.5), (4, 0.25)], below=True)
    return g, f"fibrinogen {v:g} mg/dL = {v / lln:.2f} x LLN"
