"""The tamper-evident audit trail: every entry carries the digest of its predecessor's digest
and its own content, so editing, deleting or truncating entries breaks the chain. With the
audit key (kept outside the database) the digest is HMAC-SHA256, so a chain recomputed after
an edit does not verify without the key. The head (id, hash, count) can be exported as an
anchor and kept elsewhere; verification against an anchor also detects a truncated tail.
Verification also checks the seals of the security-relevant tables (``_seals``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session, SessionTransaction

from cgtvigil.audit._keys import audit_keyed, digest, request_context, typed_text
from cgtvigil.audit._seals import check_seals
from cgtvigil.errors import BusyError
from cgtvigil.store import AuditRow, utc_naive

__all__ = [
    "GENESIS",
    "AuditAnchor",
    "VerifyReport",
    "append_audit",
    "append_audit_entries",
    "export_anchor",
    "verify_audit",
]

GENESIS = "0" * 64


def _digest(
    prev: str, entry_id: int, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any]
) -> str:
    body = json.dumps(
        [entry_id, at.isoformat(), actor, action, target, detail], sort_keys=True, separators=(",", ":"), default=str
    )
    return digest(prev + body)


_CHAIN = threading.RLock()  # one writer of the chain at a time in this process
_LOCK_SECONDS = 30.0
_PG_LOCK_KEY = 7_301_922  # advisory lock shared by every process writing the chain (PostgreSQL)


def _on_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint or sub-transaction: the outer transaction still holds the chain
    for _ in range(session.info.pop("audit_locks", 0)):
        _CHAIN.release()


def _serialise(session: Session) -> None:
    """Hold the chain from the first append until the caller's transaction ends, so that two
    concurrent transactions cannot both extend the same head. PostgreSQL also takes an
    advisory transaction lock (several server processes); SQLite deployments run one process.

    The session's pending changes are written first, so that a change waiting on a row lock
    does not wait while holding the chain: the row's holder may be waiting for the chain (an
    escalation round that locked its alerts), a cycle PostgreSQL cannot see because the chain's
    lock in this process is not a database lock. Holding the chain, a writer only reads the
    head, inserts its entries and commits."""
    session.flush()
    if not _CHAIN.acquire(timeout=_LOCK_SECONDS):
        raise BusyError(
            f"the audit trail is busy (held by other writers for more than {_LOCK_SECONDS:g} s); "
            "nothing was changed, try again"
        )
    if not session.info.get("audit_listener"):
        event.listen(session, "after_transaction_end", _on_transaction_end)  # commit, rollback or close
        session.info["audit_listener"] = True
    if "audit_locks" not in session.info:
        session.info["audit_locks"] = 0
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    session.info["audit_locks"] += 1


def _safe(value: Any) -> Any:
    if isinstance(value, str):
        return typed_text(value, 512)
    if isinstance(value, dict):
        return {typed_text(k, 64): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


def _head(session: Session) -> tuple[int, str]:
    """The id and digest of the last entry (0 and GENESIS for an empty trail)."""
    last = session.execute(select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).first()
    return (last[0], last[1]) if last else (0, GENESIS)


def _entry_values(
    prev: str, entry_id: int, *, actor: str, action: str, target: str, at: datetime, detail: dict[str, Any] | None
) -> dict[str, Any]:
    """The columns of one entry linked to ``prev``, its text stored safely."""
    when = utc_naive(at)
    actor, action, target = typed_text(actor, 64), typed_text(action, 64), typed_text(target, 256)
    safe = _safe(request_context() | (detail or {}))
    return {
        "id": entry_id,
        "at": when,
        "actor": actor,
        "action": action,
        "target": target,
        "detail": safe,
        "prev_hash": prev,
        "hash": _digest(prev, entry_id, when, actor, action, target, safe),
    }


def append_audit(
    session: Session, *, actor: str, action: str, target: str, at: datetime, detail: dict[str, Any] | None = None
) -> AuditRow:
    """Append one entry (the caller commits it together with the change it records).

    Text is stored safely whatever its origin: actor and action at most 64 characters, the
    target 256, each text in ``detail`` 512, control characters escaped. Within an
    ``audit_context`` the client address and user agent are recorded too."""
    _serialise(session)
    last_id, prev = _head(session)
    row = AuditRow(**_entry_values(prev, last_id + 1, actor=actor, action=action, target=target, at=at, detail=detail))
    session.add(row)
    session.flush()
    return row


def append_audit_entries(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Append several entries (keyword arguments of :func:`append_audit`) with one read of the
    head and one multi-row insert: the chain is held for four round trips (lock, head, insert,
    commit) whatever the number of entries, which is what a group commit needs."""
    if not entries:
        return
    _serialise(session)
    last_id, prev = _head(session)
    rows = []
    for k, entry in enumerate(entries, start=last_id + 1):
        rows.append(_entry_values(prev, k, **entry))
        prev = rows[-1]["hash"]
    session.execute(insert(AuditRow), rows)


@dataclass(frozen=True)
class AuditAnchor:
    head_id: int
    head_hash: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"head_id": self.head_id, "head_hash": self.head_hash, "count": self.count}


def export_anchor(session: Session) -> AuditAnchor:
    last = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(1)).first()
    count = session.scalar(select(func.count()).select_from(AuditRow)) or 0
    return AuditAnchor(last.id if last else 0, last.hash if last else GENESIS, int(count))


@dataclass
class VerifyReport:
    ok: bool
    entries: int
    problems: list[str] = field(default_factory=list)
    keyed: bool = False  # verified with the audit key (HMAC); False: plain SHA-256


def verify_audit(session: Session, anchor: AuditAnchor | None = None) -> VerifyReport:
    """Recompute the chain; report every edited, missing or re-linked entry, against an anchor
    a truncated or rewritten head, and every security-relevant row whose seal does not match."""
    problems: list[str] = []
    prev, expected_id, n = GENESIS, 1, 0
    seen: dict[int, str] = {}
    for row in session.scalars(select(AuditRow).order_by(AuditRow.id)):
        n += 1
        if row.id != expected_id:
            problems.append(f"entries {expected_id}-{row.id - 1} are missing (deleted)")
        if row.prev_hash != prev:
            problems.append(f"entry {row.id}: its link to the previous entry is broken")
        if _digest(row.prev_hash, row.id, row.at, row.actor, row.action, row.target, row.detail) != row.hash:
            problems.append(f"entry {row.id}: its content does not match its hash (edited, or another audit key)")
        prev, expected_id = row.hash, row.id + 1
        seen[row.id] = row.hash
    if anchor is not None:
        if anchor.head_id not in seen:
            problems.append(f"the anchored head entry {anchor.head_id} is missing (truncated)")
        elif seen[anchor.head_id] != anchor.head_hash:
            problems.append(f"the anchored head entry {anchor.head_id} has another hash than the anchor (rewritten)")
        if n < anchor.count:
            problems.append(f"{anchor.count - n} entries fewer than when the anchor was taken")
    problems.extend(check_seals(session))
    return VerifyReport(not problems, n, problems, audit_keyed())
