"""Early ICAHT against the EHA/EBMT consensus (Rejeski et al., Blood 2023;142(10):865-877,
early ICAHT table: ANC <= 500/uL for 1-6 days grade 1, 7-13 days grade 2, 14-30 days grade 3,
>= 31 days grade 4; ANC <= 100/uL for 7-13 days grade 3, >= 14 days grade 4) with recovery as
in the consensus (CIBMTR: ANC > 500/uL on 3 consecutive days; domain.md §2.3)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from cgtvigil.clinical import grade_icaht
from cgtvigil.model import LabResult

D0 = datetime(2026, 3, 1, 10, 0)


def anc(per_ul: Callable[[int], float], days: Iterable[int]) -> list[LabResult]:
    return [
        LabResult(analyte="anc", value=per_ul(d), unit="cells/uL", time=D0 + timedelta(days=d, hours=7)) for d in days
    ]


def test_recovery_after_day_30_is_checked_past_day_30() -> None:
    """ANC <= 500 on days 1-28 and > 500 from day 29 on: 28 days (14-30) -> grade 3, not 4.
    Recovery (days 29-31) is confirmed on day 31, after the early window."""
    early, _ = grade_icaht(anc(lambda d: 300 if 1 <= d <= 28 else 1500, range(0, 60)), D0)
    assert early.grade == 3 and early.inputs["longest_run_le500_days"] == 28
    cut_at_30, _ = grade_icaht(anc(lambda d: 300 if 1 <= d <= 28 else 1500, range(0, 31)), D0)
    assert cut_at_30.grade is None and cut_at_30.category == "at least grade 3"  # recovery not yet confirmed


def test_a_run_is_measured_to_its_end_after_day_30() -> None:
    """ANC <= 500 on days 5-40 (36 days, recovered from day 41): >= 31 days -> grade 4."""
    early, _ = grade_icaht(anc(lambda d: 300 if 5 <= d <= 40 else 1500, range(0, 60)), D0)
    assert early.grade == 4 and early.inputs["longest_run_le500_days"] == 36


def test_sparse_series_is_censored_not_grade_4() -> None:
    """Values on days 2, 12 and 30 only (gaps > 7 days are not interpolated): neutropenic on
    two measured days, the days in between unknown -> at least grade 1, the unknown days
    listed; never a default grade 4."""
    early, _ = grade_icaht(anc(lambda d: 300 if d < 30 else 1500, [2, 12, 30]), D0)
    assert early.grade is None and early.category == "at least grade 1"
    assert "3-11, 13-29" in early.missing[0]
    dense = anc(lambda d: 300 if d < 30 else 1500, range(0, 40, 3))  # every 3 days: interpolated
    dense_early = grade_icaht(dense, D0)[0]  # day 28 interpolates to 700/uL: days 0-27 neutropenic
    assert dense_early.grade == 3 and dense_early.inputs["longest_run_le500_days"] == 28
