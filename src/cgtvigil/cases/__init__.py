"""Case processing (L3, issue 13): seriousness and expectedness against the reference safety
information, the expedited reporting clock, submissions with their acknowledgements,
cross-source duplicate candidates, and the query services of the case pages and API."""

from cgtvigil.cases._assess import (
    CRITERIA,
    CaseAssessment,
    ReactionAssessment,
    Reference,
    assess_case,
    suspect_products,
)
from cgtvigil.cases._clock import (
    ClockStatus,
    ReportingClock,
    Submission,
    minimum_criteria_missing,
    reporting_clock,
)
from cgtvigil.cases._duplicates import (
    MatchCandidate,
    MatchRecord,
    decide_match,
    find_matches,
    match_record,
    store_matches,
)
from cgtvigil.cases._queries import (
    CaseDetail,
    CaseList,
    CaseListRow,
    DuplicateRow,
    VersionRow,
    case_detail,
    case_list,
)
from cgtvigil.cases._submissions import record_ack, record_submissions, submissions_by_case

__all__ = [
    "CRITERIA",
    "CaseAssessment",
    "CaseDetail",
    "CaseList",
    "CaseListRow",
    "ClockStatus",
    "DuplicateRow",
    "MatchCandidate",
    "MatchRecord",
    "ReactionAssessment",
    "Reference",
    "ReportingClock",
    "Submission",
    "VersionRow",
    "assess_case",
    "case_detail",
    "case_list",
    "decide_match",
    "find_matches",
    "match_record",
    "minimum_criteria_missing",
    "record_ack",
    "record_submissions",
    "reporting_clock",
    "store_matches",
    "submissions_by_case",
    "suspect_products",
]
