"""Submission records: a case version sent to a regulator in an E2B(R3) batch, tied to the
acknowledgement (MCCI_IN200101UV01) received for it; both writes are audited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.cases._clock import Submission
from cgtvigil.ingest import AckMessage
from cgtvigil.model import IcsrCase
from cgtvigil.store import CaseSubmissionRow

__all__ = ["record_ack", "record_submissions", "submissions_by_case"]


def record_submissions(
    session: Session, cases: Sequence[IcsrCase], *, receiver: str, batch_id: str, actor: str, at: datetime
) -> int:
    """Record that ``cases`` (their current versions) were sent in batch ``batch_id``. The caller commits."""
    for c in cases:
        session.add(
            CaseSubmissionRow(
                case_id=c.case_id,
                safety_report_id=c.safety_report_id,
                version=c.most_recent if isinstance(c.most_recent, str) else "",
                receiver=receiver[:64],
                batch_id=batch_id[:128],
                submitted_at=at,
                submitted_by=actor,
            )
        )
    append_audit(
        session,
        actor=actor,
        action="case.submit",
        target=f"batch:{batch_id}",
        at=at,
        detail={"receiver": receiver, "cases": len(cases)},
    )
    return len(cases)


def record_ack(session: Session, ack: AckMessage, *, actor: str, at: datetime) -> tuple[int, list[str]]:
    """Tie an acknowledgement to the submissions of its batch (by batch id and C.1.1).

    Returns the number of submissions updated and the acknowledged report ids that match no
    submission (kept in the audit entry, never dropped). The caller commits."""
    rows = list(session.scalars(select(CaseSubmissionRow).where(CaseSubmissionRow.batch_id == (ack.batch_id or ""))))
    by_report = {r.safety_report_id: r for r in rows}
    updated, unmatched = 0, []
    for rep in ack.reports:
        row = by_report.get(rep.safety_report_id or "")
        if row is None:
            unmatched.append(rep.safety_report_id or rep.message_id or "?")
            continue
        row.ack_code, row.ack_batch_code, row.ack_detail, row.ack_at = rep.code, ack.code, (rep.detail or "")[:2000], at
        updated += 1
    if not ack.reports and ack.code == "AR":  # the whole batch rejected: every report of it
        for row in rows:
            row.ack_code, row.ack_batch_code, row.ack_detail, row.ack_at = "CR", "AR", (ack.detail or "")[:2000], at
            updated += 1
    append_audit(
        session,
        actor=actor,
        action="case.acknowledgement",
        target=f"batch:{ack.batch_id}",
        at=at,
        detail={"code": ack.code, "updated": updated, "unmatched": ",".join(unmatched)[:500]},
    )
    return updated, unmatched


def submissions_by_case(session: Session) -> dict[str, list[Submission]]:
    out: dict[str, list[Submission]] = {}
    for r in session.scalars(select(CaseSubmissionRow).order_by(CaseSubmissionRow.id)):
        out.setdefault(r.case_id, []).append(
            Submission(
                version=r.version,
                receiver=r.receiver,
                batch_id=r.batch_id,
                submitted_at=r.submitted_at,
                ack_code=r.ack_code,
            )
        )
    return out
