"""The monitoring board: a thin page over :func:`cgtvigil.monitoring.board`."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from cgtvigil.model import ProductDictionary
from cgtvigil.monitoring import board
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession

__all__ = ["CARE_TEAM", "monitoring_router"]

CARE_TEAM = ("site_investigator", "safety_scientist", "administrator")


def monitoring_router(products: ProductDictionary) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/monitoring")
    def board_page(
        request: Request,
        session: DbSession,
        who: Annotated[Reader, Depends(reader(*CARE_TEAM))],
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    ) -> HTMLResponse:
        """Every patient in scope with an open alert, whatever the day after infusion, most
        severe first, with deadlines and escalations, then the recent-infusion window."""
        found = board(session, who.scope, products, datetime.now(UTC), page)
        audit_read(session, who.scope, "patient.list", "monitoring-board", patients=len(found.rows), page=page)
        return render(request, "monitoring.html", who.user, title="Monitoring", board=found)

    return router
