"""ICANS: tremor and myoclonus (Lee et al., BBMT 2019, ICANS grading table notes, as
reproduced in domain.md §1.2 [C PMC8403007 T4]: tremor and myoclonus are graded with CTCAE and
do not affect the ICANS grade)."""

from __future__ import annotations

from datetime import datetime

from cgtvigil.clinical import grade_icans
from cgtvigil.model import ICANSAssessment

BASE = {
    "time": datetime(2026, 1, 5, 9),
    "ice_score": 8,
    "consciousness": "alert",
    "seizure": "none",
    "motor_weakness": False,
    "focal_oedema": False,
    "diffuse_oedema_or_icp_signs": False,
}


def test_tremor_is_recorded_and_does_not_change_the_grade() -> None:
    without = grade_icans(ICANSAssessment(**BASE))
    with_tremor = grade_icans(ICANSAssessment(**BASE, tremor=True, myoclonus=True))
    assert without.grade == with_tremor.grade == 1  # ICE 7-9
    assert with_tremor.inputs["tremor"] is True
    text = with_tremor.explain()
    assert "tremor recorded: graded with CTCAE, it does not change the ICANS grade" in text
    assert "myoclonus recorded" in text
