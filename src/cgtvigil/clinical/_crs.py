"""Cytokine release syndrome: ASTCT consensus grading (Lee et al., BBMT 2019) per assessment
and per episode (domain.md §1.1).

One grading path: :func:`grade_crs` grades one assessment as a series of one, so a single
assessment and the same assessment first in a series get the same grade.

Masked fever (ASTCT 2019 Table 1 footnote, domain.md §1.1 rule 2): an antipyretic,
tocilizumab or a corticosteroid switches ``fever_masked`` on from the assessment that records
it, whether or not an episode is open yet; from then on the fever requirement counts as met
and the grade is driven by hypotension and hypoxia. A single assessment can say that a masking
agent was given earlier (``masking_agent_earlier``). Masking ends with the episode.

Episode boundaries are not defined by the consensus. cgtvigil's documented, configurable
default: an episode starts at the first assessment with grade >= 1 and ends once
``quiet_hours`` (24 h) have passed with no fever, no hypotension, no hypoxia and no masking
agent.

Vasopressor names are normalised with the shipped synonym list (``_vasopressors.py``) before
agents are counted: noradrenaline, Levophed and norepinephrine are one vasopressor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from cgtvigil._validation import Problems
from cgtvigil.clinical._checks import check_time
from cgtvigil.clinical._result import GradeResult, decided
from cgtvigil.clinical._units import signif, to_canonical
from cgtvigil.clinical._vasopressors import VASOPRESSOR_SYNONYMS_VERSION, normalise_vasopressor
from cgtvigil.model import CRSAssessment, O2Device

__all__ = ["CRS_VERSION", "CRSEpisode", "CRSEpisodeRules", "grade_crs", "grade_crs_series", "hypotension_threshold"]

CRS_VERSION = "ASTCT-CRS-2019"
FEVER_C = 38.0
LOW_FLOW_MAX_L_MIN = 6.0
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
            t = None if t is None else signif(t)  # 100.4 °F is 38.0 °C, not 37.99999999999999
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


def _agents(a: CRSAssessment) -> list[str]:
    """Masking agents recorded at this assessment."""
    return [
        name
        for name, given in (
            ("antipyretic", a.antipyretic),
            ("tocilizumab", a.tocilizumab),
            ("corticosteroid", a.corticosteroid),
        )
        if given
    ]


@dataclass(frozen=True)
class _Components:
    hypo: int
    hypo_why: str
    hypox: int
    hypox_why: str
    missing: tuple[str, ...]
    notes: tuple[str, ...]
    inputs: dict[str, object]


def _pressors(a: CRSAssessment) -> tuple[int, str, list[str], dict[str, object]]:
    given = [v.strip() for v in a.vasopressors if v.strip()]
    names: dict[str, list[str]] = {}
    notes = []
    for v in given:
        inn, known = normalise_vasopressor(v)
        names.setdefault(inn, []).append(v)
        if not known:
            notes.append(
                f"vasopressor '{v}' is not on the synonym list ({VASOPRESSOR_SYNONYMS_VERSION}): "
                "counted as its own agent."
            )
    inputs: dict[str, object] = {
        "vasopressors_normalised": sorted(names),
        "vasopressor_synonyms": VASOPRESSOR_SYNONYMS_VERSION,
    }
    if not names:
        return 0, "", notes, inputs

    def label(inn: str) -> str:
        spelled = sorted({g for g in names[inn] if g.lower() != inn})
        return inn + (f" (given as {', '.join(repr(g) for g in spelled)})" if spelled else "")

    non_vaso = sorted(n for n in names if n != "vasopressin")
    if len(non_vaso) >= 2:
        why = f"multiple vasopressors ({', '.join(label(n) for n in non_vaso)}; vasopressin not counted)"
        return 4, why, notes, inputs
    return 3, f"one vasopressor ({', '.join(label(n) for n in sorted(names))})", notes, inputs


def _components(a: CRSAssessment) -> _Components:
    missing: list[str] = []
    hypo, hypo_why, notes, inputs = _pressors(a)
    limit = hypotension_threshold(a.age_years)
    if a.age_years is not None and limit is not None and a.age_years <= 10:
        inputs["hypotension_threshold_mmhg"] = limit
        notes.append(
            f"paediatric hypotension threshold: SBP < {limit:g} mmHg (70 + 2 x {a.age_years:g} years; "
            "paediatric CARTOX, Mahadeo 2019)."
        )
    elif a.age_years is not None and limit is None:
        inputs["hypotension_threshold_mmhg"] = None
    if not hypo:
        hypotensive = a.hypotension
        if hypotensive is None and a.sbp_mmhg is not None:
            if limit is None:
                missing.append("hypotension finding (no SBP definition under 1 year of age)")
            else:
                hypotensive = a.sbp_mmhg < limit
                hypo_why = (
                    f"hypotension (SBP {decided(a.sbp_mmhg, limit)} mmHg < {limit:g} mmHg) not needing vasopressors"
                )
        elif hypotensive:
            hypo_why = "hypotension (clinician finding) not needing vasopressors"
        if hypotensive is None and not missing:
            missing.append("blood pressure")
        hypo = 2 if hypotensive else 0
        hypo_why = hypo_why if hypotensive else ""
    device = a.o2_device
    flow = a.o2_flow_l_min
    at = f" at {decided(flow, LOW_FLOW_MAX_L_MIN)} L/min" if flow is not None else ""
    if device is None:
        missing.append("oxygen support")
        hypox, hypox_why = 0, ""
    elif device in _POSITIVE:
        hypox, hypox_why = 4, f"positive-pressure ventilation ({device.value.replace('_', ' ')})"
    elif device == O2Device.HIGH_FLOW_NASAL_CANNULA or (
        device == O2Device.LOW_FLOW_NASAL_CANNULA and flow is not None and flow > LOW_FLOW_MAX_L_MIN
    ):
        hypox, hypox_why = 3, f"high-flow nasal cannula (>6 L/min){at}"
    elif device in _HIGH:
        hypox, hypox_why = 3, f"{device.value.replace('_', ' ')}"
    elif device in _LOW_FLOW:
        hypox, hypox_why = 2, f"{device.value.replace('_', ' ')} (<=6 L/min){at}"
    else:
        hypox, hypox_why = 0, ""
    return _Components(hypo, hypo_why, hypox, hypox_why, tuple(missing), tuple(notes), inputs)


@dataclass(frozen=True)
class _Graded:
    result: GradeResult
    floor: int  # the grade, or its lower bound when not gradable
    active: bool  # fever, hypotension, hypoxia or a masking agent: keeps an episode open


def _grade_one(a: CRSAssessment, temp_c: float | None, masked_by: str | None) -> _Graded:
    """Grade one assessment; ``masked_by`` says what masks fever (None: not masked)."""
    masked = masked_by is not None
    inputs = a.model_dump(mode="json")
    inputs["temperature_c"] = temp_c
    inputs["fever_masked"] = masked
    c = _components(a)
    inputs.update(c.inputs)
    notes = list(c.notes)
    fever = temp_c is not None and temp_c >= FEVER_C
    agent = bool(_agents(a))
    active = (fever and not a.other_cause) or c.hypo > 0 or c.hypox > 0 or agent

    def result(
        grade: int | None, driver: str = "", *, category: str | None = None, missing: tuple[str, ...] = ()
    ) -> GradeResult:
        return GradeResult(
            scheme="CRS",
            version=CRS_VERSION,
            grade=grade,
            category=category,
            driver=driver,
            inputs=inputs,
            missing=missing,
            notes=tuple(notes),
        )

    if a.death_from_crs:
        notes.append("Grade 5 wording not re-read against the primary source (UNCONFIRMED).")
        return _Graded(result(5, "death from CRS"), 5, True)
    if a.other_cause and not masked:
        return _Graded(result(0, "fever attributed to another cause: not CRS"), 0, active)
    if not fever and not masked:
        if a.fever_earlier:
            notes.append(
                "fever was recorded earlier in this episode, but no antipyretic, tocilizumab or corticosteroid has "
                "been given: fever is still required (ASTCT 2019)."
            )
        if temp_c is None:
            return _Graded(result(None, missing=("temperature (or a masking agent)",)), 0, active)
        return _Graded(
            result(0, f"no fever ({decided(temp_c, FEVER_C)} °C < {FEVER_C:.1f} °C) and no masking agent"), 0, active
        )
    grade = max(1, c.hypo, c.hypox)
    if grade == 1:
        driver = (
            f"fever {decided(temp_c, FEVER_C)} °C" if fever and temp_c is not None else f"fever masked by {masked_by}"
        )
    else:
        driver = c.hypo_why if c.hypo >= c.hypox else c.hypox_why
        if c.hypo and c.hypox:
            driver = f"{driver} (hypotension grade {c.hypo}, hypoxia grade {c.hypox}: the worse counts)"
        if not fever:
            driver = f"{driver}; fever masked by {masked_by}"
    if c.missing and grade < 4:
        return _Graded(result(None, driver, category=f"at least grade {grade}", missing=c.missing), grade, active)
    return _Graded(result(grade, driver), grade, active)


def _grade_sequence(
    ordered: Sequence[CRSAssessment],
    temps: Sequence[float | None],
    rules: CRSEpisodeRules,
    *,
    fever_masked: bool | None = None,
) -> tuple[list[GradeResult], list[CRSEpisode]]:
    """The one grading path: assessments in time order, masking and episodes carried along."""
    results: list[GradeResult] = []
    episodes: list[CRSEpisode] = []
    open_start: datetime | None = None
    masked_by: str | None = None
    last_active: datetime | None = None
    members: list[GradeResult] = []

    def close(end: datetime | None) -> None:
        nonlocal open_start, members
        if open_start is not None and members:
            graded = [m for m in members if m.grade is not None]
            peak = max(graded, key=lambda m: m.grade or 0) if graded else members[0]
            episodes.append(CRSEpisode(open_start, end, peak.grade or 0, _time(peak), tuple(members)))
        open_start, members = None, []

    for a, temp in zip(ordered, temps, strict=True):
        if last_active is not None and (a.time - last_active).total_seconds() / 3600.0 >= rules.quiet_hours:
            close(last_active + timedelta(hours=rules.quiet_hours) if open_start is not None else None)
            masked_by, last_active = None, None
        agents = _agents(a)
        if agents:
            masked_by = f"{' and '.join(agents)} at {a.time.isoformat()}"
        elif a.masking_agent_earlier and masked_by is None:
            masked_by = "a masking agent given earlier in this episode"
        now_masked = masked_by
        if fever_masked is not None:
            now_masked = (masked_by or "a masking agent given earlier (fever_masked)") if fever_masked else None
        g = _grade_one(a, temp, now_masked)
        if open_start is None and g.floor >= 1:
            open_start = a.time
        if open_start is not None:
            members.append(g.result)
        if g.active or agents or a.masking_agent_earlier:
            last_active = a.time
        results.append(g.result)
    close(None)
    return results, episodes


def grade_crs(
    assessment: CRSAssessment, *, fever_masked: bool | None = None, now: datetime | None = None
) -> GradeResult:
    """ASTCT CRS grade of one assessment: the series grader on a series of one.

    Fever is masked when this assessment records an antipyretic, tocilizumab or a
    corticosteroid, or ``masking_agent_earlier``; ``fever_masked`` overrides both.

    Examples
    --------
    >>> from datetime import datetime
    >>> a = CRSAssessment(time=datetime(2026, 1, 2, 8), temperature=38.6, vasopressors=("norepinephrine",),
    ...                   o2_device="low_flow_nasal_cannula", o2_flow_l_min=2)
    >>> grade_crs(a).grade
    3
    """
    temps = _validate([assessment], now)
    return _grade_sequence([assessment], temps, CRSEpisodeRules(), fever_masked=fever_masked)[0][0]


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
    ordered = sorted(assessments, key=lambda a: a.time)
    return _grade_sequence(ordered, _validate(ordered, now), rules or CRSEpisodeRules())


def _time(r: GradeResult) -> datetime:
    return datetime.fromisoformat(str(r.inputs["time"]))
