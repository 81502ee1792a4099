"""IEC-HS suspected screen: NOT the ASTCT 2023 criteria (Hines et al.), which were not
retrieved (domain.md §1.3, §10). A replaceable, versioned rule set built from HLH-2004, the
HScore and the timing relative to CRS; every result carries ``verified=False`` and a caveat.

Rule set ``cgtvigil-iec-hs-screen-0.1``:
- hyperinflammation: HLH-2004 criteria met, or HScore >= 169 (when determinable);
- timing: IEC-HS typically starts as CRS resolves or later, so the screen is "suspected" when
  CRS is absent, improving or resolved; while CRS is active and worsening it reports
  "possible, overlapping active CRS: re-assess as CRS resolves";
- not suspected when neither hyperinflammation criterion holds; indeterminate when they
  cannot be decided from the data given.
"""

from __future__ import annotations

from typing import Literal

from cgtvigil.clinical._result import GradeResult

__all__ = ["IEC_HS_SCREEN_VERSION", "iec_hs_screen"]

IEC_HS_SCREEN_VERSION = "cgtvigil-iec-hs-screen-0.1"
CAVEAT = (
    "IEC-HS screen only: the ASTCT 2023 IEC-HS criteria are not confirmed in this version; this is a "
    "project rule set from HLH-2004, HScore and CRS timing, not a diagnosis."
)

CRSState = Literal["none", "active_worsening", "improving", "resolved"]


def iec_hs_screen(hlh: GradeResult, hscore_result: GradeResult, crs_state: CRSState) -> GradeResult:
    """Screen for suspected IEC-HS from HLH-2004 and HScore results and the CRS state."""
    hlh_met = hlh.category == "criteria met"
    hs_high = (hscore_result.category or "").startswith("high probability")
    undecided = hlh.category == "indeterminate" or hscore_result.category is None
    inputs = {
        "hlh2004": hlh.category,
        "hscore": hscore_result.value,
        "hscore_category": hscore_result.category,
        "crs_state": crs_state,
    }
    if hlh_met or hs_high:
        why = " and ".join(x for x, ok in (("HLH-2004 criteria met", hlh_met), ("HScore >= 169", hs_high)) if ok)
        if crs_state == "active_worsening":
            category = "possible: overlapping active CRS, re-assess as CRS resolves"
        else:
            category = "suspected"
            why += f"; CRS {crs_state}"
    elif undecided:
        category, why = "indeterminate", "HLH-2004 or HScore cannot be decided from the data given"
    else:
        category, why = "not suspected", "neither HLH-2004 nor HScore >= 169"
    return GradeResult(
        scheme="IEC-HS screen",
        version=IEC_HS_SCREEN_VERSION,
        grade=None,
        category=category,
        driver=why,
        inputs=inputs,
        missing=tuple(sorted(set(hlh.missing) | set(hscore_result.missing))),
        notes=(CAVEAT,),
        verified=False,
    )
