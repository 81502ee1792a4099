"""A patient's genotoxicity page: clonal abundance of the top clones over time, per-sample
diversity, clonal expansions and their alerts, watch-list sites, IS sharing, vector copy number
and CAR-transgene trends, off-target results: a thin page over the genotox query services.
A patient reads their own record (the scope lets them see only it): the page opens with a
plain-language summary and keeps the technical tables folded."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from cgtvigil.genotox import EXPANSION_RULE, patient_genotox
from cgtvigil.monitoring import alert_views
from cgtvigil.web._charts import clone_charts, vector_charts
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession
from cgtvigil.web.monitoring import CARE_TEAM

__all__ = ["genotox_router"]


def genotox_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/patients/{patient_id}/genotox")
    def genotox_page(
        request: Request,
        session: DbSession,
        patient_id: str,
        who: Annotated[Reader, Depends(reader(*CARE_TEAM, "patient"))],
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        view = patient_genotox(session, who.scope, patient_id)
        alerts = [a for a in alert_views(session, who.scope, now, status="all") if a.patient_id == patient_id]
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="genotox")
        return render(
            request,
            "genotox.html",
            who.user,
            title=f"Genotoxicity: patient {patient_id}",
            view=view,
            alerts=[a for a in alerts if a.rule == EXPANSION_RULE],
            charts=clone_charts(view.clones) + vector_charts(view.vector),
        )

    return router
