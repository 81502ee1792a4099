"""The risk register of one product as a document (domain.md §5.4-5.6): the EU RMP's summary of
safety concerns (part II SVIII: important identified risks, important potential risks, missing
information), its pharmacovigilance activities (part III), its routine and additional
risk-minimisation measures (part V, GVP XVI), the US label and REMS elements (Medication Guide,
Communication Plan, ETASU with their components), each linked to the risks it addresses, and the
regulatory history with dates. Every entry says whether it was confirmed against a source
(``unconfirmed``) and which source (``source``).

A register is data: it round-trips through JSON, and a stored version is this document."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cgtvigil._validation import Problems

__all__ = [
    "ETASU_COMPONENTS",
    "EtasuComponent",
    "EuMeasure",
    "IndicatorTarget",
    "PvActivity",
    "RegisterEvent",
    "Risk",
    "RiskRegister",
    "UsElement",
    "document_sha256",
]

RiskCategory = Literal["important_identified", "important_potential", "missing_information"]
EuTool = Literal[
    "smpc",
    "package_leaflet",
    "labelling",
    "legal_status",
    "patient_alert_card",
    "patient_educational",
    "hcp_educational",
    "dhpc",
    "controlled_access",
    "controlled_distribution",
    "pregnancy_prevention",
]
ROUTINE_TOOLS = frozenset({"smpc", "package_leaflet", "labelling", "legal_status"})
UsKind = Literal[
    "boxed_warning",
    "warnings_precautions",
    "label_monitoring",
    "medication_guide",
    "communication_plan",
    "etasu",
    "implementation_system",
    "assessment_timetable",
    "pmr",
]
REMS_KINDS = frozenset({"etasu", "implementation_system", "assessment_timetable"})  # only in a REMS
ETASU_COMPONENTS = (
    "certified_prescribers",
    "certified_settings",
    "restricted_dispensing",
    "safe_use_documentation",
    "patient_monitoring",
    "patient_registry",
    "training",
)
_KEY = r"^[a-z0-9][a-z0-9_\-]{0,63}$"


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    unconfirmed: bool = Field(True, description="general knowledge, not checked against the label, EPAR or REMS")
    source: str = Field("", max_length=500, description="where the entry comes from (domain.md source id, document)")


class Risk(_Entry):
    """One safety concern of the RMP (part II SVIII)."""

    key: str = Field(pattern=_KEY)
    name: str = Field(min_length=1, max_length=200)
    category: RiskCategory
    topic: str | None = Field(None, description="the cgtvigil safety topic that counts its cases (topics.json)")
    preferred_terms: tuple[str, ...] = Field((), description="MedDRA PT names for a risk without a topic")
    status: Literal["open", "closed"] = "open"
    notes: str = Field("", max_length=2000)


class PvActivity(_Entry):
    """A pharmacovigilance activity of the RMP (part III): routine, or an additional study (PASS)."""

    key: str = Field(pattern=_KEY)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["routine", "additional"]
    category: Literal["", "1", "2", "3"] = Field("", description="PASS category (1-3) of an additional activity")
    risks: tuple[str, ...]


class IndicatorTarget(BaseModel):
    """An effectiveness indicator of a measure (GVP XVI.B.4) and the value it should reach."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    indicator: str = Field(description="a built-in indicator (cgtvigil.risk_management.INDICATORS)")
    target: float
    direction: Literal["at_least", "at_most"] = "at_least"


class EuMeasure(_Entry):
    """A risk-minimisation measure of the RMP (part V; routine or additional, GVP XVI)."""

    key: str = Field(pattern=_KEY)
    name: str = Field(min_length=1, max_length=200)
    tool: EuTool
    risks: tuple[str, ...]
    effective_from: date | None = None
    effective_to: date | None = Field(None, description="the day it ended (None: in force)")
    indicators: tuple[IndicatorTarget, ...] = ()

    @property
    def additional(self) -> bool:
        return self.tool not in ROUTINE_TOOLS


class EtasuComponent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal[
        "certified_prescribers",
        "certified_settings",
        "restricted_dispensing",
        "safe_use_documentation",
        "patient_monitoring",
        "patient_registry",
        "training",
    ]
    description: str = Field(max_length=1000)


class UsElement(_Entry):
    """A US element: a label section (boxed warning, W&P, label monitoring), a REMS element
    (Medication Guide, Communication Plan, ETASU with components, implementation system,
    assessment timetable) or a postmarketing requirement."""

    key: str = Field(pattern=_KEY)
    name: str = Field(min_length=1, max_length=200)
    kind: UsKind
    risks: tuple[str, ...]
    components: tuple[EtasuComponent, ...] = ()
    effective_from: date | None = None
    effective_to: date | None = Field(None, description="the day it ended, e.g. 2025-06-26 for the CAR-T REMS")
    in_rems: bool = Field(False, description="a Medication Guide or Communication Plan required as a REMS element")
    indicators: tuple[IndicatorTarget, ...] = ()

    @property
    def rems(self) -> bool:
        """Whether it is a REMS element (an additional measure, as an EU additional RMM)."""
        return self.kind in REMS_KINDS or (self.in_rems and self.kind in ("medication_guide", "communication_plan"))


class RegisterEvent(_Entry):
    """A dated regulatory event of the product's risk management (approval, REMS release, label change)."""

    date: date
    region: Literal["EU", "US"]
    what: str = Field(min_length=1, max_length=1000)


class RiskRegister(BaseModel):
    """A product's risk register: the document stored as one version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    product_id: str
    risks: tuple[Risk, ...] = ()
    pv_activities: tuple[PvActivity, ...] = ()
    eu_measures: tuple[EuMeasure, ...] = ()
    us_elements: tuple[UsElement, ...] = ()
    history: tuple[RegisterEvent, ...] = ()
    notes: str = Field("", max_length=4000)

    @field_validator("history")
    @classmethod
    def _dated_order(cls, v: tuple[RegisterEvent, ...]) -> tuple[RegisterEvent, ...]:
        return tuple(sorted(v, key=lambda e: (e.date, e.region, e.what)))

    def risk(self, key: str) -> Risk | None:
        return next((r for r in self.risks if r.key == key), None)

    def check(self, indicators: frozenset[str] = frozenset()) -> None:
        """Every key unique, every link to a risk that exists, ETASU components only on an
        ETASU, dates in order, indicators known (when ``indicators`` is given); all problems
        reported together."""
        problems = Problems()
        risk_keys = [r.key for r in self.risks]
        for label, keys in (
            ("risk", risk_keys),
            ("PV activity", [a.key for a in self.pv_activities]),
            ("EU measure", [m.key for m in self.eu_measures]),
            ("US element", [e.key for e in self.us_elements]),
        ):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                problems.add(f"{self.product_id}: the {label} key(s) {', '.join(dupes)} are used more than once.")
        known = set(risk_keys)
        linked: list[tuple[str, str, tuple[str, ...]]] = [
            *(("PV activity", a.key, a.risks) for a in self.pv_activities),
            *(("EU measure", m.key, m.risks) for m in self.eu_measures),
            *(("US element", e.key, e.risks) for e in self.us_elements),
        ]
        for label, key, risks in linked:
            if not risks:
                problems.add(f"{self.product_id}: the {label} {key!r} is linked to no risk.")
            for r in risks:
                if r not in known:
                    problems.add(f"{self.product_id}: the {label} {key!r} names the unknown risk {r!r}.")
        for e in self.us_elements:
            if e.in_rems and e.kind not in ("medication_guide", "communication_plan"):
                problems.add(f"{self.product_id}: 'in_rems' applies to a Medication Guide or Communication Plan only.")
            if e.components and e.kind != "etasu":
                problems.add(f"{self.product_id}: the US element {e.key!r} has ETASU components but is a {e.kind}.")
        measures: list[tuple[str, EuMeasure | UsElement]] = [
            *(("EU measure", m) for m in self.eu_measures),
            *(("US element", e) for e in self.us_elements),
        ]
        for label, item in measures:
            start, end = item.effective_from, item.effective_to
            if start and end and end < start:
                problems.add(f"{self.product_id}: the {label} {item.key!r} ends ({end}) before it starts ({start}).")
            for t in item.indicators:
                if indicators and t.indicator not in indicators:
                    problems.add(
                        f"{self.product_id}: the {label} {item.key!r} names the unknown indicator {t.indicator!r};"
                        f" expected one of {', '.join(sorted(indicators))}."
                    )
        problems.raise_if_any()


def document_sha256(register: RiskRegister) -> str:
    """The SHA-256 of the register's canonical JSON (sorted keys, no spaces).

    Examples
    --------
    >>> len(document_sha256(RiskRegister(product_id="kymriah")))
    64
    """
    body = json.dumps(register.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()
