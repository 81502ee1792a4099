"""Human-readable and regulatory outputs (L4)."""

from cgtvigil.reports._signal_report import render_signal_report, write_signal_report

__all__ = ["render_signal_report", "write_signal_report"]
