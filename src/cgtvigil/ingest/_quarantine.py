"""The quarantine record every case reader returns (formats.md C1): a report or record that was
not loaded, with its reason code, where the problem is, a message and the raw input."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QuarantinedReport"]


@dataclass(frozen=True)
class QuarantinedReport:
    """A report that was not loaded.

    ``xpath`` names where the problem is: an XPath (E2B, FAERS XML), ``results[i].field``
    (openFDA JSON) or a JSON path (FHIR); ``raw`` holds the report as read."""

    file: str
    xpath: str
    reason: str
    detail: str
    safety_report_id: str | None
    raw: str
    message_id: str | None = None
