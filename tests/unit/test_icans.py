"""ASTCT ICANS grading: every row of domain.md §1.2's tables (ICE and CAPD branches) and the
stated rules."""

from __future__ import annotations

from datetime import datetime

import pytest

from cgtvigil.clinical import grade_icans
from cgtvigil.errors import ValidationError
from cgtvigil.model import ICANSAssessment

NORMAL = {
    "consciousness": "alert",
    "seizure": "none",
    "motor_weakness": False,
    "focal_oedema": False,
    "diffuse_oedema_or_icp_signs": False,
}


def _a(**kw: object) -> ICANSAssessment:
    base: dict[str, object] = {"time": datetime(2026, 1, 5, 9), "age_years": 54, "ice_score": 10, **NORMAL}
    base.update(kw)
    return ICANSAssessment(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "grade"),
    [
        ({}, 0),
        ({"ice_score": 9}, 1),
        ({"ice_score": 7}, 1),
        ({"ice_score": 6}, 2),
        ({"ice_score": 3}, 2),
        ({"ice_score": 2}, 3),
        ({"ice_score": 0}, 3),  # ICE 0 in an awake patient: grade 3
        ({"ice_score": 0, "consciousness": "unarousable"}, 4),  # ICE 0 unarousable: grade 4
        ({"ice_score": None, "unable_to_perform": True, "consciousness": "unarousable"}, 4),
        ({"consciousness": "awakens_spontaneously"}, 1),
        ({"consciousness": "awakens_to_voice"}, 2),
        ({"consciousness": "awakens_to_tactile"}, 3),
        ({"consciousness": "unarousable"}, 4),
        ({"seizure": "rapidly_resolving"}, 3),
        ({"seizure": "nonconvulsive_resolved_with_intervention"}, 3),
        ({"seizure": "prolonged_over_5_min"}, 4),
        ({"seizure": "repetitive_without_return_to_baseline"}, 4),
        ({"motor_weakness": True}, 4),
        ({"focal_oedema": True}, 3),
        ({"diffuse_oedema_or_icp_signs": True}, 4),
        ({"death_from_icans": True}, 5),
    ],
)
def test_adult_table_rows(kw: dict[str, object], grade: int) -> None:
    assert grade_icans(_a(**kw)).grade == grade


def test_ice_items_worst_domain_and_zero_is_explicit() -> None:
    items = {"orientation": 2, "naming": 3, "commands": 1, "writing": 0, "attention": 1}  # 7
    r = grade_icans(_a(ice_score=None, ice_items=items, consciousness="awakens_to_voice"))
    assert r.grade == 2 and r.inputs["ice_total"] == 7 and r.inputs["domain_grades"]["cognition"] == 1
    zero = grade_icans(_a())
    assert zero.grade == 0 and zero.driver == "ICE 10/10 and no other domain affected"
    with pytest.raises(ValidationError) as info:
        grade_icans(_a(ice_score=8, ice_items={**items, "naming": 5}))
    assert len(info.value.problems) == 2  # naming out of range; total mismatch


@pytest.mark.parametrize(
    ("kw", "grade"),
    [
        ({"capd_score": 0}, 0),
        ({"capd_score": 5}, 1),  # CAPD 1-8, awakens spontaneously or alert
        ({"capd_score": 5, "consciousness": "awakens_to_voice"}, 2),
        ({"capd_score": 9}, 3),  # CAPD >= 9
        ({"capd_score": 14, "consciousness": "awakens_to_tactile"}, 3),
        ({"capd_score": None, "unable_to_perform": True, "consciousness": "unarousable"}, 4),
        ({"capd_items": (1, 1, 1, 1, 1, 1, 1, 2)}, 3),  # total 9
    ],
)
def test_capd_branch_for_children(kw: dict[str, object], grade: int) -> None:
    r = grade_icans(_a(age_years=8, ice_score=None, **kw))
    assert r.grade == grade


def test_capd_with_developmental_delay_and_other_rules() -> None:
    teen = grade_icans(_a(age_years=15, developmental_delay=True, ice_score=None, capd_score=10))
    assert teen.grade == 3 and teen.inputs["capd_total"] == 10
    missing = grade_icans(_a(ice_score=None, consciousness="awakens_to_voice"))
    assert missing.grade is None and missing.category == "at least grade 2" and missing.missing == ("ICE score",)
    other = grade_icans(_a(ice_score=2, other_cause=True))
    assert other.grade == 0 and "another cause" in other.driver
    ich = grade_icans(_a(intracranial_haemorrhage=True))
    assert "excluded from ICANS" in ich.notes[0]


def test_capd_answers_are_scored_with_items_1_to_4_reversed() -> None:
    """Items 1-4: never = 4 ... always = 0; items 5-8: never = 0 ... always = 4 (domain.md §1.2).
    'sometimes' everywhere gives 2 x 8 = 16 (>= 9: grade 3); the best answers give 0."""
    best = ("always",) * 4 + ("never",) * 4
    assert grade_icans(_a(age_years=6, ice_score=None, capd_responses=best)).grade == 0
    r = grade_icans(_a(age_years=6, ice_score=None, capd_responses=("sometimes",) * 8))
    assert r.grade == 3 and r.inputs["capd_total"] == 16
    mild = ("often", "always", "always", "always", "rarely", "never", "never", "never")  # 1 + 1 = 2
    assert grade_icans(_a(age_years=6, ice_score=None, capd_responses=mild)).grade == 1
    with pytest.raises(ValidationError, match="CAPD needs 8 answers"):
        grade_icans(_a(age_years=6, ice_score=None, capd_responses=("sometimes",) * 7))
