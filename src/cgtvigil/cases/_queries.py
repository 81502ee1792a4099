"""Query services of the case area (issue 13): the case list with the reporting clock (due,
overdue, submitted), and one case with all its sections, assessment, versions, submissions
with their acknowledgements and duplicate candidates. They take a :class:`cgtvigil.store.Scope`
and return typed view models for the pages and the JSON API alike.

Who sees an ICSR is decided by :func:`cgtvigil.store.case_visible`: administrators every case;
a sponsor's safety scientist the cases whose suspect drugs include the sponsor's products; a
regulator reviewer the cases of public sources (openFDA, FAERS XML) and those submitted to a
regulator; site investigators and patients none (their patients are in the registry pages).
Every read is patient-level (pseudonymous ICSRs) and is audited."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.cases._assess import CaseAssessment, Reference, assess_case
from cgtvigil.cases._clock import ClockStatus, ReportingClock, Submission, reporting_clock
from cgtvigil.cases._submissions import submissions_by_case
from cgtvigil.errors import NotFoundError, NotInScopeError
from cgtvigil.model import CaseHistory, IcsrCase
from cgtvigil.store import CaseMatchRow, CaseStore, Scope, case_visible

__all__ = [
    "CaseDetail",
    "CaseList",
    "CaseListRow",
    "DuplicateRow",
    "VersionRow",
    "case_detail",
    "case_list",
]

StatusFilter = Literal["", "due", "overdue", "submitted", "not expedited", "incomplete"]


class CaseListRow(BaseModel):
    case_id: str
    safety_report_id: str
    source: str
    products: list[str]
    first_event: str
    serious: bool
    unexpected_serious: bool
    clock: ReportingClock


class CaseList(BaseModel):
    today: date
    total: int = Field(description="cases in scope matching the filter")
    counts: dict[str, int] = Field(description="cases in scope by clock status")
    rows: list[CaseListRow]
    reference_versions: dict[str, str]


class VersionRow(BaseModel):
    safety_report_id: str
    received: str | None
    kind: str
    status: str
    source: str
    file: str
    xpath: str
    importer: str
    loaded_at: datetime | None


class DuplicateRow(BaseModel):
    id: int
    other_case: str
    other_source: str
    method: str
    score: float
    fields: dict[str, Any]
    status: str
    decided_by: str | None


class CaseDetail(BaseModel):
    case_id: str
    source: str
    case: IcsrCase
    assessment: CaseAssessment
    clock: ReportingClock
    versions: list[VersionRow]
    submissions: list[Submission]
    duplicates: list[DuplicateRow]


def _require(scope: Scope) -> None:
    if scope.cases is None and not scope.public_cases:
        raise NotInScopeError("individual case safety reports are not in this account's scope")


def _visible(
    db: Path, scope: Scope, reference: Reference, submitted: dict[str, list[Submission]]
) -> list[tuple[str, IcsrCase, CaseAssessment, CaseHistory]]:
    """(source, current version, its assessment, the case's history) of each case in scope."""
    if not Path(db).exists():
        return []
    with CaseStore(db, read_only=True) as store:
        rows = store.current_with_source()
        histories = store.histories()
    out = []
    for source, case in rows:
        a = assess_case(case, reference)
        if case_visible(scope, set(a.products), source, bool(submitted.get(case.case_id))):
            out.append((source, case, a, histories[case.case_id]))
    return out


def case_list(
    db: Path,
    session: Session,
    scope: Scope,
    reference: Reference,
    *,
    today: date,
    now: datetime,
    status: StatusFilter = "",
    page: int = 1,
    page_size: int = 100,
) -> CaseList:
    """The current cases in scope with their reporting clock, overdue first, then by due date."""
    _require(scope)
    submitted = submissions_by_case(session)
    rows = []
    for source, case, a, history in _visible(db, scope, reference, submitted):
        clock = reporting_clock(history, a, submitted.get(case.case_id, []), today)
        rows.append(
            CaseListRow(
                case_id=case.case_id,
                safety_report_id=case.safety_report_id,
                source=source,
                products=a.products,
                first_event=a.reactions[0].term if a.reactions else "",
                serious=a.serious,
                unexpected_serious=a.unexpected_serious,
                clock=clock,
            )
        )
    order: dict[ClockStatus, int] = {
        "overdue": 0,
        "due": 1,
        "incomplete": 2,
        "submitted": 3,
        "not expedited": 4,
        "nullified": 5,
    }
    rows.sort(key=lambda r: (order[r.clock.status], r.clock.due or date.max, r.case_id))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.clock.status] = counts.get(r.clock.status, 0) + 1
    chosen = [r for r in rows if not status or r.clock.status == status]
    shown = chosen[(page - 1) * page_size : page * page_size]
    append_audit(
        session,
        actor=scope.actor,
        action="cases.list",
        target="icsr",
        at=now,
        detail={"status": status, "rows": len(shown), "page": page},
    )
    session.commit()
    return CaseList(today=today, total=len(chosen), counts=counts, rows=shown, reference_versions=reference.versions())


def case_detail(
    db: Path,
    session: Session,
    scope: Scope,
    reference: Reference,
    case_id: str,
    *,
    today: date,
    now: datetime,
    export: str | None = None,
) -> CaseDetail:
    """One case in scope: every section, assessment, clock, versions, submissions, duplicates.
    Audited as a read, or as an export in the format ``export`` names (a whole ICSR leaving).

    Raises :class:`~cgtvigil.errors.NotFoundError` for a case that does not exist or is not in
    scope (so that existence does not leak)."""
    _require(scope)
    submitted = submissions_by_case(session)
    visible = _visible(db, scope, reference, submitted)
    found = next((v for v in visible if v[1].case_id == case_id), None)
    if found is None:
        raise NotFoundError(f"no case {case_id!r}")
    source, case, a, history = found
    with CaseStore(db, read_only=True) as store:
        versions = store.versions(case_id)
    subs = submitted.get(case_id, [])
    matches = session.scalars(
        select(CaseMatchRow)
        .where(or_(CaseMatchRow.case_a == case_id, CaseMatchRow.case_b == case_id))
        .order_by(CaseMatchRow.score.desc())
    ).all()
    in_scope = {v[1].case_id for v in visible}  # a candidate naming a case outside the scope is not shown
    matches = [m for m in matches if (m.case_b if m.case_a == case_id else m.case_a) in in_scope]
    append_audit(
        session,
        actor=scope.actor,
        action="cases.export" if export else "cases.read",
        target=f"icsr:{case_id}"[:256],
        at=now,
        detail={"format": export} if export else None,
    )
    session.commit()
    return CaseDetail(
        case_id=case_id,
        source=source,
        case=case,
        assessment=a,
        clock=reporting_clock(history, a, subs, today),
        versions=[
            VersionRow(
                safety_report_id=str(v["safety_report_id"]),
                received=v["most_recent"],
                kind=str(v["kind"]),
                status=str(v["status"]),
                source=str(v["source"]),
                file=str(v["file"]),
                xpath=str(v["xpath"]),
                importer=str(v["importer"]),
                loaded_at=v["loaded_at"],
            )
            for v in versions
        ],
        submissions=subs,
        duplicates=[
            DuplicateRow(
                id=m.id,
                other_case=m.case_b if m.case_a == case_id else m.case_a,
                other_source=m.source_b if m.case_a == case_id else m.source_a,
                method=m.method,
                score=m.score,
                fields=m.fields,
                status=m.status,
                decided_by=m.decided_by,
            )
            for m in matches
        ],
    )
