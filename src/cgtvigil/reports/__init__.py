"""Human-readable and regulatory outputs (L4)."""

from cgtvigil.reports._e2b import AckOutcome, lost_elements, validate_e2b, write_ack, write_e2b, write_e2b_file
from cgtvigil.reports._e2b_rules import FDA_RULE_IDS, RuleViolation, check_fda_rules
from cgtvigil.reports._fhir import FhirExport, write_fhir_adverse_events
from cgtvigil.reports._forecast_report import forecast_charts, render_forecast_report
from cgtvigil.reports._periodic import (
    CaseEvent,
    InputRef,
    PeriodicSpec,
    SignalLine,
    TabulationRow,
    case_store_events,
    collect_events,
    faers_events,
    tabulate,
)
from cgtvigil.reports._periodic_documents import (
    Dossier,
    PeriodicReport,
    RegisterInForce,
    build_dossier,
    build_periodic,
    render_dossier_html,
    render_pdf,
    render_periodic_html,
)
from cgtvigil.reports._signal_report import render_signal_report, write_signal_report

__all__ = [
    "FDA_RULE_IDS",
    "AckOutcome",
    "CaseEvent",
    "Dossier",
    "FhirExport",
    "InputRef",
    "PeriodicReport",
    "PeriodicSpec",
    "RegisterInForce",
    "RuleViolation",
    "SignalLine",
    "TabulationRow",
    "build_dossier",
    "build_periodic",
    "case_store_events",
    "check_fda_rules",
    "collect_events",
    "faers_events",
    "forecast_charts",
    "lost_elements",
    "render_dossier_html",
    "render_forecast_report",
    "render_pdf",
    "render_periodic_html",
    "render_signal_report",
    "tabulate",
    "validate_e2b",
    "write_ack",
    "write_e2b",
    "write_e2b_file",
    "write_fhir_adverse_events",
    "write_signal_report",
]
