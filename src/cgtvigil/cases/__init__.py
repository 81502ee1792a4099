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
    ClockBasis,
    ClockStatus,
    Deadline,
    DeadlineBasis,
    ReportingClock,
    Submission,
    clock_basis,
    clock_on,
    minimum_criteria_missing,
    reporting_clock,
)
from cgtvigil.cases._clock_rules import ClockRule, ClockRules, FollowUpRule, RuleConditions, load_clock_rules
from cgtvigil.cases._duplicates import (
    MatchCandidate,
    MatchRecord,
    decide_match,
    find_matches,
    match_record,
    store_matches,
)
from cgtvigil.cases._index import IX_FORMAT, CaseIndexerOf, case_indexer
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
    "IX_FORMAT",
    "CaseAssessment",
    "CaseDetail",
    "CaseIndexerOf",
    "CaseList",
    "CaseListRow",
    "ClockBasis",
    "ClockRule",
    "ClockRules",
    "ClockStatus",
    "Deadline",
    "DeadlineBasis",
    "DuplicateRow",
    "FollowUpRule",
    "MatchCandidate",
    "MatchRecord",
    "ReactionAssessment",
    "Reference",
    "ReportingClock",
    "RuleConditions",
    "Submission",
    "VersionRow",
    "assess_case",
    "case_detail",
    "case_indexer",
    "case_list",
    "clock_basis",
    "clock_on",
    "decide_match",
    "find_matches",
    "load_clock_rules",
    "match_record",
    "minimum_criteria_missing",
    "record_ack",
    "record_submissions",
    "reporting_clock",
    "store_matches",
    "submissions_by_case",
    "suspect_products",
]
