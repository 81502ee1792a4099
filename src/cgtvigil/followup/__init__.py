"""Long-term follow-up (issue 12): plans, visits, forms, the coordinator's work list, the
paediatric-to-adult transition, consent and retention (L3).
"""

from cgtvigil.followup._consent import (
    CONSENT_KINDS,
    SIGNERS,
    consent_states,
    majority_date,
    record_consent,
    refresh_consent_state,
)
from cgtvigil.followup._plans import PlannedVisit, PlanOutcome, plan_patient, planned_visits
from cgtvigil.followup._queries import (
    ElementStatus,
    MalignancyView,
    TaskView,
    Timeline,
    TransferView,
    TransitionStatus,
    VisitView,
    WorkItem,
    Worklist,
    lost_patients,
    timeline,
    transition_status,
    worklist,
)
from cgtvigil.followup._transition import ELEMENTS, Transfer, close_task, transfer_patient, transition_sweep
from cgtvigil.followup._visits import (
    FORM_VERSION,
    TISSUE_STATES,
    RecordedVisit,
    YearlyForm,
    file_pending_cases,
    mark_missed,
    record_tissue_result,
    record_visit,
)

__all__ = [
    "CONSENT_KINDS",
    "ELEMENTS",
    "FORM_VERSION",
    "SIGNERS",
    "TISSUE_STATES",
    "ElementStatus",
    "MalignancyView",
    "PlanOutcome",
    "PlannedVisit",
    "RecordedVisit",
    "TaskView",
    "Timeline",
    "Transfer",
    "TransferView",
    "TransitionStatus",
    "VisitView",
    "WorkItem",
    "Worklist",
    "YearlyForm",
    "close_task",
    "consent_states",
    "file_pending_cases",
    "lost_patients",
    "majority_date",
    "mark_missed",
    "plan_patient",
    "planned_visits",
    "record_consent",
    "record_tissue_result",
    "record_visit",
    "refresh_consent_state",
    "timeline",
    "transfer_patient",
    "transition_status",
    "transition_sweep",
    "worklist",
]
