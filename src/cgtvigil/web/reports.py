"""Periodic report pages (issue 15): the stored PBRER/PSUR, DSUR and signal assessment dossiers
in the reader's scope with the form to generate one, one report with its spec and named
inputs (and, for its sponsor, the share with a regulator reviewer), and the download of its
HTML or PDF. Thin handlers over :mod:`cgtvigil.reports` (scope, storage and audit are there)."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticValidationError

from cgtvigil.config import Settings
from cgtvigil.errors import StoreError, ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.reports import (
    ReportFile,
    ReportRequest,
    generate_report,
    list_reports,
    report_detail,
    report_file,
    share_report,
)
from cgtvigil.store import load_topics
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession, require_csrf

__all__ = ["REPORT_READERS", "REPORT_WRITERS", "file_response", "reports_router"]

REPORT_READERS = ("safety_scientist", "regulator_reviewer", "administrator")
REPORT_WRITERS = ("safety_scientist", "administrator")  # a sponsor's safety staff, the QPPV's office
Readers = Annotated[Reader, Depends(reader(*REPORT_READERS))]
Writers = Annotated[Reader, Depends(reader(*REPORT_WRITERS))]


def _now() -> datetime:
    return datetime.now(UTC)


def file_response(found: ReportFile) -> Response:
    """A stored document as a download (never rendered inside the application's pages)."""
    return Response(
        found.content,
        media_type=found.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "X-Content-SHA256": found.sha256,
        },
    )


def _problems(exc: PydanticValidationError) -> list[str]:
    return [
        (f"{'.'.join(str(x) for x in e['loc'])}: " if e["loc"] else "") + str(e["msg"]).removeprefix("Value error, ")
        for e in exc.errors()
    ]


def reports_router(settings: Settings, products: ProductDictionary) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def index(request: Request, session: DbSession, who: Reader, status: int = 200, **extra: object) -> Response:
        found = list_reports(session, who.scope)
        audit_read(session, who.scope, "report.list", "reports")
        mine = (
            sorted(products.by_id())
            if who.scope.all_signals
            else sorted(p for p in who.scope.signal_products if p in products.by_id())
        )
        return render(
            request,
            "reports_index.html",
            who.user,
            status=status,
            title="Periodic reports",
            reports=found,
            can_write=who.scope.signal_writes,
            products=[(p, products.by_id()[p].brand) for p in mine],
            form=extra.pop("form", {}),
            **extra,
        )

    @router.get("/reports")
    def reports(request: Request, session: DbSession, who: Readers) -> Response:
        return index(request, session, who)

    @router.post("/reports", dependencies=[Depends(require_csrf)])
    def generate(
        request: Request,
        session: DbSession,
        who: Writers,
        kind: Annotated[str, Form(max_length=16)] = "",
        products_: Annotated[list[str] | None, Form(alias="product", max_length=128)] = None,
        interval_start: Annotated[str, Form(max_length=10)] = "",
        data_lock_point: Annotated[str, Form(max_length=10)] = "",
        signal: Annotated[str, Form(max_length=12)] = "",
        event: Annotated[str, Form(max_length=256)] = "",
        title: Annotated[str, Form(max_length=200)] = "",
        pdf: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        """Generate (or find stored) the document; problems show the form again with what was typed."""
        form = {
            "kind": kind,
            "products": products_ or [],
            "interval_start": interval_start,
            "data_lock_point": data_lock_point,
            "signal": signal,
            "event": event,
            "title": title,
        }
        try:
            wanted = ReportRequest.model_validate(
                {
                    "kind": kind,
                    "products": [p for p in products_ or [] if p] if not signal else [],
                    "interval_start": interval_start or None,
                    "data_lock_point": data_lock_point,
                    "signal": signal or None,
                    "event": event if not signal else "",
                    "title": title,
                    "pdf": bool(pdf),
                }
            )
            made = generate_report(
                session,
                who.scope,
                wanted,
                db=settings.db,
                products=products,
                topics=load_topics(),
                at=_now(),
                screen=settings.screen_result,
            )
        except PydanticValidationError as exc:
            problems = _problems(exc)
        except (ValidationError, StoreError) as exc:
            problems = [str(p) for p in getattr(exc, "problems", None) or [exc]]
        else:
            session.commit()
            return RedirectResponse(f"/reports/{made.id}", status_code=303)
        session.rollback()
        return index(request, session, who, status=400, problems=problems, form=form)

    @router.get("/reports/{report_id}")
    def report(request: Request, session: DbSession, report_id: int, who: Readers) -> HTMLResponse:
        found = report_detail(session, who.scope, report_id)
        audit_read(session, who.scope, "report.read", f"report:{report_id}")
        return render(request, "report.html", who.user, title=found.title, report=found)

    @router.get("/reports/{report_id}/download")
    def download(
        session: DbSession,
        report_id: int,
        who: Readers,
        format: Annotated[Literal["html", "pdf"], Query()] = "pdf",
    ) -> Response:
        """The stored HTML or PDF (audited as ``report.download``)."""
        found = report_file(session, who.scope, report_id, format, at=_now())
        session.commit()
        return file_response(found)

    @router.post("/reports/{report_id}/share", dependencies=[Depends(require_csrf)])
    def share(
        session: DbSession,
        report_id: int,
        who: Writers,
        reviewer: Annotated[str, Form(max_length=64)] = "",
        revoke: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        share_report(session, who.scope, report_id, reviewer.strip(), at=_now(), revoke=bool(revoke))
        session.commit()
        return RedirectResponse(f"/reports/{report_id}", status_code=303)

    return router
