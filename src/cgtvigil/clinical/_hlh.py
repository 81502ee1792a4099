"""HLH-2004 diagnostic criteria (Henter et al., Pediatr Blood Cancer 2007) and the HScore
(Fardet et al., Arthritis Rheumatol 2014) (domain.md §1.3).

Each threshold is compared in the unit its source writes it in (``_COLUMNS``): HScore
triglycerides on Fardet's mmol/L bands (< 1.5 / 1.5-4 / > 4 mmol/L; exactly 4.0 mmol/L scores
44), fibrinogen in g/L, haemoglobin in g/L; the mg/dL or g/dL equivalents are used as
written for results in those units; results in any other unit are converted
(``in_criterion_unit``). HLH-2004 as Henter 2007 words it: triglycerides >= 3.0 mmol/L
(>= 265 mg/dL), fibrinogen <= 1.5 g/L, ferritin >= 500 ug/L, haemoglobin < 90 g/L (< 100 g/L
under 4 weeks).

HLH-2004: met when at least 5 of the 8 criteria are present, even with others missing; not
met when even all missing criteria could not reach 5; otherwise indeterminate, listing the
missing criteria. HScore: the value when every variable is known; otherwise the possible range,
and the category (>= 169: high probability) when the missing variables cannot change it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from cgtvigil._validation import Problems
from cgtvigil.clinical._result import GradeResult
from cgtvigil.clinical._units import in_criterion_unit, lab_values, signif
from cgtvigil.model import LabResult

__all__ = ["HLHFindings", "hlh2004", "hscore"]

HSCORE_CUTOFF = 169


class HLHFindings(BaseModel):
    """Clinical findings for HLH-2004 and the HScore (labs go in a separate mapping)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_temperature_c: float | None = None
    splenomegaly: bool | None = None
    hepatomegaly: bool | None = None
    haemophagocytosis: bool | None = None
    low_nk_activity: bool | None = None
    known_immunosuppression: bool | None = None
    neonate: bool = False
    cytopenic_lineages: int | None = Field(
        None,
        ge=0,
        le=3,
        description="HScore: number of lineages with Hb <= 9.2 g/dL, WBC <= 5 x10^9/L or PLT <= 110 x10^9/L "
        "(Fardet 2014), as counted by the clinician; used where the counts themselves are not given",
    )


# criterion -> {unit as the source writes it: cut-offs}; the first unit is the source's own
_COLUMNS: dict[str, tuple[str, dict[str, tuple[float, ...]]]] = {
    "hlh_hb": ("hb", {"g/L": (90.0, 100.0), "g/dL": (9.0, 10.0)}),  # (adult, neonate)
    "hlh_triglycerides": ("triglycerides", {"mmol/L": (3.0,), "mg/dL": (265.0,)}),
    "hlh_fibrinogen": ("fibrinogen", {"g/L": (1.5,), "mg/dL": (150.0,)}),
    "hscore_hb": ("hb", {"g/L": (92.0,), "g/dL": (9.2,)}),
    "hscore_triglycerides": ("triglycerides", {"mmol/L": (1.5, 4.0), "mg/dL": (132.7, 354.0)}),
    "hscore_fibrinogen": ("fibrinogen", {"g/L": (2.5,), "mg/dL": (250.0,)}),
}


def _native(
    labs: Mapping[str, LabResult], values: Mapping[str, float], criterion: str
) -> tuple[float, tuple[float, ...]] | None:
    """The result for ``criterion`` in the criterion's own unit, with that unit's cut-offs."""
    analyte, columns = _COLUMNS[criterion]
    if analyte not in values:
        return None
    r = labs[analyte]
    v, unit = in_criterion_unit(analyte, r.value, r.unit, tuple(columns))
    return signif(v), columns[unit]


def hlh2004(findings: HLHFindings, labs: Mapping[str, LabResult]) -> GradeResult:
    """HLH-2004 criteria (>= 5 of 8). Labs: hb, plt, anc, triglycerides, fibrinogen, ferritin, scd25."""
    problems = Problems()
    v, _ = lab_values(labs, problems)
    if findings.max_temperature_c is not None and not 25 <= findings.max_temperature_c <= 45:
        problems.add(f"max_temperature_c {findings.max_temperature_c:g} is outside the plausible range 25-45 °C.")
    problems.raise_if_any()
    crit: dict[str, bool | None] = {}
    t = findings.max_temperature_c
    crit["fever >= 38.5 °C"] = None if t is None else t >= 38.5
    crit["splenomegaly"] = findings.splenomegaly
    hb = _native(labs, v, "hlh_hb")
    lineages = {
        "hb": None if hb is None else hb[0] < hb[1][1 if findings.neonate else 0],
        "plt": None if "plt" not in v else signif(v["plt"]) < 100.0,
        "anc": None if "anc" not in v else signif(v["anc"]) < 1.0,
    }
    low = [k for k, x in lineages.items() if x]
    unknown = [k for k, x in lineages.items() if x is None]
    crit["cytopenias (>= 2 lineages)"] = True if len(low) >= 2 else (None if len(low) + len(unknown) >= 2 else False)
    tgn = _native(labs, v, "hlh_triglycerides")
    fibn = _native(labs, v, "hlh_fibrinogen")
    tg = None if tgn is None else tgn[0] >= tgn[1][0]
    fib = None if fibn is None else fibn[0] <= fibn[1][0]
    if tg or fib:
        crit["hypertriglyceridaemia and/or hypofibrinogenaemia"] = True
    elif tg is not None and fib is not None:
        crit["hypertriglyceridaemia and/or hypofibrinogenaemia"] = False
    else:
        crit["hypertriglyceridaemia and/or hypofibrinogenaemia"] = None
    crit["haemophagocytosis"] = findings.haemophagocytosis
    crit["low or absent NK activity"] = findings.low_nk_activity
    crit["ferritin >= 500 ng/mL"] = None if "ferritin" not in v else signif(v["ferritin"]) >= 500
    crit["soluble CD25 >= 2400 U/mL"] = None if "scd25" not in v else v["scd25"] >= 2400
    present = [k for k, x in crit.items() if x]
    missing = tuple(k for k, x in crit.items() if x is None)
    inputs = {"criteria": crit, "labs": v}
    n = len(present)
    if n >= 5:
        category, driver = "criteria met", f"{n} of 8 criteria present: {', '.join(present)}"
    elif n + len(missing) < 5:
        category, driver = "criteria not met", f"{n} of 8 present; at most {n + len(missing)} possible"
    else:
        category, driver = "indeterminate", f"{n} of 8 present; {len(missing)} missing could still reach 5"
    return GradeResult(
        scheme="HLH-2004",
        version="Henter-2007",
        grade=None,
        value=float(n),
        category=category,
        driver=driver,
        inputs=inputs,
        missing=missing,
        notes=("A molecular diagnosis consistent with HLH also fulfils HLH-2004; not assessed here.",),
    )


def hscore(findings: HLHFindings, labs: Mapping[str, LabResult]) -> GradeResult:
    """HScore (Fardet et al., Arthritis Rheumatol 2014). Labs: hb, wbc, plt, ferritin,
    triglycerides, fibrinogen, ast. >= 169: high probability of HLH.

    Examples
    --------
    >>> f = HLHFindings(max_temperature_c=39.0, splenomegaly=True, hepatomegaly=False, haemophagocytosis=False,
    ...                 known_immunosuppression=False)
    >>> labs = {"hb": LabResult(analyte="hb", value=8.5, unit="g/dL"),
    ...         "wbc": LabResult(analyte="wbc", value=3, unit="10^9/L"),
    ...         "plt": LabResult(analyte="plt", value=200, unit="10^9/L"),
    ...         "ferritin": LabResult(analyte="ferritin", value=7000, unit="ng/mL"),
    ...         "triglycerides": LabResult(analyte="triglycerides", value=150, unit="mg/dL"),
    ...         "fibrinogen": LabResult(analyte="fibrinogen", value=300, unit="mg/dL"),
    ...         "ast": LabResult(analyte="ast", value=45, unit="U/L")}
    >>> hscore(f, labs).value   # 33 + 23 + 24 + 50 + 44 + 0 + 19
    193.0
    """
    problems = Problems()
    v, _ = lab_values(labs, problems)
    problems.raise_if_any()
    parts: dict[str, tuple[int, int] | int] = {}  # known points, or (min, max) when unknown
    parts["immunosuppression"] = (
        (0, 18) if findings.known_immunosuppression is None else 18 * findings.known_immunosuppression
    )
    t = findings.max_temperature_c
    parts["temperature"] = (0, 49) if t is None else 0 if t < 38.4 else 33 if t <= 39.4 else 49
    organs = (findings.hepatomegaly, findings.splenomegaly)
    if None in organs:
        known = sum(1 for o in organs if o)
        parts["organomegaly"] = (0 if known == 0 else 23, 38 if known or organs.count(None) == 2 else 23)
    else:
        parts["organomegaly"] = {0: 0, 1: 23, 2: 38}[sum(1 for o in organs if o)]
    hb = _native(labs, v, "hscore_hb")
    cyto = {
        "hb": None if hb is None else hb[0] <= hb[1][0],
        "wbc": None if "wbc" not in v else signif(v["wbc"]) <= 5.0,
        "plt": None if "plt" not in v else signif(v["plt"]) <= 110.0,
    }
    low = sum(1 for x in cyto.values() if x)
    unk = sum(1 for x in cyto.values() if x is None)
    pts = {0: 0, 1: 0, 2: 24, 3: 34}
    n = findings.cytopenic_lineages
    if n is not None:
        if not low <= n <= low + unk:
            given = ", ".join(
                f"{k} {'at or below' if x else 'above'} its cut-off" for k, x in cyto.items() if x is not None
            )
            problems.add(
                f"cytopenic_lineages {n} contradicts the counts given ({given}: between {low} and {low + unk} "
                "lineages)."
            )
            problems.raise_if_any()
        parts["cytopenias"] = pts[n]
    else:
        parts["cytopenias"] = pts[low] if not unk else (pts[low], pts[low + unk])
    f = None if "ferritin" not in v else signif(v["ferritin"])
    parts["ferritin"] = (0, 50) if f is None else 0 if f < 2000 else 35 if f <= 6000 else 50
    tgn = _native(labs, v, "hscore_triglycerides")
    if tgn is None:
        parts["triglycerides"] = (0, 64)
    else:
        tg, (lo_tg, hi_tg) = tgn[0], tgn[1]
        parts["triglycerides"] = 0 if tg < lo_tg else 44 if tg <= hi_tg else 64
    fibn = _native(labs, v, "hscore_fibrinogen")
    parts["fibrinogen"] = (0, 30) if fibn is None else 30 if fibn[0] <= fibn[1][0] else 0
    ast = None if "ast" not in v else signif(v["ast"])
    parts["ast"] = (0, 19) if ast is None else 19 if ast >= 30 else 0
    parts["haemophagocytosis"] = (0, 35) if findings.haemophagocytosis is None else 35 * findings.haemophagocytosis
    lo = sum(p[0] if isinstance(p, tuple) else p for p in parts.values())
    hi = sum(p[1] if isinstance(p, tuple) else p for p in parts.values())
    missing = tuple(k for k, p in parts.items() if isinstance(p, tuple))
    inputs = {"points": {k: p for k, p in parts.items() if not isinstance(p, tuple)}, "labs": v, "range": [lo, hi]}
    version = "Fardet-2014"
    cat: str | None
    if not missing:
        cat = "high probability (>= 169)" if lo >= HSCORE_CUTOFF else "below 169"
        return GradeResult(
            scheme="HScore",
            version=version,
            grade=None,
            value=float(lo),
            category=cat,
            driver=f"HScore {lo}",
            inputs=inputs,
        )
    if lo >= HSCORE_CUTOFF:
        cat = "high probability (>= 169) whatever the missing variables"
    elif hi < HSCORE_CUTOFF:
        cat = "below 169 whatever the missing variables"
    else:
        cat = None
    return GradeResult(
        scheme="HScore",
        version=version,
        grade=None,
        category=cat,
        driver=f"HScore between {lo} and {hi}",
        inputs=inputs,
        missing=missing,
    )
