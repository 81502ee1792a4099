"""The writes of the signal workflow: create a signal from a draft, advance it from state to
state with an electronic signature, attach evidence, share it with a regulator reviewer, and
link it to a risk of the register. Each takes the writer's :class:`cgtvigil.store.Scope`
(a sponsor writes only its own products' signals; a reviewer never writes) and appends to
the audit trail; the caller commits.

The electronic signature (in the spirit of 21 CFR Part 11 §11.50, §11.70, §11.200): the
signer re-enters their password, checked by the caller's ``check`` (the faces pass
:func:`cgtvigil.access.throttled_check`: one argon2 verification under the log-in throttle,
so that a left-open session cannot be used to guess the password); the transition records
the signer, the time and the meaning of the signature, and the audit entry that records it
(the chained audit trail ties the signature to this record)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.errors import NotFoundError, NotInScopeError, ValidationError
from cgtvigil.signal_management._sources import EvidenceDraft, SignalDraft
from cgtvigil.signal_management._states import MEANINGS, OUTCOMES, STATE_LABELS, Timelines, allowed_next
from cgtvigil.store import (
    MAX_ROW_ID,
    Scope,
    SignalEventRow,
    SignalEvidenceRow,
    SignalRecordRow,
    SignalShareRow,
    UserRow,
    signal_condition,
    utc_naive,
)

__all__ = [
    "PasswordCheck",
    "SignatureRefusedError",
    "advance_signal",
    "attach_evidence",
    "create_signal",
    "find_signal",
    "link_risk",
    "require_writes",
    "share_signal",
]

# (session, user, password, at) -> (correct, seconds to wait): access.throttled_check
PasswordCheck = Callable[..., tuple[bool, int]]
MAX_RATIONALE = 4000


class SignatureRefusedError(ValidationError):
    """The re-entered password did not verify: nothing was signed."""


def find_signal(session: Session, scope: Scope, signal_id: int) -> SignalRecordRow:
    """The signal if it is in ``scope``; NotFoundError otherwise (the same answer for another
    sponsor's signal as for a missing one, so that existence does not leak)."""
    row = (
        session.scalars(select(SignalRecordRow).where(SignalRecordRow.id == signal_id, signal_condition(scope))).first()
        if 0 < signal_id <= MAX_ROW_ID
        else None
    )
    if row is None:
        raise NotFoundError(f"there is no signal {signal_id} in this account's scope")
    return row


def require_writes(scope: Scope, product_id: str) -> None:
    if not scope.signal_writes:
        raise NotInScopeError("this account may read signals shared with it, not create or change them")
    if not scope.all_signals and product_id not in scope.signal_products:
        raise NotInScopeError(f"signals of {product_id!r} belong to another sponsor (not a product of this account)")


def _evidence_row(signal_id: int, e: EvidenceDraft, actor: str, at: datetime) -> SignalEvidenceRow:
    return SignalEvidenceRow(
        signal_id=signal_id,
        kind=e.kind,
        title=e.title,
        reference=e.reference,
        added_at=utc_naive(at),
        added_by=actor,
        spec_hash=e.spec_hash,
        snapshot=e.snapshot,
        sha256=e.sha256,
        patient_level=e.patient_level,
        current=True,
        payload=e.payload,
    )


def _event(
    session: Session, signal: SignalRecordRow, kind: str, actor: str, at: datetime, **fields: object
) -> SignalEventRow:
    row = SignalEventRow(signal_id=signal.id, kind=kind, at=utc_naive(at), by=actor, **fields)
    if "detail" not in fields:
        row.detail = {}
    signal.events.append(row)
    return row


def create_signal(
    session: Session, scope: Scope, draft: SignalDraft, *, at: datetime, timelines: Timelines
) -> SignalRecordRow:
    """Store a detected signal (state ``detection``, due by ``timelines``) with its evidence."""
    require_writes(scope, draft.product_id)
    owner = draft.owner or scope.actor
    if draft.owner and (session.get(UserRow, owner) is None):
        raise ValidationError([f"There is no user named {owner!r} to own the signal."])
    now = utc_naive(at)
    signal = SignalRecordRow(
        title=draft.title,
        product_id=draft.product_id,
        event_type=draft.event_type,
        event=draft.event,
        source_kind=draft.source_kind,
        source_ref=draft.source_ref,
        state="detection",
        outcome=None,
        priority=draft.priority,
        owner=owner,
        created_at=now,
        created_by=scope.actor,
        state_since=now,
        due_at=timelines.due("detection", now),
        timelines_version=timelines.version,
        flag="",
        risk_ref="",
    )
    session.add(signal)
    session.flush()
    for e in draft.evidence:
        signal.evidence.append(_evidence_row(signal.id, e, scope.actor, at))
    entry = append_audit(
        session,
        actor=scope.actor,
        action="signal.create",
        target=f"signal:{signal.id}",
        at=at,
        detail={
            "product": draft.product_id,
            "event": draft.event,
            "source": draft.source_ref,
            "evidence": len(draft.evidence),
            "owner": owner,
        },
    )
    _event(
        session,
        signal,
        "created",
        scope.actor,
        at,
        to_state="detection",
        audit_id=entry.id,
        detail={"source_kind": draft.source_kind, "source_ref": draft.source_ref},
    )
    session.flush()
    return signal


def _sign(
    session: Session,
    scope: Scope,
    signal: SignalRecordRow,
    password: str,
    meaning: str,
    at: datetime,
    check: PasswordCheck,
    client: str,
) -> None:
    """Verify the signer's re-entered password; on refusal the refusal (and the throttle
    count) is committed and SignatureRefusedError raised."""
    user = session.get(UserRow, scope.actor)
    if user is None or not user.active:
        raise NotInScopeError("only an active user account can sign")
    correct, wait = check(session, user, password, at, client=client)
    if correct:
        return
    append_audit(
        session,
        actor=scope.actor,
        action="signal.sign",
        target=f"signal:{signal.id}",
        at=at,
        detail={"outcome": "throttled" if wait else "wrong password", "meaning": meaning},
    )
    session.commit()
    if wait:
        raise SignatureRefusedError([f"Too many failed password checks: wait {wait} s and sign again."])
    raise SignatureRefusedError(["The password is wrong: the signature is refused and nothing was changed."])


def advance_signal(
    session: Session,
    scope: Scope,
    signal_id: int,
    *,
    to: str,
    rationale: str,
    meaning: str,
    password: str,
    at: datetime,
    check: PasswordCheck,
    timelines: Timelines,
    outcome: str | None = None,
    priority: str | None = None,
    owner: str | None = None,
    client: str = "",
) -> SignalRecordRow:
    """Move a signal to ``to`` (one of :func:`allowed_next`), signed by the scope's user.

    Closing needs an outcome (``refuted``, ``monitored``, ``confirmed_risk``); every
    transition needs a rationale and the meaning of the signature. The due date of the new
    state comes from ``timelines``; a re-screen flag is cleared (the signer has seen it)."""
    signal = find_signal(session, scope, signal_id)
    require_writes(scope, signal.product_id)
    problems: list[str] = []
    if to not in allowed_next(signal.state):
        problems.append(
            f"A signal in {STATE_LABELS[signal.state].lower()} moves to one of "
            f"{', '.join(allowed_next(signal.state))}; got {to!r}."
        )
    if meaning not in MEANINGS:
        problems.append(f"The meaning of the signature must be one of {', '.join(MEANINGS)}; got {meaning!r}.")
    if not rationale.strip():
        problems.append("A transition needs its rationale (why, on which evidence).")
    if len(rationale) > MAX_RATIONALE:
        problems.append(f"The rationale has at most {MAX_RATIONALE} characters; got {len(rationale)}.")
    if to == "closed" and outcome not in OUTCOMES:
        problems.append(f"Closing a signal needs its outcome, one of {', '.join(OUTCOMES)}; got {outcome!r}.")
    if to != "closed" and outcome is not None:
        problems.append("Only the closing decision has an outcome; leave it out.")
    if priority is not None and priority not in ("", "low", "medium", "high"):
        problems.append(f"The priority is one of low, medium, high; got {priority!r}.")
    if owner and session.get(UserRow, owner) is None:
        problems.append(f"There is no user named {owner!r} to own the signal.")
    if problems:
        raise ValidationError(problems)
    _sign(session, scope, signal, password, meaning, at, check, client)
    before = signal.state
    now = utc_naive(at)
    record = {
        "signal": signal.id,
        "from": before,
        "to": to,
        "outcome": outcome,
        "rationale": rationale,
        "signer": scope.actor,
        "meaning": meaning,
        "at": now.isoformat(),
    }
    entry = append_audit(
        session,
        actor=scope.actor,
        action="signal.advance",
        target=f"signal:{signal.id}",
        at=at,
        detail={
            "from": before,
            "to": to,
            "outcome": outcome or "",
            "signature": {"signer": scope.actor, "meaning": meaning, "method": "password re-entered"},
            "record_sha256": hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest(),
        },
    )
    signal.state, signal.state_since = to, now
    signal.outcome = outcome if to == "closed" else None
    signal.due_at = timelines.due(to, now)
    signal.timelines_version = timelines.version
    signal.flag = ""
    if priority is not None:
        signal.priority = priority
    if owner:
        signal.owner = owner
    _event(
        session,
        signal,
        "transition",
        scope.actor,
        at,
        from_state=before,
        to_state=to,
        outcome=outcome,
        rationale=rationale,
        meaning=meaning,
        audit_id=entry.id,
        detail={k: v for k, v in (("priority", priority), ("owner", owner)) if v},
    )
    session.flush()
    return signal


def attach_evidence(
    session: Session, scope: Scope, signal_id: int, evidence: EvidenceDraft, *, at: datetime
) -> SignalEvidenceRow:
    """Add one piece of evidence to an open or closed signal."""
    signal = find_signal(session, scope, signal_id)
    require_writes(scope, signal.product_id)
    row = _evidence_row(signal.id, evidence, scope.actor, at)
    signal.evidence.append(row)
    session.flush()
    entry = append_audit(
        session,
        actor=scope.actor,
        action="signal.evidence",
        target=f"signal:{signal.id}",
        at=at,
        detail={"kind": evidence.kind, "title": evidence.title, "reference": evidence.reference, "id": row.id},
    )
    _event(
        session, signal, "evidence", scope.actor, at, audit_id=entry.id, detail={"evidence": row.id, "kind": row.kind}
    )
    session.flush()
    return row


def share_signal(
    session: Session, scope: Scope, signal_id: int, reviewer: str, *, at: datetime, revoke: bool = False
) -> SignalRecordRow:
    """Share a signal with a regulator reviewer (who then sees it, read-only), or end that."""
    signal = find_signal(session, scope, signal_id)
    require_writes(scope, signal.product_id)
    user = session.get(UserRow, reviewer) if len(reviewer) <= 64 else None
    if user is None or not user.active or user.role != "regulator_reviewer":
        raise ValidationError([f"There is no active regulator reviewer named {reviewer!r}."])
    now = utc_naive(at)
    row = session.get(SignalShareRow, (signal.id, reviewer))
    if revoke:
        if row is None or row.revoked_at is not None:
            raise ValidationError([f"Signal {signal.id} is not shared with {reviewer!r}."])
        row.revoked_at = now
    elif row is None:
        session.add(SignalShareRow(signal_id=signal.id, reviewer=reviewer, shared_at=now, shared_by=scope.actor))
    elif row.revoked_at is None:
        raise ValidationError([f"Signal {signal.id} is shared with {reviewer!r} already."])
    else:
        row.shared_at, row.shared_by, row.revoked_at = now, scope.actor, None
    action = "signal.unshare" if revoke else "signal.share"
    entry = append_audit(
        session, actor=scope.actor, action=action, target=f"signal:{signal.id}", at=at, detail={"reviewer": reviewer}
    )
    _event(
        session,
        signal,
        "unshare" if revoke else "share",
        scope.actor,
        at,
        audit_id=entry.id,
        detail={"reviewer": reviewer},
    )
    session.flush()
    return signal


def link_risk(
    session: Session, scope: Scope, signal_id: int, risk_ref: str, *, at: datetime, kind: str = "linked"
) -> SignalRecordRow:
    """Record the risk of the register that the signal opened or changed (``risk_ref``, the
    register's reference of the risk; ``kind`` opened, changed, unchanged or linked). The
    register keeps the signal's id on its side (:func:`open_risk` does both)."""
    signal = find_signal(session, scope, signal_id)
    require_writes(scope, signal.product_id)
    if not risk_ref.strip() or len(risk_ref) > 128:
        raise ValidationError([f"A risk reference has 1 to 128 characters; got {len(risk_ref.strip())}."])
    signal.risk_ref = risk_ref.strip()
    entry = append_audit(
        session,
        actor=scope.actor,
        action="signal.risk",
        target=f"signal:{signal.id}",
        at=at,
        detail={"risk": signal.risk_ref, "kind": kind},
    )
    _event(session, signal, "risk", scope.actor, at, audit_id=entry.id, detail={"risk": signal.risk_ref, "kind": kind})
    session.flush()
    return signal
