"""Date maths of follow-up schedules: leap days, month ends, partial birth dates, visit states
at the window's edges and local dates across time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cgtvigil.schedules import (
    VisitWindow,
    add_months,
    add_years,
    age_on,
    birth_bounds,
    local_date,
    milestone_date,
    visit_status,
)


def test_leap_day_anniversaries() -> None:
    assert [add_years(date(2024, 2, 29), n) for n in (1, 2, 3, 4, 8)] == [
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
        date(2032, 2, 29),
    ]
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28) and add_months(date(2023, 3, 31), 1) == date(
        2023, 4, 30
    )
    assert add_years(date(2100, 2, 28), -76) == date(2024, 2, 28)  # 2100 is not a leap year


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)), st.integers(0, 30))
def test_anniversary_is_never_late_nor_more_than_a_day_early(d: date, years: int) -> None:
    a = add_years(d, years)
    assert a.year == d.year + years and a.month == d.month and 0 <= d.day - a.day <= 1
    assert age_on(d, "day", a) == years


def test_partial_birth_dates_give_the_earliest_possible_milestone() -> None:
    assert birth_bounds(date(2008, 2, 1), "month") == (date(2008, 2, 1), date(2008, 2, 29))
    assert milestone_date(date(2008, 2, 1), "month", 18) == date(2026, 2, 1)
    assert milestone_date(date(2008, 7, 9), "year", 18) == date(2026, 1, 1)  # stored day ignored for a year date
    assert age_on(date(2008, 1, 1), "year", date(2025, 12, 31)) == 17
    with pytest.raises(ValueError, match="precision"):
        birth_bounds(date(2008, 1, 1), "week")  # type: ignore[arg-type]


def test_visit_states_at_the_edges_of_the_window() -> None:
    w = VisitWindow.around(date(2025, 3, 1), 30, 60)
    assert (w.opens, w.closes) == (date(2025, 1, 30), date(2025, 4, 30))
    assert visit_status(w, None, date(2025, 1, 29)) == "upcoming"
    assert visit_status(w, None, date(2025, 1, 30)) == "open"
    assert visit_status(w, None, date(2025, 3, 1)) == "open"
    assert visit_status(w, None, date(2025, 3, 2)) == "overdue"
    assert visit_status(w, None, date(2025, 4, 30)) == "overdue"
    assert visit_status(w, None, date(2025, 5, 1)) == "missed"
    assert visit_status(w, date(2025, 4, 30), date(2025, 6, 1)) == "done"
    assert visit_status(w, date(2025, 1, 29), date(2025, 6, 1)) == "out_of_window"
    with pytest.raises(ValueError):
        VisitWindow.around(date(2025, 3, 1), -1, 0)


def test_local_dates_across_zones_and_daylight_saving() -> None:
    # 07:30 UTC on 1 March is still 28 February in Los Angeles (UTC-8), already 1 March in Tokyo
    t = datetime(2025, 3, 1, 7, 30, tzinfo=UTC)
    assert local_date(t, "America/Los_Angeles") == date(2025, 2, 28)
    assert local_date(t, "Asia/Tokyo") == date(2025, 3, 1)
    # a visit at 23:30 local time on the night the clocks go forward (Europe, 30 March 2025)
    berlin = datetime(2025, 3, 30, 21, 30, tzinfo=UTC)  # 23:30 CEST
    assert local_date(berlin, "Europe/Berlin") == date(2025, 3, 30)
    assert local_date(berlin - timedelta(hours=1), "Europe/Berlin") == date(2025, 3, 30)
    assert local_date(datetime(2024, 12, 31, 23, 0), "Pacific/Kiritimati") == date(2025, 1, 1)  # naive = UTC
    assert local_date(datetime(2025, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5))), "UTC") == date(2024, 12, 31)
    with pytest.raises(ValueError, match="IANA"):
        local_date(t, "Mars/Olympus_Mons")
