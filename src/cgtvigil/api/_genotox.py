"""The JSON API of genotoxicity (issue 12): a patient's integration sites, clones over time,
expansions, watch-list sites, sharing, VCN / CAR-transgene series and off-target results; the
per-sample diversity of every patient in scope; the clonal-expansion alerts. The same query
services, scope and audit as the page (``/patients/{id}/genotox``)."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from cgtvigil.api._read import _UNAUTHORISED, api_reader
from cgtvigil.genotox import EXPANSION_RULE, PatientGenotox, SampleStats, patient_genotox, sample_stats
from cgtvigil.monitoring import AlertView, alert_views
from cgtvigil.web import Reader, audit_read
from cgtvigil.web._security import DbSession
from cgtvigil.web.monitoring import CARE_TEAM

__all__ = ["genotox_api"]


def genotox_api() -> APIRouter:
    router = APIRouter(prefix="/api/v1/genotox", tags=["genotoxicity"], responses=_UNAUTHORISED)  # type: ignore[arg-type]

    @router.get("/patients/{patient_id}", response_model=PatientGenotox)
    def patient(
        session: DbSession, patient_id: str, who: Annotated[Reader, Depends(api_reader(*CARE_TEAM, "patient"))]
    ) -> PatientGenotox:
        """Samples with their diversity, the top clones of each cell type over time, expansions,
        IS near watch-list genes, sharing between cell types and time points, VCN and CAR-transgene
        series, off-target results. A patient reads only their own record."""
        found = patient_genotox(session, who.scope, patient_id)
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="genotox", via="api")
        return found

    @router.get("/samples", response_model=list[SampleStats])
    def samples(
        session: DbSession,
        who: Annotated[Reader, Depends(api_reader(*CARE_TEAM))],
        patient: Annotated[str | None, Query(max_length=64, examples=["pP7"])] = None,
    ) -> list[SampleStats]:
        """Per-sample diversity (IS count, Shannon, Simpson, inverse Simpson, Pielou, Gini, Chao1,
        UC50, top clone, watch-list counts) of one patient or of every patient in scope."""
        found = sample_stats(session, who.scope, patient)
        if patient:
            audit_read(session, who.scope, "patient.read", f"patient:{patient}", part="genotox.samples", via="api")
        else:
            audit_read(session, who.scope, "patient.list", "genotox-samples", samples=len(found), via="api")
        return found

    @router.get("/alerts", response_model=list[AlertView])
    def alerts(
        session: DbSession,
        who: Annotated[Reader, Depends(api_reader(*CARE_TEAM))],
        status: Literal["active", "all"] = "active",
    ) -> list[AlertView]:
        """Clonal-expansion alerts in scope with their history and notifications (acknowledge and
        resolve them with ``/api/v1/alerts/{id}/...``)."""
        found = [
            a for a in alert_views(session, who.scope, datetime.now(UTC), status=status) if a.rule == EXPANSION_RULE
        ]
        audit_read(session, who.scope, "patient.list", "alerts", part="genotox.alerts", alerts=len(found), via="api")
        return found

    return router
