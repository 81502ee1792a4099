"""Hypothesis properties of the grading library: a worse input never lowers a grade, unit
conversions round-trip, and an episode's peak grade is the maximum of its assessments."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cgtvigil.clinical import ANALYTES, convert, grade_crs, grade_crs_series, grade_ctcae, grade_icans
from cgtvigil.model import CRSAssessment, ICANSAssessment, LabResult

T0 = datetime(2026, 1, 1)
DEVICES = ["none", "blow_by", "low_flow_nasal_cannula", "facemask", "high_flow_nasal_cannula", "cpap"]
PRESSORS = [
    (),
    ("vasopressin",),
    ("norepinephrine",),
    ("norepinephrine", "vasopressin"),
    ("norepinephrine", "epinephrine"),
]

crs_inputs = st.fixed_dictionaries(
    {
        "temperature": st.floats(35.0, 42.0),
        "sbp_mmhg": st.floats(50.0, 160.0),
        "o2": st.integers(0, len(DEVICES) - 1),
        "pressors": st.integers(0, len(PRESSORS) - 1),
        "masked": st.booleans(),
    }
)


def _crs(d: dict, t: datetime = T0) -> CRSAssessment:
    return CRSAssessment(
        time=t,
        temperature=d["temperature"],
        sbp_mmhg=d["sbp_mmhg"],
        o2_device=DEVICES[d["o2"]],
        o2_flow_l_min=4 if DEVICES[d["o2"]] == "low_flow_nasal_cannula" else None,
        vasopressors=PRESSORS[d["pressors"]],
        tocilizumab=d["masked"],
    )


@given(crs_inputs, st.floats(0.0, 3.0), st.integers(0, 2), st.integers(0, 2), st.floats(0.0, 40.0))
def test_worse_crs_input_never_lowers_the_grade(
    d: dict, hotter: float, more_o2: int, more_pressor: int, lower_bp: float
) -> None:
    worse = {
        **d,
        "temperature": min(42.0, d["temperature"] + hotter),
        "o2": min(len(DEVICES) - 1, d["o2"] + more_o2),
        "pressors": min(len(PRESSORS) - 1, d["pressors"] + more_pressor),
        "sbp_mmhg": d["sbp_mmhg"] - lower_bp,
    }
    assert (grade_crs(_crs(worse)).grade or 0) >= (grade_crs(_crs(d)).grade or 0)


@given(st.integers(0, 10), st.integers(0, 10), st.integers(0, 4), st.integers(0, 4))
def test_worse_icans_input_never_lowers_the_grade(ice: int, drop: int, level: int, worse_level: int) -> None:
    levels = ["alert", "awakens_spontaneously", "awakens_to_voice", "awakens_to_tactile", "unarousable"]
    base = {
        "time": T0,
        "age_years": 40,
        "seizure": "none",
        "motor_weakness": False,
        "focal_oedema": False,
        "diffuse_oedema_or_icp_signs": False,
    }
    a = grade_icans(ICANSAssessment(**base, ice_score=ice, consciousness=levels[level]))
    b = grade_icans(
        ICANSAssessment(**base, ice_score=max(0, ice - drop), consciousness=levels[max(level, worse_level)])
    )
    assert (b.grade or 0) >= (a.grade or 0)


@given(st.floats(0.0, 20.0), st.floats(0.0, 20.0), st.sampled_from(["5.0", "6.0"]))
def test_lower_anc_never_lowers_the_ctcae_grade(v: float, drop: float, version: str) -> None:
    a = grade_ctcae(
        "neutrophil_count_decreased",
        LabResult(analyte="anc", value=v, unit="10^9/L", ref_low=1.8, ref_high=7.7),
        version=version,
    )  # type: ignore[arg-type]
    b = grade_ctcae(
        "neutrophil_count_decreased",
        LabResult(analyte="anc", value=max(0.0, v - drop), unit="10^9/L", ref_low=1.8, ref_high=7.7),
        version=version,
    )  # type: ignore[arg-type]
    assert (b.grade or 0) >= (a.grade or 0)


@given(st.sampled_from(sorted(ANALYTES)), st.data())
def test_unit_conversions_round_trip(analyte: str, data: st.DataObject) -> None:
    spec = ANALYTES[analyte]
    units = sorted(spec.units)
    a, b = data.draw(st.sampled_from(units)), data.draw(st.sampled_from(units))
    value = data.draw(st.floats(0.01, 1000.0))
    back = convert(analyte, convert(analyte, value, a, b), b, a)
    assert abs(back - value) <= 1e-9 * max(1.0, abs(value))


@given(st.lists(crs_inputs, min_size=1, max_size=12), st.lists(st.integers(1, 30), min_size=12, max_size=12))
def test_episode_peak_is_the_maximum_of_its_assessments(rows: list[dict], gaps: list[int]) -> None:
    times = [T0]
    for g in gaps[: len(rows) - 1]:
        times.append(times[-1] + timedelta(hours=g))
    assessments = [_crs(d, t) for d, t in zip(rows, times, strict=True)]
    _, episodes = grade_crs_series(list(reversed(assessments)))
    for ep in episodes:
        assert ep.peak_grade == max(r.grade or 0 for r in ep.assessments)


@given(
    crs_inputs,
    st.sampled_from(["antipyretic", "tocilizumab", "corticosteroid", "masking_agent_earlier", None]),
    st.booleans(),
)
def test_one_grading_path_for_one_assessment_and_a_series(d: dict, agent: str | None, no_temp: bool) -> None:
    """ASTCT 2019 masked fever (issue 8): an assessment graded alone and as the first (or only)
    assessment of a series gets the same result, whatever masks fever."""
    a = _crs(d).model_copy(update={"tocilizumab": False, **({agent: True} if agent else {})})
    if no_temp:
        a = a.model_copy(update={"temperature": None})
    alone = grade_crs(a)
    assert grade_crs_series([a])[0][0] == alone
    later = CRSAssessment(time=T0 + timedelta(hours=1), temperature=36.8, sbp_mmhg=120, o2_device="none")
    assert grade_crs_series([later, a])[0][0] == alone


@given(
    st.lists(st.sampled_from(["norepinephrine", "noradrenaline", "Levophed", "vasopressin", "argipressin"]), min_size=1)
)
def test_names_of_one_drug_never_make_multiple_vasopressors(names: list[str]) -> None:
    """ASTCT 2019 Table 1: norepinephrine under any name plus vasopressin is one vasopressor (3)."""
    a = CRSAssessment(time=T0, temperature=38.5, sbp_mmhg=80, vasopressors=tuple(names), o2_device="none")
    assert grade_crs(a).grade == 3
