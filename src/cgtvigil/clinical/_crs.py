"""Cytokine release syndrome: ASTCT consensus grading (Lee et al., BBMT 2019) per assessment
and per episode (domain.md §1.1).

Episode boundaries are not defined by the consensus. cgtvigil's documented, configurable
default: an episode starts at the first assessment with grade >= 1 and ends once
``quiet_hours`` (24 h) have passed with no fever, no hypotension, no hypoxia and no masking
agent (antipyretic, tocilizumab, corticosteroid). Within an open episode the first masking
dose switches ``fever_masked`` on: from then on the fever requirement counts as met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from cgtvigil._validation import Problems
from cgtvigil.clinical._checks import check_time
from cgtvigil.clinical._result import GradeResult
from cgtvigil.clinical._units import to_canonical
from cgtvigil.model import CRSAssessment, O2Device

__all__ = ["CRS_VERSION", "CRSEpisode", "CRSEpisodeRules", "grade_crs", "grade_crs_series", "hypotension_threshold"]

CRS_VERSION = "ASTCT-CRS-2019"
FEVER_C = 38.0
_VASOPRESSIN = ("vasopressin", "pitressin", "argipressin")
_LOW_FLOW = {O2Device.LOW_FLOW_NASAL_CANNULA, O2Device.BLOW_BY}
_HIGH = {O2Device.HIGH_FLOW_NASAL_CANNULA, O2Device.FACEMASK, O2Device.NON_REBREATHER, O2Device.VENTURI}
_POSITIVE = {O2Device.CPAP, O2Device.BIPAP, O2Device.MECHANICAL_VENTILATION}


def hypotension_threshold(age_years: float | None) -> float | None:
    """SBP below which a patient is hypotensive: < 90 mmHg for adults and children over 10;
    70 + 2 x age for ages 1-10 (paediatric CARTOX, Mahadeo 2019); no definition under 1 year."""
    if age_years is None or age_years > 10:
        return 90.0
    if age_years >= 1:
        return 70.0 + 2.0 * age_years
    return None


def _validate(assessments: Sequence[CRSAssessment], now: datetime | None) -> list[float | None]:
    problems = Problems()
    temps: list[float | None] = []
    for i, a in enumerate(assessments):
        where = f"assessment {i + 1} ({a.time.isoformat()})"
        t = None
        if a.temperature is not None:
            t = to_canonical("temperature", a.temperature, a.temperature_unit, problems, where)
        if a.sbp_mmhg is not None:
            to_canonical("sbp", a.sbp_mmhg, "mmHg", problems, where)
        if a.o2_flow_l_min is not None and not 0 <= a.o2_flow_l_min <= 80:
            problems.add(f"{where}: O2 flow must be 0-80 L/min. Got {a.o2_flow_l_min:g}.")
        if a.age_years is not None and not 0 <= a.age_years <= 125:
            problems.add(f"{where}: age must be 0-125 years. Got {a.age_years:g}.")
        check_time(a.time, problems, where, now=now, birth=a.birth_date)
        temps.append(t)
    problems.raise_if_any()
    return temps


def _components(a: CRSAssessment) -> tuple[int, str, int, str, list[str]]:
    """(hypotension grade, reason, hypoxia grade, reason, missing)."""
    missing: list[str] = []
    pressors = [v for v in a.vasopressors if v.strip()]
    non_vaso = {v.strip().lower() for v in pressors if not any(k in v.lower() for k in _VASOPRESSIN)}
    if len(non_vaso) >= 2:
        hypo, hypo_why = 4, f"multiple vasopressors ({', '.join(sorted(non_vaso))}; vasopressin not counted)"
    elif pressors:
        hypo, hypo_why = 3, f"one vasopressor ({', '.join(pressors)})"
    else:
        hypotensive = a.hypotension
        if hypotensive is None and a.sbp_mmhg is not None:
            limit = hypotension_threshold(a.age_years)
            if limit is None:
                missing.append("hypotension finding (no SBP definition under 1 year of age)")
            else:
                hypotensive = a.sbp_mmhg < limit
        if hypotensive is None and not missing:
            missing.append("blood pressure")
        hypo, hypo_why = (2, "hypotension not needing vasopressors") if hypotensive else (0, "")
    device = a.o2_device
    if device is None:
        missing.append("oxygen support")
        hypox, hypox_why = 0, ""
    elif device in _POSITIVE:
        hypox, hypox_why = 4, f"positive-pressure ventilation ({device.value})"
    elif device == O2Device.HIGH_FLOW_NASAL_CANNULA or (
        device == O2Device.LOW_FLOW_NASAL_CANNULA and a.o2_flow_l_min is not None and a.o2_flow_l_min > 6
    ):
        flow = f" at {a.o2_flow_l_min:g} L/min" if a.o2_flow_l_min is not None else ""
        hypox, hypox_why = 3, f"high-flow nasal cannula (>6 L/min){flow}"
    elif device in _HIGH:
        hypox, hypox_why = 3, f"{device.value.replace('_', ' ')}"
    elif device in _LOW_FLOW:
        hypox, hypox_why = 2, f"{device.value.replace('_', ' ')} (<=6 L/min)"
    else:
        hypox, hypox_why = 0, ""
    return hypo, hypo_why, hypox, hypox_why, missing


def _grade_one(a: CRSAssessment, temp_c: float | None, masked: bool) -> GradeResult:
    inputs = a.model_dump(mode="json")
    inputs["temperature_c"] = temp_c
    inputs["fever_masked"] = masked
    if a.death_from_crs:
        return GradeResult(
            scheme="CRS",
            version=CRS_VERSION,
            grade=5,
            driver="death from CRS",
            inputs=inputs,
            notes=("Grade 5 wording not re-read against the primary source (UNCONFIRMED).",),
        )
    hypo, hypo_why, hypox, hypox_why, missing = _components(a)
    fever = temp_c is not None and temp_c >= FEVER_C
    if a.other_cause and not masked:
        return GradeResult(
            scheme="CRS",
            version=CRS_VERSION,
            grade=0,
            inputs=inputs,
            driver="fever attributed to another cause: not CRS",
        )
    if not fever and not masked:
        if temp_c is None:
            return GradeResult(
                scheme="CRS",
                version=CRS_VERSION,
                grade=None,
                inputs=inputs,
                missing=("temperature (or a masking agent)",),
            )
        return GradeResult(
            scheme="CRS",
            version=CRS_VERSION,
            grade=0,
            inputs=inputs,
            driver=f"no fever ({temp_c:.1f} °C < {FEVER_C:.1f} °C) and no masking agent",
        )
    grade = max(1, hypo, hypox)
    if grade == 1:
        driver = f"fever {temp_c:.1f} °C" if fever else "fever masked by antipyretic/anti-cytokine therapy"
    else:
        driver = hypo_why if hypo >= hypox else hypox_why
        if hypo and hypox:
            driver = f"{driver} (hypotension grade {hypo}, hypoxia grade {hypox}: the worse counts)"
    if missing and grade < 4:
        return GradeResult(
            scheme="CRS",
            version=CRS_VERSION,
            grade=None,
            category=f"at least grade {grade}",
            driver=driver,
            inputs=inputs,
            missing=tuple(missing),
        )
    return GradeResult(scheme="CRS", version=CRS_VERSION, grade=grade, driver=driver, inputs=inputs)


def grade_crs(
    assessment: CRSAssessment, *, fever_masked: bool | None = None, now: datetime | None = None
) -> GradeResult:
    """ASTCT CRS grade of one assessment.

    ``fever_masked`` defaults to whether this assessment records an antipyretic, tocilizumab
    or corticosteroid; :func:`grade_crs_series` carries it across an episode.

    Examples
    --------
    >>> from datetime import datetime
    >>> a = CRSAssessment(time=datetime(2026, 1, 2, 8), temperature=38.6, vasopressors=("norepinephrine",),
    ...                   o2_device="low_flow_nasal_cannula", o2_flow_l_min=2)
    >>> grade_crs(a).grade
    3
    """
    temp = _validate([assessment], now)[0]
    masked = (
        (assessment.antipyretic or assessment.tocilizumab or assessment.corticosteroid)
        if fever_masked is None
        else fever_masked
    )
    return _grade_one(assessment, temp, masked)


class CRSEpisodeRules(BaseModel):
    """Configurable episode boundaries (cgtvigil default, not part of the consensus)."""

    model_config = ConfigDict(frozen=True)

    quiet_hours: float = 24.0
    version: str = "cgtvigil-crs-episode-1"


@dataclass(frozen=True)
class CRSEpisode:
    onset: datetime
    end: datetime | None  # None: still open at the last assessment
    peak_grade: int
    peak_time: datetime
    assessments: tuple[GradeResult, ...]

    @property
    def duration_hours(self) -> float | None:
        return None if self.end is None else (self.end - self.onset).total_seconds() / 3600.0


def grade_crs_series(
    assessments: Sequence[CRSAssessment], *, rules: CRSEpisodeRules | None = None, now: datetime | None = None
) -> tuple[list[GradeResult], list[CRSEpisode]]:
    """Grade assessments in time order (they may arrive in any order) and group them into
    episodes; returns the per-assessment grades and the episodes."""
    rules = rules or CRSEpisodeRules()
    ordered = sorted(assessments, key=lambda a: a.time)
    temps = _validate(ordered, now)
    results: list[GradeResult] = []
    episodes: list[CRSEpisode] = []
    open_start: datetime | None = None
    masked = False
    last_active: datetime | None = None
    members: list[GradeResult] = []

    def close(end: datetime | None) -> None:
        nonlocal open_start, members, masked
        if open_start is not None and members:
            graded = [m for m in members if m.grade is not None]
            peak = max(graded, key=lambda m: m.grade or 0) if graded else members[0]
            episodes.append(CRSEpisode(open_start, end, peak.grade or 0, _time(peak), tuple(members)))
        open_start, members, masked = None, [], False

    for a, temp in zip(ordered, temps, strict=True):
        agent = a.antipyretic or a.tocilizumab or a.corticosteroid
        if open_start is not None and last_active is not None:
            if (a.time - last_active).total_seconds() / 3600.0 >= rules.quiet_hours:
                close(last_active + timedelta(hours=rules.quiet_hours))
        in_episode = open_start is not None
        if in_episode and agent:
            masked = True
        r = _grade_one(a, temp, masked or (in_episode and agent))
        hypo, _, hypox, _, _ = _components(a)
        active = (temp is not None and temp >= FEVER_C and not a.other_cause) or hypo > 0 or hypox > 0 or agent
        if open_start is None and (r.grade or 0) >= 1:
            open_start, masked = a.time, agent
            r = _grade_one(a, temp, agent)
        if open_start is not None:
            members.append(r)
            if active:
                last_active = a.time
        results.append(r)
    close(None)
    return results, episodes


def _time(r: GradeResult) -> datetime:
    return datetime.fromisoformat(str(r.inputs["time"]))
