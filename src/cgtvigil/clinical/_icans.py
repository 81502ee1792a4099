"""ICANS: ASTCT consensus grading (Lee et al., BBMT 2019) with the ICE score for adults and
children >= 12, and the CAPD branch for children < 12 or developmental delay (domain.md §1.2).

Tremor and myoclonus are graded with CTCAE and do not affect the ICANS grade (ASTCT 2019):
they are recorded when given and the result says that they did not change the grade;
intracranial haemorrhage is excluded from ICANS and only noted.

The grade is the worst domain. A missing domain that could still raise the grade makes the
result "not gradable" with the lower bound in ``category`` ("at least grade 2") and the
missing domains listed; it is never reported as a silent 0.
"""

from __future__ import annotations

from datetime import datetime

from cgtvigil._validation import Problems
from cgtvigil.clinical._checks import check_time
from cgtvigil.clinical._result import GradeResult
from cgtvigil.model import Consciousness, ICANSAssessment, Seizure

__all__ = ["CAPD_ANSWERS", "ICANS_VERSION", "ICE_ITEMS", "capd_points", "capd_total", "grade_icans", "uses_capd"]

ICANS_VERSION = "ASTCT-ICANS-2019"
ICE_ITEMS = {"orientation": 4, "naming": 3, "commands": 1, "writing": 1, "attention": 1}

_CONSCIOUSNESS = {
    Consciousness.ALERT: 0,
    Consciousness.AWAKENS_SPONTANEOUSLY: 1,
    Consciousness.AWAKENS_TO_VOICE: 2,
    Consciousness.AWAKENS_TO_TACTILE: 3,
    Consciousness.UNAROUSABLE: 4,
}
_SEIZURE = {
    Seizure.NONE: 0,
    Seizure.RAPIDLY_RESOLVING: 3,
    Seizure.NONCONVULSIVE_RESOLVED_WITH_INTERVENTION: 3,
    Seizure.PROLONGED_OVER_5_MIN: 4,
    Seizure.REPETITIVE_WITHOUT_RETURN_TO_BASELINE: 4,
}


def uses_capd(a: ICANSAssessment) -> bool:
    """CAPD replaces ICE below 12 years of age and with developmental delay."""
    return a.developmental_delay or (a.age_years is not None and a.age_years < 12)


CAPD_ANSWERS = ("never", "rarely", "sometimes", "often", "always")


def capd_total(items: tuple[int, ...]) -> int:
    """Total of the 8 CAPD item points (each 0-4, items 1-4 already reverse-scored)."""
    return sum(items)


def capd_points(responses: tuple[str, ...]) -> tuple[int, ...]:
    """Item points from the 8 answers: items 1-4 are reverse-scored (never = 4 ... always = 0),
    items 5-8 run never = 0 ... always = 4 (Traube et al. 2014, domain.md §1.2).

    Examples
    --------
    >>> capd_points(("always",) * 4 + ("never",) * 4)
    (0, 0, 0, 0, 0, 0, 0, 0)
    """
    ranks = [CAPD_ANSWERS.index(r.strip().lower()) for r in responses]
    return tuple(4 - k if i < 4 else k for i, k in enumerate(ranks))


def _ice(a: ICANSAssessment, problems: Problems) -> int | None:
    if a.ice_items is not None:
        unknown = set(a.ice_items) - set(ICE_ITEMS)
        if unknown:
            problems.add(f"unknown ICE item(s) {sorted(unknown)}; expected {', '.join(ICE_ITEMS)}.")
        for k, top in ICE_ITEMS.items():
            if k not in a.ice_items:
                problems.add(f"ICE item '{k}' is missing (0-{top} points).")
            elif not 0 <= a.ice_items[k] <= top:
                problems.add(f"ICE item '{k}' must be 0-{top}. Got {a.ice_items[k]}.")
        total = sum(a.ice_items.get(k, 0) for k in ICE_ITEMS)
        if a.ice_score is not None and a.ice_score != total:
            problems.add(f"ICE total {a.ice_score} does not equal the sum of its items ({total}).")
        return total
    return a.ice_score


def grade_icans(assessment: ICANSAssessment, *, now: datetime | None = None) -> GradeResult:
    """ASTCT ICANS grade of one assessment.

    Examples
    --------
    >>> from datetime import datetime
    >>> grade_icans(ICANSAssessment(time=datetime(2026, 1, 3), ice_score=5, consciousness="alert",
    ...                             seizure="none", motor_weakness=False, focal_oedema=False,
    ...                             diffuse_oedema_or_icp_signs=False)).grade
    2
    """
    a = assessment
    problems = Problems()
    capd = uses_capd(a)
    items = a.capd_items
    if capd and a.capd_responses is not None:
        bad = [r for r in a.capd_responses if r.strip().lower() not in CAPD_ANSWERS]
        if len(a.capd_responses) != 8 or bad:
            problems.add(f"CAPD needs 8 answers among {', '.join(CAPD_ANSWERS)}. Got {list(a.capd_responses)}.")
        else:
            items = capd_points(a.capd_responses)
    if capd and items is not None:
        if len(items) != 8 or any(not 0 <= x <= 4 for x in items):
            problems.add(f"CAPD needs 8 item points, each 0-4. Got {list(items)}.")
            items = None
        elif a.capd_score is not None and a.capd_score != capd_total(items):
            problems.add(f"CAPD total {a.capd_score} does not equal the sum of its items ({capd_total(items)}).")
    ice = _ice(a, problems) if not capd else None
    if a.age_years is not None and not 0 <= a.age_years <= 125:
        problems.add(f"age must be 0-125 years. Got {a.age_years:g}.")
    check_time(a.time, problems, f"assessment ({a.time.isoformat()})", now=now, birth=a.birth_date)
    problems.raise_if_any()
    inputs = a.model_dump(mode="json")
    notes = []
    if a.intracranial_haemorrhage:
        notes.append("intracranial haemorrhage is excluded from ICANS and graded with CTCAE.")
    for finding, present in (("tremor", a.tremor), ("myoclonus", a.myoclonus)):
        if present:
            notes.append(f"{finding} recorded: graded with CTCAE, it does not change the ICANS grade (ASTCT 2019).")
    if a.death_from_icans:
        return GradeResult(
            scheme="ICANS", version=ICANS_VERSION, grade=5, driver="death from ICANS", inputs=inputs, notes=tuple(notes)
        )
    if a.other_cause:
        notes.append("findings attributed to another cause do not count towards ICANS.")
        return GradeResult(
            scheme="ICANS",
            version=ICANS_VERSION,
            grade=0,
            driver="findings explained by another cause",
            inputs=inputs,
            notes=tuple(notes),
        )
    domains: dict[str, tuple[int, str]] = {}
    missing: list[str] = []
    # Cognition: ICE (>= 12 y) or CAPD (< 12 y or developmental delay).
    if a.unable_to_perform:
        domains["cognition"] = (4, f"unable to perform {'CAPD' if capd else 'ICE'} (unarousable)")
    elif capd:
        total = capd_total(items) if items is not None else a.capd_score
        inputs["capd_total"] = total
        if total is None:
            missing.append("CAPD score")
        elif total >= 9:
            domains["cognition"] = (3, f"CAPD {total} (>= 9)")
        elif total >= 1:
            domains["cognition"] = (1, f"CAPD {total} (1-8)")
        else:
            domains["cognition"] = (0, "CAPD 0")
    else:
        inputs["ice_total"] = ice
        if ice is None:
            missing.append("ICE score")
        elif ice == 10:
            domains["cognition"] = (0, "ICE 10/10")
        elif ice >= 7:
            domains["cognition"] = (1, f"ICE {ice} (7-9)")
        elif ice >= 3:
            domains["cognition"] = (2, f"ICE {ice} (3-6)")
        else:
            awake = a.consciousness is not None and a.consciousness != Consciousness.UNAROUSABLE
            domains["cognition"] = (3, f"ICE {ice} (0-2)" + (" in an awake patient" if ice == 0 and awake else ""))
    if a.consciousness is None:
        missing.append("level of consciousness")
    else:
        level = _CONSCIOUSNESS[a.consciousness]
        domains["consciousness"] = (
            level,
            f"depressed consciousness: {a.consciousness.value.replace('_', ' ')}" if level else "alert",
        )
    if a.seizure is None:
        missing.append("seizure status")
    else:
        domains["seizure"] = (_SEIZURE[a.seizure], f"seizure: {a.seizure.value.replace('_', ' ')}")
    if a.motor_weakness is None:
        missing.append("motor findings")
    else:
        domains["motor"] = (4 if a.motor_weakness else 0, "deep focal motor weakness")
    if a.diffuse_oedema_or_icp_signs:
        domains["icp"] = (4, "diffuse cerebral oedema or raised-ICP signs")
    elif a.focal_oedema:
        domains["icp"] = (3, "focal/local oedema on neuroimaging")
    elif a.diffuse_oedema_or_icp_signs is None or a.focal_oedema is None:
        missing.append("raised ICP / cerebral oedema")
    else:
        domains["icp"] = (0, "")
    grade, why = max(domains.values(), key=lambda x: x[0]) if domains else (0, "")
    inputs["domain_grades"] = {k: v[0] for k, v in domains.items()}
    if missing and grade < 4:
        return GradeResult(
            scheme="ICANS",
            version=ICANS_VERSION,
            grade=None,
            category=f"at least grade {grade}" if grade else None,
            driver=why,
            inputs=inputs,
            missing=tuple(missing),
            notes=tuple(notes),
        )
    driver = why if grade else ("ICE 10/10 and no other domain affected" if not capd else "no domain affected")
    return GradeResult(
        scheme="ICANS", version=ICANS_VERSION, grade=grade, driver=driver, inputs=inputs, notes=tuple(notes)
    )
