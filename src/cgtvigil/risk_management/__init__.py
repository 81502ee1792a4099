"""Risk management (issue 15): the risk register, EU RMP measures and US REMS elements, alignment
and effectiveness indicators (L3+).

The signal workflow calls :func:`signal_opens_risk` when a validated signal opens or changes a
risk; the risk change keeps the signal id and the signal keeps :attr:`RiskLink.risk_ref`.
"""

from cgtvigil.risk_management._alignment import Alignment, AlignmentRow, HistoryEntry, MeasureCell, align
from cgtvigil.risk_management._indicators import (
    INDICATORS,
    IndicatorDefinition,
    IndicatorPoint,
    IndicatorSeries,
    compute_indicator,
)
from cgtvigil.risk_management._queries import (
    MeasureIndicators,
    RegisterSummary,
    RegisterView,
    RiskChange,
    VersionSummary,
    register_alignment,
    register_index,
    register_indicators,
    register_view,
)
from cgtvigil.risk_management._register import (
    ETASU_COMPONENTS,
    EtasuComponent,
    EuMeasure,
    IndicatorTarget,
    PvActivity,
    RegisterEvent,
    Risk,
    RiskRegister,
    UsElement,
    document_sha256,
)
from cgtvigil.risk_management._versions import (
    RiskLink,
    StartingRegisters,
    StoredRegister,
    check_register_scope,
    current_register,
    parse_register,
    save_register,
    signal_opens_risk,
    starting_registers,
)

__all__ = [
    "ETASU_COMPONENTS",
    "INDICATORS",
    "Alignment",
    "AlignmentRow",
    "EtasuComponent",
    "EuMeasure",
    "HistoryEntry",
    "IndicatorDefinition",
    "IndicatorPoint",
    "IndicatorSeries",
    "IndicatorTarget",
    "MeasureCell",
    "MeasureIndicators",
    "PvActivity",
    "RegisterEvent",
    "RegisterSummary",
    "RegisterView",
    "Risk",
    "RiskChange",
    "RiskLink",
    "RiskRegister",
    "StartingRegisters",
    "StoredRegister",
    "UsElement",
    "VersionSummary",
    "align",
    "check_register_scope",
    "compute_indicator",
    "current_register",
    "document_sha256",
    "parse_register",
    "register_alignment",
    "register_index",
    "register_indicators",
    "register_view",
    "save_register",
    "signal_opens_risk",
    "starting_registers",
]
