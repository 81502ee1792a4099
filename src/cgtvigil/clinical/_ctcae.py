"""CTCAE v5.0 and v6.0 grading of the laboratory terms in domain.md §2.1-2.2.

Every result is graded against the reference range stored with it. Without one, cgtvigil's
documented default adult range (below, not clinical guidance) is used and the result says so.
Terms with a "baseline abnormal" branch use the patient's pre-treatment baseline. v6.0
platelets ("Thrombocytopenia" in v6.0) use v6.0's own cut-offs (grade 3 <50.0-10.0, grade 4
<10.0 x10^9/L; NCI text as encoded in pharmaverse/admiral ``ncictcaev6_uscv.json``).

A value is graded in the unit its criterion is written in: haemoglobin in g/dL, g/L or
mmol/L against CTCAE's own column for that unit (4.9 mmol/L is grade 2, not 4.9 / 0.6206 =
7.9 g/dL, grade 3); other units are converted (``in_criterion_unit``). Terms are accepted as
either version spells them ("Thrombocytopenia", "Platelet count decreased",
"platelet_count_decreased"); the result names the term as the graded version spells it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from cgtvigil._validation import Problems
from cgtvigil.clinical._checks import check_time
from cgtvigil.clinical._result import GradeResult, decided
from cgtvigil.clinical._units import canonical_unit, convert, in_criterion_unit, signif, to_canonical
from cgtvigil.model import LabResult

__all__ = ["CTCAE_TERMS", "CTCAE_TERM_NAMES", "DEFAULT_RANGES", "ctcae_term", "grade_ctcae"]

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
# each term as each version spells it (admiral ncictcaev5_uscv.json / ncictcaev6_uscv.json TERM)
CTCAE_TERM_NAMES: dict[str, dict[str, str]] = {
    "5.0": {
        "neutrophil_count_decreased": "Neutrophil count decreased",
        "platelet_count_decreased": "Platelet count decreased",
        "anemia": "Anemia",
        "alanine_aminotransferase_increased": "Alanine aminotransferase increased",
        "aspartate_aminotransferase_increased": "Aspartate aminotransferase increased",
        "blood_bilirubin_increased": "Blood bilirubin increased",
        "fibrinogen_decreased": "Fibrinogen decreased",
    },
    "6.0": {
        "neutrophil_count_decreased": "Neutrophil count decreased",
        "platelet_count_decreased": "Thrombocytopenia",
        "anemia": "Anemia",
        "alanine_aminotransferase_increased": "Alanine aminotransferase increased",
        "aspartate_aminotransferase_increased": "Aspartate aminotransferase increased",
        "blood_bilirubin_increased": "Blood bilirubin increased",
        "fibrinogen_decreased": "Fibrinogen decreased",
    },
}
_ALIASES = {
    "anaemia": "anemia",
    "alt_increased": "alanine_aminotransferase_increased",
    "ast_increased": "aspartate_aminotransferase_increased",
}
# haemoglobin cut-offs (grade 2 below, grade 3 below) in each unit CTCAE writes them in
_HB_COLUMNS = {"g/dL": (10.0, 8.0), "g/L": (100.0, 80.0), "mmol/L": (6.2, 4.9)}


def _key(name: str) -> str:
    return "_".join("".join(ch if ch.isalnum() else " " for ch in name.strip().lower()).split())


_BY_NAME = {
    **{_key(n): k for names in CTCAE_TERM_NAMES.values() for k, n in names.items()},
    **{k: k for k in CTCAE_TERMS},
    **_ALIASES,
}


def ctcae_term(name: str) -> str | None:
    """cgtvigil's key for a CTCAE term as either version spells it (None if unknown).

    Examples
    --------
    >>> ctcae_term("Thrombocytopenia"), ctcae_term("Platelet count decreased"), ctcae_term("anemia")
    ('platelet_count_decreased', 'platelet_count_decreased', 'anemia')
    """
    return _BY_NAME.get(_key(name))


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
    """Highest grade whose cut-off is passed; cutoffs ordered from grade 1 upwards. Both sides
    are compared at 12 significant digits (as admiral's ``signif``)."""
    grade = 0
    v = signif(value)
    for g, c in cutoffs:
        if (v < signif(c)) if below else (v > signif(c)):
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
    given_term = term
    key = ctcae_term(term)
    if key is None:
        spelled = sorted({n for names in CTCAE_TERM_NAMES.values() for n in names.values()})
        problems.add(
            f"unknown CTCAE term '{term}'; expected one of {', '.join(CTCAE_TERMS)} (or as CTCAE spells "
            f"them: {', '.join(spelled)})."
        )
        problems.raise_if_any()
    assert key is not None
    term = key
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
        "term": term,
        "term_as_given": given_term,
        "value": value,
        "lln": lln,
        "uln": uln,
        "baseline": base,
        "canonical_unit": canonical_unit(analyte),
        "time": result.time.isoformat() if result.time else None,
    }
    if term == "anemia":
        grade, driver = _anaemia(result, lo, default_lo, transfusion_indicated, life_threatening, inputs)
    else:
        grade, driver = _grade(term, value, lln, uln, base, version, notes)
    name = CTCAE_TERM_NAMES.get(version, CTCAE_TERM_NAMES["5.0"])[term]
    return GradeResult(
        scheme=f"CTCAE {term}",
        version=label,
        grade=grade,
        driver=driver,
        inputs={**inputs, "ctcae_term": name},
        notes=tuple(notes),
    )


def _anaemia(
    result: LabResult,
    lo: float | None,
    default_lo: float,
    transfusion: bool,
    life: bool,
    inputs: dict[str, object],
) -> tuple[int, str]:
    """Anaemia on CTCAE's own column for the result's unit (g/dL, g/L or mmol/L)."""
    v, unit = in_criterion_unit("hb", result.value, result.unit, tuple(_HB_COLUMNS))
    if lo is not None and unit == result.unit.strip():
        lln = float(result.ref_low) if result.ref_low is not None else lo
    else:
        lln = signif(convert("hb", lo if lo is not None else default_lo, "g/dL", unit))
    g2, g3 = _HB_COLUMNS[unit]
    inputs.update({"graded_value": v, "graded_unit": unit, "graded_lln": lln})
    g = _by_cutoffs(v, [(1, lln), (2, g2), (3, g3)], below=True)
    bands = {0: f">= LLN {lln:g}", 1: f"<LLN {lln:g} - {g2:g}", 2: f"<{g2:g} - {g3:g}", 3: f"<{g3:g}"}
    why = f"haemoglobin {decided(v, lln, g2, g3)} {unit} ({bands[g]} {unit}, CTCAE's {unit} column)"
    if transfusion and g < 3:
        g, why = 3, "transfusion indicated"
    if life:
        g, why = 4, "life-threatening; urgent intervention indicated"
    return g, why


def _band(g: int, cut: list[tuple[int, float]]) -> str:
    """The CTCAE band text of grade ``g`` for "below" cut-offs ordered from grade 1."""

    def text(x: float) -> str:  # as CTCAE writes count cut-offs: "<1.5 - 1.0", "<75.0 - 50.0"
        return f"{x:.1f}" if round(x, 1) == x else f"{x:g}"

    if g == 0:
        return f">= {text(cut[0][1])}"
    c = dict(cut)
    return f"<{text(c[g])}" + (f" - {text(c[g + 1])}" if g + 1 in c else "")


def _grade(
    term: str,
    v: float,
    lln: float,
    uln: float,
    base: float | None,
    version: str,
    notes: list[str],
) -> tuple[int, str]:
    if term in ("neutrophil_count_decreased", "platelet_count_decreased"):
        if term == "neutrophil_count_decreased":
            first = [(1, 1.5)] if version == "6.0" else [(1, lln), (2, 1.5)]
            rest = [(2, 1.0), (3, 0.5), (4, 0.1)] if version == "6.0" else [(3, 1.0), (4, 0.5)]
            what = "ANC"
        else:
            first = [(1, lln)]
            rest = [(2, 75.0), (3, 50.0), (4, 10.0)] if version == "6.0" else [(2, 75.0), (3, 50.0), (4, 25.0)]
            what = "platelets"
        cut = first + rest
        g = _by_cutoffs(v, cut, below=True)
        return g, f"{what} {decided(v, *(c for _, c in cut))} x10^9/L ({_band(g, cut)} x10^9/L)"
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
            return g, f"{v:g} = {decided(v / uln, *(c for _, c in cut))} x ULN (baseline normal)"
        assert base is not None
        ratio = signif(v / base)
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
        return g, f"{v:g} = {decided(ratio, *(c for _, c in cut))} x baseline (baseline {base:g} > ULN)"
    # fibrinogen decreased
    if v < 50.0:
        return 4, f"fibrinogen {v:g} mg/dL (< 50 mg/dL absolute)"
    if base is not None and base < lln:
        fall = signif((base - v) / base)
        g = 0 if fall <= 0 else 1 if fall < 0.25 else 2 if fall < 0.5 else 3 if fall < 0.75 else 4
        shown = decided(100 * max(fall, 0.0), 0.0, 25.0, 50.0, 75.0)
        return g, f"fibrinogen {v:g} mg/dL, a {shown}% fall from an abnormal baseline {base:g}"
    g = _by_cutoffs(v / lln, [(1, 1.0), (2, 0.75), (3, 0.5), (4, 0.25)], below=True)
    return g, f"fibrinogen {v:g} mg/dL = {decided(v / lln, 1.0, 0.75, 0.5, 0.25)} x LLN"
