"""ICAHT (EHA/EBMT 2023) on hand-built ANC series: each early grade, each special rule, late
ICAHT and T-ICAHT. Expected grades follow domain.md §2.3's tables and operational rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from cgtvigil.clinical import ICAHTRules, daily_minimum, grade_icaht, grade_t_icaht
from cgtvigil.model import LabResult

D0 = datetime(2026, 3, 1, 10, 0)


def series(anc_per_ul: Callable[[int], float], days: range = range(0, 101), analyte: str = "anc") -> list[LabResult]:
    unit = "cells/uL" if analyte == "anc" else "10^9/L"
    return [
        LabResult(analyte=analyte, value=anc_per_ul(d), unit=unit, time=D0 + timedelta(days=d, hours=7)) for d in days
    ]


@pytest.mark.parametrize(
    ("low_days", "depth", "grade"),
    [
        (range(0), 300, 0),  # never <= 500
        (range(5, 10), 300, 1),  # 5 days <= 500
        (range(5, 17), 300, 2),  # 12 days
        (range(5, 25), 300, 3),  # 20 days <= 500
        (range(5, 13), 50, 3),  # 8 days <= 100
        (range(2, 18), 50, 4),  # 16 days <= 100
    ],
)
def test_early_grades(low_days: range, depth: float, grade: int) -> None:
    early, _ = grade_icaht(series(lambda d: depth if d in low_days else 2500), D0)
    assert early.grade == grade
    assert early.inputs["longest_run_le500_days"] == len(low_days)


def test_non_stable_recovery_joins_runs() -> None:
    """<=500 on days 4-9 and 12-18, above on 10-11 only (2 days < 3): one run of 15 days -> 3."""
    low = set(range(4, 10)) | set(range(12, 19))
    early, _ = grade_icaht(series(lambda d: 300 if d in low else 2500), D0)
    assert early.inputs["longest_run_le500_days"] == 15 and early.grade == 3
    stable = set(range(4, 10)) | set(range(13, 19))  # 3 days above: separate runs of 6 -> grade 1
    early2, _ = grade_icaht(series(lambda d: 300 if d in stable else 2500), D0)
    assert early2.inputs["longest_run_le500_days"] == 6 and early2.grade == 1


def test_several_values_per_day_use_the_lowest() -> None:
    s = series(lambda d: 2500)
    s += [LabResult(analyte="anc", value=400, unit="cells/uL", time=D0 + timedelta(days=d, hours=20)) for d in (6, 7)]
    early, _ = grade_icaht(s, D0)
    assert early.grade == 1 and early.inputs["longest_run_le500_days"] == 2
    assert daily_minimum(s, "anc", D0)[6] == 0.4


def test_never_recovers_and_death() -> None:
    never, _ = grade_icaht(series(lambda d: 300 if d >= 2 else 2500, range(0, 25)), D0, censor=D0 + timedelta(days=24))
    assert never.grade == 4 and "without recovery" in never.driver
    late_death, _ = grade_icaht(
        series(lambda d: 300 if d >= 12 else 2500, range(0, 22)), D0, censor=D0 + timedelta(days=21)
    )
    assert late_death.grade == 2 and "censored" in late_death.notes[0]  # 10 days observed, started after day 3


def test_incomplete_follow_up_is_a_lower_bound() -> None:
    r, late = grade_icaht(series(lambda d: 300 if 3 <= d <= 6 else 2500, range(0, 12)), D0)
    assert r.grade is None and r.category == "at least grade 1" and r.missing == ("ANC values on days 12-30",)
    assert late.grade is None


def test_interpolation_is_configurable() -> None:
    """<=500 on days 5-10 and 16-20; in between only days 11 and 15 are measured (2000/uL).
    Interpolating the 3-day gap gives a stable 5-day recovery: two runs, the longest 6 days ->
    grade 1. Without interpolation days 12-14 are unknown: taken as recovered the longest run
    is 6 days (grade 1), taken as neutropenic the runs join into days 5-20 (16 days, grade 3),
    so the grade is "at least grade 1" with days 12-14 listed, not an assumed grade 3."""
    days = [d for d in range(0, 41) if d not in (12, 13, 14)]
    s = series(lambda d: 300 if 5 <= d <= 10 or 16 <= d <= 20 else 2000, days)
    assert grade_icaht(s, D0)[0].grade == 1
    strict = grade_icaht(s, D0, rules=ICAHTRules(max_gap_days=0))[0]
    assert strict.grade is None and strict.category == "at least grade 1"
    assert strict.inputs["longest_run_le500_days"] == 6 and strict.inputs["longest_run_le500_days_max"] == 16
    assert strict.missing == ("ANC values on days 12-14 (not measured; gaps longer than 0 days are not interpolated)",)


@pytest.mark.parametrize(("nadir", "grade"), [(1600, 0), (1400, 1), (900, 2), (400, 3), (80, 4)])
def test_late_icaht_needs_two_values(nadir: float, grade: int) -> None:
    s = series(lambda d: nadir if d in (45, 60) else 3000)
    _, late = grade_icaht(s, D0)
    assert late.grade == grade
    single = series(lambda d: nadir if d == 45 else 3000)  # a transient single low value
    assert grade_icaht(single, D0)[1].grade == 0


def test_t_icaht() -> None:
    plt = series(lambda d: 15 if 5 <= d <= 8 else 40 if 9 <= d <= 14 else 120, analyte="plt")
    early, late = grade_t_icaht(plt, D0)
    assert early.grade == 3 and early.inputs == {"days_below_50": 10, "days_below_20": 4}
    assert late.grade == 0 and not early.verified
    late_low = series(lambda d: 45 if d in (50, 70) else 150, analyte="plt")
    assert grade_t_icaht(late_low, D0)[1].grade == 2


@pytest.mark.parametrize(
    ("below50", "below20", "grade"),
    [(0, 0, 0), (3, 0, 1), (6, 0, 1), (7, 0, 2), (10, 1, 3), (20, 13, 3), (20, 14, 4)],
)
def test_t_icaht_early_table(below50: int, below20: int, grade: int) -> None:
    """Early T-ICAHT (domain.md §2.3 table): cumulative days <50 (1-6: 1; >=7: 2) and <20
    (1-13: 3; >=14: 4). The days below 20 are also below 50."""

    def plt(d: int) -> float:
        if d < below20:
            return 10
        if d < below50:
            return 35
        return 150

    early, _ = grade_t_icaht(series(plt, range(0, 31), analyte="plt"), D0)
    assert early.grade == grade


@pytest.mark.parametrize(("nadir", "days20", "grade"), [(150, 0, 0), (80, 0, 1), (30, 0, 2), (15, 5, 3), (15, 14, 4)])
def test_t_icaht_late_table(nadir: float, days20: int, grade: int) -> None:
    """Late T-ICAHT: PLT <100: 1; <50: 2; <20 for 1-13 days: 3; <20 for >=14 days: 4."""
    low_days = set(range(40, 40 + max(days20, 2)))
    _, late = grade_t_icaht(series(lambda d: nadir if d in low_days else 150, analyte="plt"), D0)
    assert late.grade == grade
