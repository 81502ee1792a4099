"""Re-screening: when a new screen result (another data snapshot, or another spec) is
available, each open signal whose evidence holds a screen row gets that row from the new
screen as new evidence (the old one is kept, marked superseded), and the signal is flagged
with what changed: new cases, a signal rule newly met or no longer met, a change of rank, or
the row gone from the screen. The flag stays until the next signed step."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.errors import NotFoundError, NotInScopeError
from cgtvigil.screening import ScreenCache
from cgtvigil.signal_management._sources import screen_evidence
from cgtvigil.signal_management._states import OPEN_STATES
from cgtvigil.signal_management._workflow import _evidence_row
from cgtvigil.store import Scope, SignalEventRow, SignalEvidenceRow, SignalRecordRow, signal_condition, utc_naive

__all__ = ["RescreenChange", "RescreenReport", "rescreen_signals"]


class RescreenChange(BaseModel):
    signal_id: int
    title: str
    status: str = Field(description="changed | unchanged | gone (no such row in the new screen)")
    new_cases: int = 0
    rules_met: list[str] = Field(default_factory=list, description="signal rules the row newly meets")
    rules_lost: list[str] = Field(default_factory=list, description="signal rules the row no longer meets")
    rank_before: int | None = None
    rank_after: int | None = None
    flag: str = ""


class RescreenReport(BaseModel):
    snapshot: str
    spec_hash: str
    checked: int
    changes: list[RescreenChange]


def _describe(c: RescreenChange) -> str:
    parts = []
    if c.status == "gone":
        return "the row is not in the new screen"
    if c.new_cases:
        parts.append(f"{c.new_cases:+d} cases")
    if c.rules_met:
        parts.append("now meets " + ", ".join(c.rules_met))
    if c.rules_lost:
        parts.append("no longer meets " + ", ".join(c.rules_lost))
    if c.rank_before != c.rank_after:
        parts.append(f"rank {c.rank_before} → {c.rank_after}")
    return "; ".join(parts) or "new snapshot, no change in the row"


def rescreen_signals(session: Session, scope: Scope, cache: ScreenCache, *, at: datetime) -> RescreenReport:
    """Bring the screen-row evidence of every open signal in ``scope`` up to the current
    screen result of ``cache``; the caller commits."""
    if not scope.signal_writes:
        raise NotInScopeError("this account may read signals shared with it, not re-screen them")
    if not scope.screens:
        raise NotInScopeError("the spontaneous-report screens are not in this account's scope")
    if cache.current() is None:
        raise NotFoundError("no screen result is available yet")
    meta = cache.meta
    snapshot, spec_hash = str(meta.get("data", {}).get("snapshot_sha256", "")), str(meta.get("spec_hash", ""))
    writable = signal_condition(scope)
    if not scope.all_signals:  # a sponsor re-screens its own signals, never the ones shared with it
        writable = writable & SignalRecordRow.product_id.in_(sorted(scope.signal_products))
    pairs = session.execute(
        select(SignalRecordRow, SignalEvidenceRow)
        .join(SignalEvidenceRow, SignalEvidenceRow.signal_id == SignalRecordRow.id)
        .where(
            writable,
            SignalRecordRow.state.in_(OPEN_STATES),
            SignalEvidenceRow.kind == "screen_row",
            SignalEvidenceRow.current.is_(True),
        )
        .order_by(SignalRecordRow.id, SignalEvidenceRow.id)
    ).all()
    changes: list[RescreenChange] = []
    for signal, old in pairs:
        if old.snapshot == snapshot and old.spec_hash == spec_hash:
            continue  # this screen is the one the evidence came from
        before = old.payload
        try:
            new = screen_evidence(cache, scope, before["drug"], before["event_type"], before["event"])
        except NotFoundError:
            change = RescreenChange(
                signal_id=signal.id, title=signal.title, status="gone", rank_before=before.get("rank")
            )
        else:
            after = new.payload
            old_rules, new_rules = set(before.get("rules", [])), set(after.get("rules", []))
            change = RescreenChange(
                signal_id=signal.id,
                title=signal.title,
                status="changed",
                new_cases=int(after["n"]) - int(before.get("n", 0)),
                rules_met=sorted(new_rules - old_rules),
                rules_lost=sorted(old_rules - new_rules),
                rank_before=before.get("rank"),
                rank_after=after.get("rank"),
            )
            if not (
                change.new_cases or change.rules_met or change.rules_lost or change.rank_before != change.rank_after
            ):
                change.status = "unchanged"
            old.current = False
            signal.evidence.append(_evidence_row(signal.id, new, scope.actor, at))
        change.flag = _describe(change)
        if change.status != "unchanged":
            signal.flag = f"re-screen {utc_naive(at):%Y-%m-%d}: {change.flag}"[:512]
        entry = append_audit(
            session,
            actor=scope.actor,
            action="signal.rescreen",
            target=f"signal:{signal.id}",
            at=at,
            detail={"snapshot": snapshot, "spec_hash": spec_hash, "status": change.status, "change": change.flag},
        )
        signal.events.append(
            SignalEventRow(
                signal_id=signal.id,
                kind="rescreen",
                at=utc_naive(at),
                by=scope.actor,
                audit_id=entry.id,
                detail=change.model_dump(exclude={"signal_id", "title"}) | {"snapshot": snapshot},
            )
        )
        changes.append(change)
    session.flush()
    return RescreenReport(snapshot=snapshot, spec_hash=spec_hash, checked=len(pairs), changes=changes)
