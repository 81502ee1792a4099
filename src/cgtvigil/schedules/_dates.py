"""Calendar arithmetic of follow-up schedules: anniversaries that survive leap days, visit
windows and their states, ages and age milestones from partial birth dates, and the local date
of an instant at a site (a visit done at 23:30 in Los Angeles is done on that day there, not on
the next UTC day)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Precision",
    "VisitStatus",
    "VisitWindow",
    "add_months",
    "add_years",
    "age_on",
    "birth_bounds",
    "local_date",
    "milestone_date",
    "visit_status",
]

Precision = Literal["day", "month", "year"]
VisitStatus = Literal["upcoming", "open", "overdue", "done", "out_of_window", "missed"]


def add_months(d: date, months: int) -> date:
    """``d`` moved by ``months`` calendar months, clipped to the month's last day.

    Examples
    --------
    >>> add_months(date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    >>> add_months(date(2024, 8, 31), -6)
    datetime.date(2024, 2, 29)
    """
    index = d.year * 12 + d.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(d.day, last))


def add_years(d: date, years: int) -> date:
    """The anniversary of ``d`` after ``years`` years; 29 February falls on 28 February in
    common years (the day before 1 March, so an anniversary is never late).

    Examples
    --------
    >>> add_years(date(2024, 2, 29), 1)
    datetime.date(2025, 2, 28)
    >>> add_years(date(2024, 2, 29), 4)
    datetime.date(2028, 2, 29)
    """
    return add_months(d, 12 * years)


def birth_bounds(birth: date, precision: Precision) -> tuple[date, date]:
    """The earliest and latest true birth date of a birth date known to ``precision`` (a
    month-precise date is stored as the 1st of its month, a year-precise one as 1 January).

    Examples
    --------
    >>> birth_bounds(date(2010, 6, 1), "month")
    (datetime.date(2010, 6, 1), datetime.date(2010, 6, 30))
    >>> birth_bounds(date(2010, 1, 1), "year")
    (datetime.date(2010, 1, 1), datetime.date(2010, 12, 31))
    """
    if precision == "day":
        return birth, birth
    if precision == "month":
        first = birth.replace(day=1)
        return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])
    if precision == "year":
        return date(birth.year, 1, 1), date(birth.year, 12, 31)
    raise ValueError(f"The 'precision' parameter of birth_bounds must be day, month or year. Got {precision!r}.")


def milestone_date(birth: date, precision: Precision, years: int) -> date:
    """The first day on which the person may be ``years`` old: the anniversary of the earliest
    possible birth date, so that a task for the milestone is never late (with a partial birth
    date it may be early; the caller shows the date as approximate).

    Examples
    --------
    >>> milestone_date(date(2008, 2, 29), "day", 18)
    datetime.date(2026, 2, 28)
    >>> milestone_date(date(2008, 1, 1), "year", 18)
    datetime.date(2026, 1, 1)
    """
    return add_years(birth_bounds(birth, precision)[0], years)


def age_on(birth: date, precision: Precision, on: date) -> int:
    """Completed years on ``on``, counted from the earliest possible birth date (the age the
    person may already have).

    Examples
    --------
    >>> age_on(date(2008, 2, 29), "day", date(2026, 2, 27)), age_on(date(2008, 2, 29), "day", date(2026, 2, 28))
    (17, 18)
    """
    first = birth_bounds(birth, precision)[0]
    years = on.year - first.year
    return years - 1 if add_years(first, years) > on else years


@dataclass(frozen=True)
class VisitWindow:
    """A visit's due date and the window in which it counts as done on time (inclusive)."""

    due: date
    opens: date
    closes: date

    @classmethod
    def around(cls, due: date, before_days: int, after_days: int) -> VisitWindow:
        """The window from ``before_days`` before to ``after_days`` after ``due``.

        Examples
        --------
        >>> VisitWindow.around(date(2025, 3, 1), 30, 60).opens
        datetime.date(2025, 1, 30)
        """
        if before_days < 0 or after_days < 0:
            raise ValueError(f"window days must be >= 0. Got {before_days}, {after_days}.")
        return cls(due, due - timedelta(days=before_days), due + timedelta(days=after_days))

    def contains(self, d: date) -> bool:
        return self.opens <= d <= self.closes


def visit_status(window: VisitWindow, done_on: date | None, today: date) -> VisitStatus:
    """Where a visit stands on ``today``: not yet open, open, past its due date with the window
    still open (overdue), done within or outside its window, or missed (the window closed
    without it).

    Examples
    --------
    >>> w = VisitWindow.around(date(2025, 3, 1), 30, 60)
    >>> [visit_status(w, None, d) for d in (date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 2), date(2025, 5, 1))]
    ['upcoming', 'open', 'overdue', 'missed']
    >>> visit_status(w, date(2025, 6, 1), date(2025, 7, 1))
    'out_of_window'
    """
    if done_on is not None:
        return "done" if window.contains(done_on) else "out_of_window"
    if today < window.opens:
        return "upcoming"
    if today <= window.due:
        return "open"
    if today <= window.closes:
        return "overdue"
    return "missed"


def local_date(t: datetime, timezone: str) -> date:
    """The calendar date of the instant ``t`` (aware; naive is taken as UTC) in the IANA zone
    ``timezone``.

    Examples
    --------
    >>> from datetime import UTC
    >>> local_date(datetime(2025, 3, 2, 7, 30, tzinfo=UTC), "America/Los_Angeles")
    datetime.date(2025, 3, 1)
    """
    from datetime import UTC

    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"The 'timezone' parameter of local_date must be an IANA time zone. Got {timezone!r}."
        ) from exc
    aware = t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return aware.astimezone(zone).date()
