"""The two records every case reader returns (formats.md C1, C7): a report loaded into the
canonical case with its provenance, or one that was not loaded, with its reason code, where the
problem is, a message and the raw input."""

from __future__ import annotations

from dataclasses import dataclass

from cgtvigil.model import IcsrCase

__all__ = ["LoadedReport", "QuarantinedReport"]


@dataclass(frozen=True)
class LoadedReport:
    """A report loaded into the canonical model, with its provenance (C7): file, its SHA-256,
    where in it (XPath or JSON path), the reader's version and its warnings."""

    case: IcsrCase
    file: str
    sha256: str
    xpath: str
    importer: str
    warnings: tuple[str, ...] = ()


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
