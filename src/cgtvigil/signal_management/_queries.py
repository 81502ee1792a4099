"""Query services of the signal workflow: the list of signals in scope and one signal with its
timeline, evidence and decisions. They take a :class:`cgtvigil.store.Scope` (applied in SQL by
:func:`cgtvigil.store.signal_condition`) and return typed view models that the pages, the
JSON API and the CLI all show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import ValidationError
from cgtvigil.signal_management._states import MEANINGS, OPEN_STATES, OUTCOMES, STATE_LABELS, STATES, allowed_next
from cgtvigil.signal_management._workflow import find_signal
from cgtvigil.store import (
    PatientRow,
    Scope,
    SignalEventRow,
    SignalEvidenceRow,
    SignalRecordRow,
    SignalShareRow,
    patient_condition,
    signal_condition,
    utc_naive,
)

__all__ = ["EvidenceView", "SignalDetail", "SignalEventView", "SignalSummary", "list_signals", "signal_detail"]

MAX_LIST = 2000


class SignalSummary(BaseModel):
    id: int
    title: str
    product_id: str
    event_type: str
    event: str
    source_kind: str
    source_ref: str
    state: str
    state_label: str
    outcome: str | None = None
    priority: str = ""
    owner: str
    created_at: datetime
    state_since: datetime
    due_at: datetime | None = Field(None, description="when the current state is due to end (UTC)")
    overdue: bool = False
    timelines_version: str
    flag: str = Field("", description="what the last re-screen changed, until the next signed step")
    risk_ref: str = Field("", description="the risk of the register the signal opened or changed")


class SignalEventView(BaseModel):
    kind: str
    at: datetime
    by: str
    from_state: str | None = None
    to_state: str | None = None
    outcome: str | None = None
    rationale: str = ""
    meaning: str = Field("", description="the meaning of the electronic signature; empty: not signed")
    audit_id: int | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class EvidenceView(BaseModel):
    id: int
    kind: str
    title: str
    reference: str
    added_at: datetime
    added_by: str
    spec_hash: str = ""
    snapshot: str = ""
    sha256: str = ""
    current: bool = True
    withheld: bool = Field(False, description="patient-level content withheld outside the reader's scope")
    payload: dict[str, Any] = Field(default_factory=dict)


class SignalDetail(SignalSummary):
    events: list[SignalEventView]
    evidence: list[EvidenceView]
    next_states: list[str] = Field(description="where the reader may move it (empty: read-only)")
    outcomes: list[str] = list(OUTCOMES)
    meanings: list[str] = list(MEANINGS)
    shared_with: list[str] = Field(description="reviewers it is shared with (for the sponsor; empty for a reviewer)")
    can_write: bool
    timelines_verified: bool = False


def _summary(row: SignalRecordRow, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "product_id": row.product_id,
        "event_type": row.event_type,
        "event": row.event,
        "source_kind": row.source_kind,
        "source_ref": row.source_ref,
        "state": row.state,
        "state_label": STATE_LABELS[row.state],
        "outcome": row.outcome,
        "priority": row.priority,
        "owner": row.owner,
        "created_at": row.created_at,
        "state_since": row.state_since,
        "due_at": row.due_at,
        "overdue": row.due_at is not None and row.due_at < utc_naive(now),
        "timelines_version": row.timelines_version,
        "flag": row.flag,
        "risk_ref": row.risk_ref,
    }


def list_signals(
    session: Session,
    scope: Scope,
    now: datetime,
    *,
    state: str = "open",
    product: str = "",
) -> list[SignalSummary]:
    """The signals in scope, due first: ``state`` "open", "closed", "all" or one state."""
    if state not in ("open", "all", *STATES):
        raise ValidationError([f"state: expected open, all or one of {', '.join(STATES)}; got {state!r}"])
    query = select(SignalRecordRow).where(signal_condition(scope))
    if state == "open":
        query = query.where(SignalRecordRow.state.in_(OPEN_STATES))
    elif state != "all":
        query = query.where(SignalRecordRow.state == state)
    if product:
        query = query.where(SignalRecordRow.product_id == product)
    rows = session.scalars(query.order_by(SignalRecordRow.id.desc()).limit(MAX_LIST)).all()
    found = [SignalSummary(**_summary(r, now)) for r in rows]
    return sorted(found, key=lambda s: (s.due_at is None, s.due_at or datetime.max, -s.id))


def _patients_named(payload: dict[str, object]) -> list[str]:
    """The registry patient ids a patient-level evidence item names (an alert's patient, a
    hand-picked registry case series)."""
    if isinstance(payload.get("patient_id"), str):
        return [str(payload["patient_id"])]
    cases = payload.get("cases")
    return [str(c) for c in cases] if isinstance(cases, list) else []


def _all_in_scope(session: Session, scope: Scope, patients: list[str]) -> bool:
    """Whether the reader may see every one of ``patients`` (consent included): patient-level
    evidence is shown whole or not at all, never with another sponsor's or a withdrawn patient."""
    if scope.all_patients:
        return True
    if not patients or not scope.patient_level:
        return False
    wanted = set(patients)
    seen = set(
        session.scalars(select(PatientRow.id).where(PatientRow.id.in_(wanted), patient_condition(scope, PatientRow.id)))
    )
    return seen == wanted


def signal_detail(
    session: Session, scope: Scope, signal_id: int, now: datetime, verified: bool = False
) -> SignalDetail:
    """One signal with its timeline, evidence (patient ids withheld from a reader without
    patient-level scope) and what the reader may do next. ``verified``: whether the
    deployment's timelines are confirmed (shown beside the due date)."""
    row = find_signal(session, scope, signal_id)
    can_write = scope.signal_writes and (scope.all_signals or row.product_id in scope.signal_products)
    evidence = []
    for e in session.scalars(
        select(SignalEvidenceRow).where(SignalEvidenceRow.signal_id == row.id).order_by(SignalEvidenceRow.id)
    ):
        withheld = e.patient_level and not _all_in_scope(session, scope, _patients_named(e.payload))
        evidence.append(
            EvidenceView(
                id=e.id,
                kind=e.kind,
                title=e.title,
                reference=e.reference,
                added_at=e.added_at,
                added_by=e.added_by,
                spec_hash=e.spec_hash,
                snapshot=e.snapshot,
                sha256=e.sha256,
                current=e.current,
                withheld=withheld,
                payload={} if withheld else e.payload,
            )
        )
    shared = (
        sorted(
            session.scalars(
                select(SignalShareRow.reviewer).where(
                    SignalShareRow.signal_id == row.id, SignalShareRow.revoked_at.is_(None)
                )
            )
        )
        if can_write
        else []
    )
    return SignalDetail(
        **_summary(row, now),
        events=[
            SignalEventView(
                kind=e.kind,
                at=e.at,
                by=e.by,
                from_state=e.from_state,
                to_state=e.to_state,
                outcome=e.outcome,
                rationale=e.rationale,
                meaning=e.meaning,
                audit_id=e.audit_id,
                detail=e.detail if can_write or e.kind not in ("share", "unshare") else {},
            )
            for e in session.scalars(
                select(SignalEventRow).where(SignalEventRow.signal_id == row.id).order_by(SignalEventRow.id)
            )
        ],
        evidence=evidence,
        next_states=list(allowed_next(row.state)) if can_write else [],
        shared_with=shared,
        can_write=can_write,
        timelines_verified=verified,
    )
