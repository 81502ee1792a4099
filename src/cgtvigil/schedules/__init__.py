"""Pure date maths of follow-up schedules (issue 12): visit windows, ages and milestones (L1)."""

from cgtvigil.schedules._dates import (
    Precision,
    VisitStatus,
    VisitWindow,
    add_months,
    add_years,
    age_on,
    birth_bounds,
    local_date,
    milestone_date,
    visit_status,
)

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
