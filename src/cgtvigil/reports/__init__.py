"""Human-readable and regulatory outputs (L4)."""

from cgtvigil.reports._e2b import AckOutcome, lost_elements, validate_e2b, write_ack, write_e2b, write_e2b_file
from cgtvigil.reports._e2b_rules import FDA_RULE_IDS, RuleViolation, check_fda_rules
from cgtvigil.reports._fhir import FhirExport, write_fhir_adverse_events
from cgtvigil.reports._forecast_report import forecast_charts, render_forecast_report
from cgtvigil.reports._signal_report import render_signal_report, write_signal_report

__all__ = [
    "FDA_RULE_IDS",
    "AckOutcome",
    "FhirExport",
    "RuleViolation",
    "check_fda_rules",
    "forecast_charts",
    "lost_elements",
    "render_forecast_report",
    "render_signal_report",
    "validate_e2b",
    "write_ack",
    "write_e2b",
    "write_e2b_file",
    "write_fhir_adverse_events",
    "write_signal_report",
]
