"""Time plausibility checks shared by the grading functions: no time in the future, none
before the patient's birth."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from cgtvigil._validation import Problems

__all__ = ["check_time"]

_SLACK = timedelta(minutes=5)  # clock skew between devices


def check_time(t: datetime, problems: Problems, where: str, *, now: datetime | None, birth: date | None = None) -> None:
    """Record a time in the future (``now`` given) or before ``birth`` in ``problems``."""
    if now is not None:
        reference = now
        if (t.tzinfo is None) != (now.tzinfo is None):
            reference = now.replace(tzinfo=None) if t.tzinfo is None else now.replace(tzinfo=UTC)
        if t > reference + _SLACK:
            problems.add(f"{where}: the time {t.isoformat()} is in the future (now is {reference.isoformat()}).")
    if birth is not None and t.date() < birth:
        problems.add(f"{where}: the time {t.isoformat()} is before the date of birth {birth.isoformat()}.")
