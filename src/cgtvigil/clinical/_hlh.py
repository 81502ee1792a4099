"""HLH-2004 diagnostic criteria and the HScore (Fardet 2014) (domain.md §1.3).

HLH-2004: met when at least 5 of the 8 criteria are present, even with others missing; not
met when even all missing criteria could not reach 5; otherwise indeterminate, listing the
missing criteria. HScore: the value when every variable is known; otherwise the possible range,
and the category (>= 169: high probability) when the missing variables cannot change it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from cgtvigil._validation import Problems
from cgtvigil.clinical._result import GradeResult
from cgtvigil.clinical._units import lab_values
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
    hb_cut = 10.0 if findings.neonate else 9.0
    lineages = {"hb": ("hb", hb_cut), "plt": ("plt", 100.0), "anc": ("anc", 1.0)}
    low = [k for k, (a, c) in lineages.items() if a in v and v[a] < c]
    unknown = [k for k, (a, _) in lineages.items() if a not in v]
    crit["cytopenias (>= 2 lineages)"] = True if len(low) >= 2 else (None if len(low) + len(unknown) >= 2 else False)
    tg = v.get("triglycerides")
    fib = v.get("fibrinogen")
    if (tg is not None and tg > 265) or (fib is not None and fib < 150):
        crit["hypertriglyceridaemia and/or hypofibrinogenaemia"] = True
    elif tg is not None and fib is not None:
        crit["hypertriglyceridaemia and/or hypofibrinogenaemia"] = False
    else:
        crit["hypertriglyceridaemia and/or hypofibrinogenaemia"] = None
    crit["haemophagocytosis"] = findings.haemophagocytosis
    crit["low or absent NK activity"] = findings.low_nk_activity
    crit["ferritin > 500 ng/mL"] = None if "ferritin" not in v else v["ferritin"] > 500
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
    cyto = {"hb": 9.2, "wbc": 5.0, "plt": 110.0}
    low = sum(1 for k, c in cyto.items() if k in v and v[k] <= c)
    unk = sum(1 for k in cyto if k not in v)
    pts = {0: 0, 1: 0, 2: 24, 3: 34}
    parts["cytopenias"] = pts[low] if not unk else (pts[low], pts[low + unk])
    f = v.get("ferritin")
    parts["ferritin"] = (0, 50) if f is None else 0 if f < 2000 else 35 if f <= 6000 else 50
    tg = v.get("triglycerides")
    parts["triglycerides"] = (0, 64) if tg is None else 0 if tg < 132.7 else 44 if tg <= 354 else 64
    fib = v.get("fibrinogen")
    parts["fibrinogen"] = (0, 30) if fib is None else 30 if fib <= 250 else 0
    ast = v.get("ast")
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
