"""ASTCT CRS grading: every row of domain.md §1.1's table and its worked examples
(expected values from the consensus table as reproduced in domain.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cgtvigil.clinical import CRSEpisodeRules, grade_crs, grade_crs_series, hypotension_threshold
from cgtvigil.errors import ValidationError
from cgtvigil.model import CRSAssessment

T0 = datetime(2026, 1, 2, 8, 0)


def _a(**kw: object) -> CRSAssessment:
    base: dict[str, object] = {"time": T0, "temperature": 38.6, "sbp_mmhg": 120, "o2_device": "none"}
    base.update(kw)
    return CRSAssessment(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "grade"),
    [
        ({}, 1),  # fever alone
        ({"sbp_mmhg": 85}, 2),  # hypotension, no vasopressor
        ({"hypotension": True, "sbp_mmhg": None}, 2),
        ({"o2_device": "low_flow_nasal_cannula", "o2_flow_l_min": 6}, 2),  # <= 6 L/min
        ({"o2_device": "blow_by"}, 2),
        ({"vasopressors": ("norepinephrine",)}, 3),  # one vasopressor
        ({"vasopressors": ("norepinephrine", "vasopressin")}, 3),  # vasopressin allowed at grade 3
        ({"vasopressors": ("vasopressin",)}, 3),  # vasopressin alone is one pressor
        ({"o2_device": "high_flow_nasal_cannula", "o2_flow_l_min": 30}, 3),
        ({"o2_device": "low_flow_nasal_cannula", "o2_flow_l_min": 8}, 3),  # > 6 L/min
        ({"o2_device": "facemask"}, 3),
        ({"o2_device": "non_rebreather"}, 3),
        ({"o2_device": "venturi"}, 3),
        ({"vasopressors": ("norepinephrine", "epinephrine")}, 4),  # multiple, vasopressin excluded
        ({"vasopressors": ("norepinephrine", "phenylephrine", "vasopressin")}, 4),
        ({"o2_device": "cpap"}, 4),
        ({"o2_device": "bipap"}, 4),
        ({"o2_device": "mechanical_ventilation"}, 4),
        ({"death_from_crs": True}, 5),
    ],
)
def test_table_rows(kw: dict[str, object], grade: int) -> None:
    assert grade_crs(_a(**kw)).grade == grade


def test_worked_example_fever_pressor_low_flow_is_grade_3() -> None:
    r = grade_crs(_a(vasopressors=("norepinephrine",), o2_device="low_flow_nasal_cannula", o2_flow_l_min=2))
    assert r.grade == 3 and r.version == "ASTCT-CRS-2019"
    assert "hypotension grade 3, hypoxia grade 2" in r.driver


def test_fever_is_required_unless_masked() -> None:
    no_fever = grade_crs(_a(temperature=37.4, vasopressors=("norepinephrine",)))
    assert no_fever.grade == 0 and "no fever" in no_fever.driver
    masked = grade_crs(_a(temperature=37.0, sbp_mmhg=82, tocilizumab=True))
    assert masked.grade == 2 and masked.inputs["fever_masked"] is True
    assert grade_crs(_a(temperature=37.0, antipyretic=True)).grade == 1
    assert grade_crs(_a(other_cause=True, vasopressors=("norepinephrine",))).grade == 0


def test_missing_data_is_not_a_silent_zero() -> None:
    r = grade_crs(_a(temperature=None))
    assert r.grade is None and r.missing == ("temperature (or a masking agent)",)
    partial = grade_crs(_a(o2_device=None, sbp_mmhg=85))
    assert partial.grade is None and partial.category == "at least grade 2" and partial.missing == ("oxygen support",)
    assert grade_crs(_a(o2_device=None, vasopressors=("norepinephrine", "epinephrine"))).grade == 4  # cannot rise


def test_paediatric_hypotension_rule() -> None:
    """SBP < 70 + 2 x age for ages 1-10; < 90 above 10; no definition under 1 (domain.md §1.1 rule 7)."""
    assert hypotension_threshold(5) == 80 and hypotension_threshold(12) == 90 and hypotension_threshold(0.5) is None
    assert grade_crs(_a(age_years=5, sbp_mmhg=78)).grade == 2
    assert grade_crs(_a(age_years=5, sbp_mmhg=85)).grade == 1
    infant = grade_crs(_a(age_years=0.5, sbp_mmhg=60))
    assert infant.grade is None and "no SBP definition under 1 year" in infant.missing[0]
    assert grade_crs(_a(age_years=0.5, sbp_mmhg=60, hypotension=True)).grade == 2


def test_units_extremes_and_impossible_values() -> None:
    assert grade_crs(_a(temperature=101.3, temperature_unit="[degF]")).grade == 1  # 38.5 °C
    assert grade_crs(_a(temperature=41.0)).grade == 1  # extreme but possible
    with pytest.raises(ValidationError) as info:
        grade_crs_series(
            [_a(temperature=60.0), _a(time=T0 + timedelta(hours=1), sbp_mmhg=-5, temperature_unit="kelvin")]
        )
    problems = info.value.problems
    assert len(problems) == 3
    assert "temperature 60 Cel is outside the plausible range 25-45 Cel" in problems[0]
    assert "unknown unit 'kelvin' for temperature" in problems[1] and "sbp -5" in problems[2]
    with pytest.raises(ValidationError, match="in the future"):
        grade_crs(_a(time=datetime(2030, 1, 1)), now=datetime(2026, 11, 25))


def test_episode_masking_out_of_order_and_closing() -> None:
    """Fever opens an episode; tocilizumab masks fever for the rest of it; 24 h with nothing
    closes it (cgtvigil default episode rule)."""
    series = [
        _a(time=T0 + timedelta(hours=30), temperature=37.0, sbp_mmhg=120),  # arrives first, happens third
        _a(time=T0, temperature=39.1),
        _a(time=T0 + timedelta(hours=6), temperature=37.2, sbp_mmhg=84, tocilizumab=True),
        _a(time=T0 + timedelta(hours=12), temperature=36.9, sbp_mmhg=118),
        _a(time=T0 + timedelta(hours=60), temperature=37.0, sbp_mmhg=120),
    ]
    results, episodes = grade_crs_series(series)
    assert [r.grade for r in results] == [1, 2, 1, 0, 0]  # at 30 h the episode has been quiet for 24 h
    assert len(episodes) == 1
    ep = episodes[0]
    assert ep.onset == T0 and ep.peak_grade == 2 and ep.peak_time == T0 + timedelta(hours=6)
    assert ep.end == T0 + timedelta(hours=30) and ep.duration_hours == 30.0
    masked_longer, longer = grade_crs_series(series, rules=CRSEpisodeRules(quiet_hours=48))
    assert [r.grade for r in masked_longer] == [1, 2, 1, 1, 0]  # still masked at 30 h under a 48 h rule
    assert longer[0].end == T0 + timedelta(hours=54)


def test_time_before_birth_or_in_the_future_is_rejected() -> None:
    from datetime import date

    with pytest.raises(ValidationError) as info:
        grade_crs(_a(time=datetime(2019, 5, 1), birth_date=date(2020, 1, 1)), now=datetime(2026, 11, 25))
    assert "before the date of birth 2020-01-01" in str(info.value)
