"""Where a signal comes from: drafts of a new signal built from a screen row (with the
screen's spec and data snapshot), a monitoring alert or a sequential-surveillance boundary
(a MaxSPRT alert), a follow-up alert (a generic source reference), or a case series picked by
hand. A draft is only a proposal; :func:`cgtvigil.signal_management.create_signal` stores it."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.model import ProductDictionary, normalise_name
from cgtvigil.screening import SIGNAL_COLUMNS, ScreenCache
from cgtvigil.store import AlertRow, PatientRow, Scope, TreatmentRow, patient_condition

__all__ = [
    "EVIDENCE_KINDS",
    "SOURCE_KINDS",
    "EvidenceDraft",
    "SignalDraft",
    "SignalRequest",
    "alert_draft",
    "case_series_draft",
    "draft_for",
    "followup_draft",
    "screen_evidence",
    "screen_row_draft",
]

SOURCE_KINDS = ("screen", "alert", "sequential", "followup", "case_series")
EVIDENCE_KINDS = ("screen_row", "case_list", "alert", "followup", "literature", "document")
MAX_CASES = 5000


class EvidenceDraft(BaseModel):
    """One piece of evidence to attach (screen row, case list, alert, literature, document)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["screen_row", "case_list", "alert", "followup", "literature", "document"]
    title: str = Field(min_length=1, max_length=256)
    reference: str = Field("", max_length=512, description="DOI, PMID, URL, file name, alert id")
    spec_hash: str = Field("", max_length=64)
    snapshot: str = Field("", max_length=64)
    sha256: str = Field("", max_length=64, pattern=r"^([0-9a-f]{64})?$", description="a document's SHA-256")
    patient_level: bool = False
    payload: dict[str, Any] = Field(default_factory=dict)


class SignalDraft(BaseModel):
    """A proposed signal: its product and event, where it came from, its first evidence."""

    model_config = ConfigDict(frozen=True)

    title: str = Field(min_length=1, max_length=256)
    product_id: str = Field(min_length=1, max_length=128)
    event_type: Literal["pt", "topic", "other"]
    event: str = Field(min_length=1, max_length=256)
    source_kind: Literal["screen", "alert", "sequential", "followup", "case_series"]
    source_ref: str = Field(min_length=1, max_length=256)
    evidence: tuple[EvidenceDraft, ...] = ()
    owner: str = Field("", max_length=64, description="the signal's owner; empty: its creator")
    priority: Literal["", "low", "medium", "high"] = ""


def _require_screens(scope: Scope) -> None:
    if not scope.screens:
        raise NotInScopeError("the spontaneous-report screens are not in this account's scope")


def _product_of(products: ProductDictionary, drug: str) -> str:
    """The dictionary id of a screened drug name (brand, generic or synonym), else the name
    itself: a product outside the dictionary belongs to no sponsor (administrators only)."""
    return products.name_index().get(normalise_name(drug), drug)


def screen_evidence(cache: ScreenCache, scope: Scope, drug: str, event_type: str, event: str) -> EvidenceDraft:
    """The screen row (drug, level, event) of the current screen result as evidence: its
    statistics, the rules it meets, its rank in its level, and the screen's spec and snapshot.

    Raises NotFoundError when there is no screen result or no such row."""
    _require_screens(scope)
    if cache.current() is None:
        raise NotFoundError("no screen result is available yet")
    table = cache.table
    assert table is not None
    level = table.filter(pc.equal(table.column("event_type"), event_type))
    hit = pc.indices_nonzero(pc.and_(pc.equal(level.column("drug"), drug), pc.equal(level.column("event"), event)))
    if len(hit) == 0:
        raise NotFoundError(f"the screen has no row for {drug!r} and {event_type} {event!r}")
    index = hit[0].as_py()
    row = level.slice(index, 1).to_pylist()[0]
    meta = cache.meta
    data = meta.get("data", {})
    payload = {k: row.get(k) for k in SIGNAL_COLUMNS} | {
        "event_label": cache.event_label(event_type, event),
        "rules": cache.rules_met(row),
        "rank": index + 1,  # the result is written in rank order (strongest lower bound first)
        "rows_in_level": level.num_rows,
        "screen_created_at": str(meta.get("created_at", "")),
        "rules_version": str(meta.get("threshold_rules", {}).get("version", "")),
        "quarters": data.get("quarters", []),
        "spec": meta.get("spec", {}),
    }
    snapshot = str(data.get("snapshot_sha256", ""))
    return EvidenceDraft(
        kind="screen_row",
        title=f"{drug} – {cache.event_label(event_type, event)} (n={row['n']}, rank {index + 1})"[:256],
        reference=f"screen:{meta.get('spec_hash', '')[:12]}:{snapshot[:12]}",
        spec_hash=str(meta.get("spec_hash", "")),
        snapshot=snapshot,
        payload=payload,
    )


def screen_row_draft(
    cache: ScreenCache, scope: Scope, products: ProductDictionary, drug: str, event_type: str, event: str
) -> SignalDraft:
    """A signal proposed from one screen row (the row is its first evidence)."""
    evidence = screen_evidence(cache, scope, drug, event_type, event)
    return SignalDraft(
        title=f"{drug} and {evidence.payload['event_label']}"[:256],
        product_id=_product_of(products, drug),
        event_type="topic" if event_type == "topic" else "pt",
        event=event,
        source_kind="screen",
        source_ref=f"screen:{drug}|{event_type}|{event}"[:256],
        evidence=(evidence,),
    )


def alert_draft(session: Session, scope: Scope, alert_id: int, event: str, *, product_id: str = "") -> SignalDraft:
    """A signal proposed from a monitoring alert of a patient in scope, or from a sequential
    surveillance boundary (a MaxSPRT cohort alert, whose products the caller names)."""
    alert = session.scalars(
        select(AlertRow).where(AlertRow.id == alert_id, patient_condition(scope, AlertRow.patient_id))
    ).first()
    if alert is None:
        raise NotFoundError(f"there is no alert {alert_id} in this account's scope")
    sequential = alert.rule.startswith("maxsprt:")
    if not product_id:
        if sequential:
            raise ValidationError([f"Alert {alert_id} is a cohort boundary: name the product of the signal."])
        product_id = (
            session.scalars(
                select(TreatmentRow.product_id)
                .join(PatientRow, PatientRow.id == TreatmentRow.patient_id)
                .where(TreatmentRow.patient_id == alert.patient_id)
                .order_by(TreatmentRow.infusion_date.desc())
            ).first()
            or ""
        )
        if not product_id:
            raise ValidationError([f"The patient of alert {alert_id} has no treatment: name the product."])
    evidence = EvidenceDraft(
        kind="alert",
        title=f"alert {alert.id}: {alert.rule} ({alert.severity})"[:256],
        reference=f"alert:{alert.id}",
        patient_level=not sequential,
        payload={
            "alert_id": alert.id,
            "patient_id": alert.patient_id,
            "rule": alert.rule,
            "severity": alert.severity,
            "status": alert.status,
            "message": alert.message,
            "first_seen": alert.first_seen.isoformat(),
            "rules_version": alert.rules_version,
        },
    )
    return SignalDraft(
        title=f"{product_id} and {event}"[:256],
        product_id=product_id,
        event_type="other",
        event=event,
        source_kind="sequential" if sequential else "alert",
        source_ref=f"alert:{alert.id}",
        evidence=(evidence,),
    )


def followup_draft(product_id: str, event: str, reference: str, title: str, detail: dict[str, Any]) -> SignalDraft:
    """A signal proposed from a follow-up alert (long-term follow-up, transition, consent):
    a generic source reference such as ``followup:<id>`` with what it says."""
    return SignalDraft(
        title=f"{product_id} and {event}"[:256],
        product_id=product_id,
        event_type="other",
        event=event,
        source_kind="followup",
        source_ref=reference,
        evidence=(EvidenceDraft(kind="followup", title=title, reference=reference, payload=detail),),
    )


def case_series_draft(
    session: Session,
    scope: Scope,
    product_id: str,
    event_type: Literal["pt", "topic", "other"],
    event: str,
    cases: list[str],
    *,
    source: Literal["faers", "registry"],
    title: str = "",
) -> SignalDraft:
    """A signal proposed from a case series picked by hand: FAERS case ids, or registry
    patients (each must be in the scope, at patient level)."""
    ids = sorted({c.strip() for c in cases if c.strip()})
    if not ids:
        raise ValidationError(["A case series needs at least one case id."])
    if len(ids) > MAX_CASES:
        raise ValidationError([f"A case series holds at most {MAX_CASES:,} cases; got {len(ids):,}."])
    if source == "registry":
        seen = set(
            session.scalars(
                select(PatientRow.id).where(PatientRow.id.in_(ids), patient_condition(scope, PatientRow.id))
            )
        )
        missing = [c for c in ids if c not in seen]
        if missing:
            raise NotFoundError(f"no patient {', '.join(missing[:10])} in this account's scope")
    else:
        _require_screens(scope)
    evidence = EvidenceDraft(
        kind="case_list",
        title=title or f"{len(ids)} {'FAERS cases' if source == 'faers' else 'registry patients'} picked by hand",
        reference=f"{source}:{len(ids)} cases",
        patient_level=source == "registry",
        payload={"source": source, "cases": ids},
    )
    return SignalDraft(
        title=f"{product_id} and {event}"[:256],
        product_id=product_id,
        event_type=event_type,
        event=event,
        source_kind="case_series",
        source_ref=f"{source}:{ids[0]}{'…' if len(ids) > 1 else ''}"[:256],
        evidence=(evidence,),
    )


class SignalRequest(BaseModel):
    """What a person asks for when opening a signal (the JSON API's body, the page's form,
    the CLI's options): one source and the event, with optional title, owner and priority."""

    source: Literal["screen", "alert", "followup", "case_series"]
    event: str = Field(min_length=1, max_length=256, examples=["CYTOKINE RELEASE SYNDROME"])
    drug: str = Field("", max_length=256, description="screen: the screened drug", examples=["Kymriah"])
    level: Literal["pt", "topic"] = Field("pt", description="screen: the row's level")
    alert_id: int | None = Field(None, description="alert: a monitoring or MaxSPRT alert id")
    product_id: str = Field("", max_length=128, description="needed for cohort alerts, follow-up and case series")
    reference: str = Field("", max_length=256, description="followup: the follow-up alert's reference")
    cases: list[str] = Field(default_factory=list, max_length=MAX_CASES, description="case_series: the case ids")
    case_source: Literal["faers", "registry"] = "faers"
    title: str = Field("", max_length=256)
    owner: str = Field("", max_length=64)
    priority: Literal["", "low", "medium", "high"] = ""


def draft_for(
    session: Session, scope: Scope, cache: ScreenCache, products: ProductDictionary, request: SignalRequest
) -> SignalDraft:
    """The draft of the signal ``request`` asks for (its first evidence read under ``scope``)."""
    problems = []
    if request.source == "screen" and not request.drug:
        problems.append("A signal from a screen row needs the drug.")
    if request.source == "alert" and request.alert_id is None:
        problems.append("A signal from an alert needs the alert id.")
    if request.source in ("followup", "case_series") and not request.product_id:
        problems.append(
            f"A signal from {'a follow-up alert' if request.source == 'followup' else 'a case series'} "
            "needs the product id."
        )
    if request.source == "followup" and not request.reference:
        problems.append("A signal from a follow-up alert needs its reference (e.g. followup:42).")
    if problems:
        raise ValidationError(problems)
    if request.source == "screen":
        draft = screen_row_draft(cache, scope, products, request.drug, request.level, request.event)
    elif request.source == "alert":
        assert request.alert_id is not None
        draft = alert_draft(session, scope, request.alert_id, request.event, product_id=request.product_id)
    elif request.source == "followup":
        draft = followup_draft(
            request.product_id, request.event, request.reference, request.title or request.reference, {}
        )
    else:
        draft = case_series_draft(
            session, scope, request.product_id, "pt", request.event, request.cases, source=request.case_source
        )
    changes = {
        k: v for k, v in (("title", request.title), ("owner", request.owner), ("priority", request.priority)) if v
    }
    return SignalDraft.model_validate(draft.model_dump() | changes) if changes else draft
