"""The case pages (issue 13): the case list with the reporting clock (due, overdue,
submitted), one case with all its sections, versions, submissions with acknowledgement status
and duplicate candidates, export buttons (E2B(R3), FHIR R4/R5) and the decision on a duplicate
candidate. Thin handlers over the query services of ``cgtvigil.cases`` (scope and audit there)."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cgtvigil.cases import CaseDetail, Reference, case_detail, case_list, decide_match
from cgtvigil.config import Settings
from cgtvigil.reports import write_e2b, write_fhir_adverse_events
from cgtvigil.store import load_products, load_safety_info, load_topics
from cgtvigil.web._render import Reader, path_segment, reader, render
from cgtvigil.web._security import DbSession, require_csrf

__all__ = ["CASE_READERS", "case_export", "case_reference", "cases_router"]

CASE_READERS = ("safety_scientist", "regulator_reviewer", "administrator")
CASE_DECIDERS = ("administrator",)  # a decision about two cases needs both in scope: every case
ExportFormat = Literal["e2b", "fhir-r4", "fhir-r5"]


def case_reference() -> Reference:
    """The reference data of the case assessments (shipped product dictionary, RSI, topics)."""
    topics = load_topics()
    return Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics)


def case_export(detail: CaseDetail, fmt: ExportFormat, receiver: str) -> Response:
    """The current version of a case as an E2B(R3) batch or a FHIR Bundle, as a download."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in detail.case_id)
    if fmt == "e2b":
        body = write_e2b([detail.case], batch_id=f"CGTVIGIL-{stamp}", sender="CGTVIGIL", receiver=receiver)
        media, filename = "application/xml", f"{name}.e2b.xml"
    else:
        version: Literal["R4", "R5"] = "R5" if fmt == "fhir-r5" else "R4"
        body = write_fhir_adverse_events([detail.case], version=version).to_json().encode()
        media, filename = "application/fhir+json", f"{name}.{version.lower()}.json"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def cases_router(settings: Settings) -> APIRouter:
    router = APIRouter()
    reference = case_reference()

    @router.get("/cases")
    def cases_page(
        request: Request,
        session: DbSession,
        who: Annotated[Reader, Depends(reader(*CASE_READERS))],
        status: Annotated[Literal["", "due", "overdue", "submitted", "not expedited", "incomplete"], Query()] = "",
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        found = case_list(
            settings.db, session, who.scope, reference, today=now.date(), now=now, status=status, page=page
        )
        return render(request, "icsr_list.html", who.user, title="Cases", found=found, chosen=status, page=page)

    # a case id may hold "/" (an E2B report id is free text): the export route first, so
    # that ".../export" is not read as part of an id
    @router.get("/cases/{case_id:path}/export")
    def case_export_page(
        session: DbSession,
        case_id: str,
        who: Annotated[Reader, Depends(reader(*CASE_READERS))],
        format: Annotated[ExportFormat, Query()] = "e2b",
        receiver: Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] = "ZZFDA",
    ) -> Response:
        now = datetime.now(UTC)
        found = case_detail(
            settings.db, session, who.scope, reference, case_id, today=now.date(), now=now, export=format
        )
        return case_export(found, format, receiver)

    @router.get("/cases/{case_id:path}")
    def case_page(
        request: Request, session: DbSession, case_id: str, who: Annotated[Reader, Depends(reader(*CASE_READERS))]
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        found = case_detail(settings.db, session, who.scope, reference, case_id, today=now.date(), now=now)
        return render(
            request,
            "icsr_case.html",
            who.user,
            title=f"Case {case_id}",
            found=found,
            sections=found.case.model_dump(mode="json", exclude_none=True, exclude_defaults=True),
            can_decide=who.user.role in CASE_DECIDERS,
        )

    @router.post("/cases/matches/{match_id}", dependencies=[Depends(require_csrf)])
    def decide_page(
        session: DbSession,
        match_id: int,
        who: Annotated[Reader, Depends(reader(*CASE_DECIDERS))],
        decision: Annotated[Literal["confirmed", "rejected"], Form()],
        case_id: Annotated[str, Form(max_length=128)],
        note: Annotated[str, Form(max_length=500)] = "",
    ) -> RedirectResponse:
        decide_match(session, who.scope, match_id, decision, at=datetime.now(UTC), note=note)
        session.commit()
        return RedirectResponse(f"/cases/{path_segment(case_id)}", status_code=303)

    return router
