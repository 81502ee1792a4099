"""Query services of the case area (issue 13): the case list with the reporting clock (due,
overdue, submitted), and one case with all its sections, assessment, versions, submissions
with their acknowledgements and duplicate candidates. They take a :class:`cgtvigil.store.Scope`
and return typed view models for the pages and the JSON API alike.

Who sees an ICSR is decided by :func:`cgtvigil.store.case_condition`, applied in SQL to the
case index (:mod:`cgtvigil.cases._index`): administrators every case;
a sponsor's safety scientist the cases whose suspect drugs include the sponsor's products; a
regulator reviewer the cases of public sources (openFDA, FAERS XML) and those submitted to a
regulator; site investigators and patients none (their patients are in the registry pages).
Every read is patient-level (pseudonymous ICSRs) and is audited."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.cases._assess import CaseAssessment, Reference, assess_case
from cgtvigil.cases._clock import ClockBasis, ReportingClock, Submission, clock_on, reporting_clock
from cgtvigil.cases._clock_rules import ClockRules, load_clock_rules
from cgtvigil.cases._index import CaseIndexerOf, case_indexer
from cgtvigil.cases._submissions import submissions_by_case
from cgtvigil.errors import NotFoundError, NotInScopeError
from cgtvigil.model import IcsrCase
from cgtvigil.store import CaseMatchRow, CaseStore, Scope, case_condition

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
    clock_rules: str = Field("", description="version of the reporting clock rules")


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


@cache
def _shipped_rules() -> ClockRules:
    return load_clock_rules()


_INDEXERS: dict[tuple[int, int], tuple[Reference, ClockRules, CaseIndexerOf]] = {}


def _indexer(reference: Reference, rules: ClockRules | None) -> CaseIndexerOf:
    """One indexer (and so one key hash) per reference and rule set in use."""
    rules = rules or _shipped_rules()
    k = (id(reference), id(rules))
    hit = _INDEXERS.get(k)
    if hit is None or hit[0] is not reference or hit[1] is not rules:
        if len(_INDEXERS) > 16:
            _INDEXERS.clear()
        hit = _INDEXERS[k] = (reference, rules, case_indexer(reference, rules))
    return hit[2]


def _use_fresh_index(store: CaseStore, indexer: CaseIndexerOf, only: set[str] | None = None) -> None:
    """Work out the index of the cases whose stored one is missing or stale (all of a store made
    before the index, none after an ingest with the same reference data) for this read."""
    stale = store.stale_cases(indexer.key)
    if only is not None:
        stale = [c for c in stale if c in only]
    if stale:
        store.use_index({cid: indexer(h) for cid, h in store.histories_of(stale).items()}, indexer.key)


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
    rules: ClockRules | None = None,
) -> CaseList:
    """The current cases in scope with their reporting clock, overdue first, then by due date.

    Scope, clock status, order and page are worked out in SQL over the case index; only the
    page's rows are read and their clocks finished with the submissions and ``today``."""
    _require(scope)
    submitted = submissions_by_case(session)
    indexer = _indexer(reference, rules)
    condition, params = case_condition(scope, submitted)
    counts: dict[str, int] = {}
    found: list[dict[str, object]] = []
    if Path(db).exists():
        with CaseStore(db, read_only=True) as store:
            _use_fresh_index(store, indexer)
            if submitted:  # the clocks that submissions stop or move: finished here, used in SQL
                bases = store.case_clocks(submitted)
                store.use_clock_now(
                    [
                        (cid, c.status, c.due)
                        for cid, js in bases.items()
                        for c in [clock_on(ClockBasis.model_validate_json(js), submitted[cid], today)]
                    ]
                )
            counts, found = store.case_page(
                condition, params, today=today, status=status, limit=page_size, offset=(page - 1) * page_size
            )
    rows = [
        CaseListRow(
            case_id=str(r["case_id"]),
            safety_report_id=str(r["safety_report_id"]),
            source=str(r["source"]),
            products=list(r["products"] or []),  # type: ignore[call-overload]
            first_event=str(r["first_event"] or ""),
            serious=bool(r["serious"]),
            unexpected_serious=bool(r["unexpected_serious"]),
            clock=clock_on(
                ClockBasis.model_validate_json(str(r["clock"])), submitted.get(str(r["case_id"]), []), today
            ),
        )
        for r in found
    ]
    total = counts.get(status, 0) if status else sum(counts.values())
    append_audit(
        session,
        actor=scope.actor,
        action="cases.list",
        target="icsr",
        at=now,
        detail={"status": status, "rows": len(rows), "page": page},
    )
    session.commit()
    return CaseList(
        today=today,
        total=total,
        counts=counts,
        rows=rows,
        reference_versions=reference.versions(),
        clock_rules=indexer.rules.version,
    )


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
    rules: ClockRules | None = None,
) -> CaseDetail:
    """One case in scope: every section, assessment, clock, versions, submissions, duplicates.
    Audited as a read, or as an export in the format ``export`` names (a whole ICSR leaving).

    Raises :class:`~cgtvigil.errors.NotFoundError` for a case that does not exist or is not in
    scope (so that existence does not leak)."""
    _require(scope)
    submitted = submissions_by_case(session)
    indexer = _indexer(reference, rules)
    condition, params = case_condition(scope, submitted)
    matches = session.scalars(
        select(CaseMatchRow)
        .where(or_(CaseMatchRow.case_a == case_id, CaseMatchRow.case_b == case_id))
        .order_by(CaseMatchRow.score.desc())
    ).all()
    others = {m.case_b if m.case_a == case_id else m.case_a for m in matches}
    if not Path(db).exists():
        raise NotFoundError(f"no case {case_id!r}")
    with CaseStore(db, read_only=True) as store:
        _use_fresh_index(store, indexer, only={case_id, *others})
        _, shown = store.case_page(condition, params, today=today, limit=len(others) + 1, case_ids={case_id, *others})
        in_scope = {str(r["case_id"]): str(r["source"]) for r in shown}
        if case_id not in in_scope:
            raise NotFoundError(f"no case {case_id!r}")
        history = store.history(case_id)
        versions = store.versions(case_id)
    case = history.current
    if case is None:  # a current row always has its history's current version
        raise NotFoundError(f"no case {case_id!r}")
    source = in_scope[case_id]
    a = assess_case(case, reference)
    subs = submitted.get(case_id, [])
    # a candidate naming a case outside the scope (or not in the case store) is not shown
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
        clock=reporting_clock(history, a, subs, today, rules or _shipped_rules()),
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
