"""A signal as it stood at a past moment (a periodic report's data lock point), rebuilt from its
timeline: the state a signal is in now says nothing about the state it was in when the data
were locked, and a report made again later must show the same table.

The timeline (``signal_event``) is written with every signed transition and sealed row by row
(``audit verify`` names an edited one); each transition carries the audit entry that records
it. The state at a moment is the ``to_state`` of the last transition up to that moment
(``detection`` before any), its outcome that transition's outcome, its risk the last risk link
up to it. A signal created after the moment did not exist yet and is left out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.signal_management._states import STATE_LABELS
from cgtvigil.store import Scope, SignalEventRow, SignalRecordRow, signal_condition

__all__ = ["SignalAsOf", "end_of_day", "signals_as_of"]


class SignalAsOf(BaseModel):
    """One signal at a moment: what was known of it then."""

    id: int
    title: str
    product_id: str
    event: str
    source_kind: str
    created_at: datetime
    state: str
    state_label: str
    state_since: datetime
    outcome: str | None = None
    closed_at: datetime | None = Field(None, description="when it was closed, if it was closed at the moment")
    risk_ref: str = ""
    transitions: int = Field(description="signed transitions up to the moment")
    audit_ids: list[int] = Field(default_factory=list, description="the audit entries of those transitions")
    current_state: str = Field(description="its state now (for the reader's information; not reported)")


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` (UTC, naive as stored): a data lock point covers its whole
    day (the last day a date can name: every instant)."""
    return datetime.max if day == date.max else datetime.combine(day + timedelta(days=1), time())


def _at(signal: SignalRecordRow, events: list[SignalEventRow], until: datetime) -> SignalAsOf:
    state, since, outcome, closed, risk = "detection", signal.created_at, None, None, ""
    signed = []
    for e in sorted(events, key=lambda e: (e.at, e.id)):
        if e.at >= until:
            break
        if e.kind == "transition" and e.to_state:
            state, since, outcome = e.to_state, e.at, e.outcome if e.to_state == "closed" else None
            closed = e.at if e.to_state == "closed" else None
            signed.append(e)
        elif e.kind == "risk":
            risk = str((e.detail or {}).get("risk", ""))
    return SignalAsOf(
        id=signal.id,
        title=signal.title,
        product_id=signal.product_id,
        event=signal.event,
        source_kind=signal.source_kind,
        created_at=signal.created_at,
        state=state,
        state_label=STATE_LABELS[state],
        state_since=since,
        outcome=outcome,
        closed_at=closed,
        risk_ref=risk,
        transitions=len(signed),
        audit_ids=[e.audit_id for e in signed if e.audit_id is not None],
        current_state=signal.state,
    )


def signals_as_of(
    session: Session,
    scope: Scope,
    products: tuple[str, ...] | list[str],
    until: datetime,
    *,
    closed_since: datetime | None = None,
) -> list[SignalAsOf]:
    """The signals in ``scope`` of ``products`` that existed before ``until`` (naive UTC), each
    as it stood then; with ``closed_since``, those already closed before it are left out (a
    periodic report's interval: open at its start or detected in it)."""
    rows = session.scalars(
        select(SignalRecordRow)
        .where(
            signal_condition(scope),
            SignalRecordRow.product_id.in_(sorted(products)),
            SignalRecordRow.created_at < until,
        )
        .order_by(SignalRecordRow.id)
    ).all()
    events: dict[int, list[SignalEventRow]] = {r.id: [] for r in rows}
    if rows:
        for e in session.scalars(select(SignalEventRow).where(SignalEventRow.signal_id.in_(sorted(events)))):
            events[e.signal_id].append(e)
    out = []
    for r in rows:
        s = _at(r, events[r.id], until)
        if closed_since is not None and s.closed_at is not None and s.closed_at < closed_since:
            continue
        out.append(s)
    return out
