"""Signal management (issue 15): signals from detection to decision, evidence, decisions and
electronic signatures (L3+).

GVP Module IX steps as states (detection, validation, confirmation, analysis and
prioritisation, assessment, recommendation, closed with an outcome), due dates from
versioned timelines, every transition signed and audited. A signal belongs to the sponsor of
its product: a safety scientist sees and writes the signals of their sponsor's products
(``sponsor_products``), a regulator reviewer sees only the signals a sponsor shared with them,
an administrator sees all (``cgtvigil.store.signal_condition``).
"""

from cgtvigil.signal_management._as_of import SignalAsOf, end_of_day, signals_as_of
from cgtvigil.signal_management._queries import (
    EvidenceView,
    SignalDetail,
    SignalEventView,
    SignalSummary,
    list_signals,
    signal_detail,
)
from cgtvigil.signal_management._rescreen import RescreenChange, RescreenReport, rescreen_signals
from cgtvigil.signal_management._risk import VALIDATED_STATES, open_risk
from cgtvigil.signal_management._sources import (
    EVIDENCE_KINDS,
    SOURCE_KINDS,
    EvidenceDraft,
    SignalDraft,
    SignalRequest,
    alert_draft,
    case_series_draft,
    draft_for,
    followup_draft,
    screen_evidence,
    screen_row_draft,
)
from cgtvigil.signal_management._states import (
    MEANINGS,
    OPEN_STATES,
    OUTCOMES,
    STATE_LABELS,
    STATES,
    Timelines,
    allowed_next,
    load_timelines,
)
from cgtvigil.signal_management._workflow import (
    PasswordCheck,
    SignatureRefusedError,
    advance_signal,
    attach_evidence,
    create_signal,
    find_signal,
    link_risk,
    share_signal,
)

__all__ = [
    "EVIDENCE_KINDS",
    "MEANINGS",
    "OPEN_STATES",
    "OUTCOMES",
    "SOURCE_KINDS",
    "STATES",
    "STATE_LABELS",
    "VALIDATED_STATES",
    "EvidenceDraft",
    "EvidenceView",
    "PasswordCheck",
    "RescreenChange",
    "RescreenReport",
    "SignalAsOf",
    "SignalDetail",
    "SignalDraft",
    "SignalEventView",
    "SignalRequest",
    "SignalSummary",
    "SignatureRefusedError",
    "Timelines",
    "advance_signal",
    "alert_draft",
    "allowed_next",
    "attach_evidence",
    "case_series_draft",
    "create_signal",
    "draft_for",
    "end_of_day",
    "find_signal",
    "followup_draft",
    "link_risk",
    "list_signals",
    "load_timelines",
    "open_risk",
    "rescreen_signals",
    "screen_evidence",
    "screen_row_draft",
    "share_signal",
    "signal_detail",
    "signals_as_of",
]
