"""The JSON API of the periodic reports (issue 15): ``/api/v1/reports`` (the stored PBRER/PSUR,
DSUR and dossiers in scope; POST generates one), one report with its spec and named inputs, its
document as HTML or PDF, and the share with a regulator reviewer. The same workflow functions,
scope and audit as the pages; a write with the session cookie needs the page's CSRF token."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from cgtvigil.api._read import _UNAUTHORISED, api_reader
from cgtvigil.config import Settings
from cgtvigil.model import ProductDictionary
from cgtvigil.reports import (
    ReportDetail,
    ReportRequest,
    ReportSummary,
    generate_report,
    list_reports,
    report_detail,
    report_file,
    share_report,
)
from cgtvigil.store import load_topics
from cgtvigil.web import Reader, audit_read
from cgtvigil.web._security import DbSession
from cgtvigil.web.reports import REPORT_READERS, REPORT_WRITERS, file_response

__all__ = ["reports_api"]


class ReportShare(BaseModel):
    reviewer: str = Field(max_length=64, examples=["reg.user"])
    revoke: bool = False


def _now() -> datetime:
    return datetime.now(UTC)


def reports_api(settings: Settings, products: ProductDictionary) -> APIRouter:
    router = APIRouter(prefix="/api/v1/reports", tags=["periodic reports"], responses=_UNAUTHORISED)  # type: ignore[arg-type]
    readers = Annotated[Reader, Depends(api_reader(*REPORT_READERS))]
    writers = Annotated[Reader, Depends(api_reader(*REPORT_WRITERS, write=True))]

    @router.get("", response_model=list[ReportSummary])
    def reports(
        session: DbSession,
        who: readers,
        kind: Annotated[Literal["", "pbrer", "dsur", "dossier"], Query()] = "",
        product: Annotated[str, Query(max_length=128)] = "",
    ) -> list[ReportSummary]:
        """The stored reports in scope, newest first."""
        found = list_reports(session, who.scope, kind=kind, product=product)
        audit_read(session, who.scope, "report.list", "reports", via="api")
        return found

    @router.post("", response_model=ReportDetail, status_code=201)
    def generate(session: DbSession, who: writers, body: Annotated[ReportRequest, Body()]) -> ReportDetail:
        """Generate a PBRER/PSUR, DSUR or dossier (or answer the stored one made from the same spec and inputs)."""
        made = generate_report(
            session,
            who.scope,
            body,
            db=settings.db,
            products=products,
            topics=load_topics(),
            at=_now(),
            screen=settings.screen_result,
        )
        session.commit()
        return made

    @router.get("/{report_id}", response_model=ReportDetail)
    def report(session: DbSession, report_id: int, who: readers) -> ReportDetail:
        """One stored report with its spec, named inputs and digests."""
        found = report_detail(session, who.scope, report_id)
        audit_read(session, who.scope, "report.read", f"report:{report_id}", via="api")
        return found

    @router.get(
        "/{report_id}/document",
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}, "text/html": {}}}},
    )
    def document(
        session: DbSession,
        report_id: int,
        who: readers,
        format: Annotated[Literal["html", "pdf"], Query()] = "pdf",
    ) -> Response:
        """The stored document (checked against its digest; audited as ``report.download``)."""
        found = report_file(session, who.scope, report_id, format, at=_now(), via="api")
        session.commit()
        return file_response(found)

    @router.post("/{report_id}/share", response_model=ReportDetail)
    def share(session: DbSession, report_id: int, who: writers, body: Annotated[ReportShare, Body()]) -> ReportDetail:
        """Share the report with a regulator reviewer (read and download), or end that."""
        found = share_report(session, who.scope, report_id, body.reviewer, at=_now(), revoke=body.revoke)
        session.commit()
        return found

    return router
