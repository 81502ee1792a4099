"""The JSON API of the case pages (issue 13): the case list with the reporting clock, one case
(sections, assessment, clock, versions, submissions, duplicates) and its export; the same
query services, scope and audit as ``/cases``."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from cgtvigil.api._read import _UNAUTHORISED, api_reader
from cgtvigil.cases import CaseDetail, CaseList, case_detail, case_list
from cgtvigil.config import Settings
from cgtvigil.web import Reader
from cgtvigil.web._security import DbSession
from cgtvigil.web.cases import CASE_READERS, ExportFormat, case_export, case_reference

__all__ = ["cases_api"]


def cases_api(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/api/v1/cases", tags=["cases"], responses=_UNAUTHORISED)  # type: ignore[arg-type]
    reference = case_reference()

    @router.get("", response_model=CaseList)
    def cases(
        session: DbSession,
        who: Annotated[Reader, Depends(api_reader(*CASE_READERS))],
        status: Annotated[Literal["", "due", "overdue", "submitted", "not expedited", "incomplete"], Query()] = "",
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> CaseList:
        """Current cases in scope with their reporting clock (overdue first, then by due date)."""
        now = datetime.now(UTC)
        return case_list(
            settings.db,
            session,
            who.scope,
            reference,
            today=now.date(),
            now=now,
            status=status,
            page=page,
            page_size=page_size,
        )

    # a case id may hold "/": the export route first (see the web page's routes)
    @router.get("/{case_id:path}/export")
    def export(
        session: DbSession,
        case_id: str,
        who: Annotated[Reader, Depends(api_reader(*CASE_READERS))],
        format: Annotated[ExportFormat, Query()] = "e2b",
        receiver: Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "ZZFDA",
    ) -> Response:
        """The current version as an E2B(R3) batch or a FHIR R4/R5 Bundle."""
        now = datetime.now(UTC)
        found = case_detail(
            settings.db, session, who.scope, reference, case_id, today=now.date(), now=now, export=format
        )
        return case_export(found, format, receiver)

    @router.get("/{case_id:path}", response_model=CaseDetail)
    def case(
        session: DbSession, case_id: str, who: Annotated[Reader, Depends(api_reader(*CASE_READERS))]
    ) -> CaseDetail:
        """One case: all sections (canonical model), assessment, clock, versions, submissions, duplicates."""
        now = datetime.now(UTC)
        return case_detail(settings.db, session, who.scope, reference, case_id, today=now.date(), now=now)

    return router
