"""A patient's page (summary, plan tier, last data per device, the forecast risk curve, charts,
alerts with history and notifications, ePRO answers) and the alert actions: thin handlers over the
monitoring query services."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.ingest import CGT_SYMPTOM_ITEMS
from cgtvigil.model import ProductDictionary
from cgtvigil.monitoring import (
    ForecastModels,
    act_on_alert,
    alert_views,
    epro_reports,
    load_forecast_models,
    observation_series,
    patient_forecast,
    patient_summary,
)
from cgtvigil.web._charts import encode, patient_charts, risk_curve
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession, require_csrf

__all__ = ["forecast_models", "patients_router"]

PATIENT_READERS = ("site_investigator", "safety_scientist", "administrator", "patient")
ACTORS = ("site_investigator", "administrator")
CHART_DAYS = 30


def forecast_models(settings: Settings) -> tuple[ForecastModels | None, str]:
    """The deployment's forecasting models (read once per file version) and, when the
    configured file cannot be used, why (shown on the page instead of a curve)."""
    if settings.forecast_model is None:
        return None, ""
    try:
        return load_forecast_models(settings.forecast_model), ""
    except CgtVigilError as exc:
        return None, str(exc)


def patients_router(settings: Settings, products: ProductDictionary) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/patients/{patient_id}")
    def patient_page(
        request: Request, session: DbSession, patient_id: str, who: Annotated[Reader, Depends(reader(*PATIENT_READERS))]
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        summary = patient_summary(session, who.scope, products, patient_id, now)
        series = observation_series(session, who.scope, patient_id, since=now - timedelta(days=CHART_DAYS))
        alerts = alert_views(session, who.scope, now, patient_id=patient_id, status="all")
        reports = epro_reports(session, who.scope, patient_id, now)
        models, model_problem = forecast_models(settings)
        forecast = patient_forecast(session, who.scope, patient_id, models)
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}")
        return render(
            request,
            "patient.html",
            who.user,
            title=f"Patient {patient_id}",
            patient=summary,
            open_alerts=[a for a in alerts if a.status != "resolved"],
            closed_alerts=[a for a in alerts if a.status == "resolved"][-20:],
            reports=reports,
            items=CGT_SYMPTOM_ITEMS,
            charts=patient_charts(series),
            forecast=forecast,
            model_problem=model_problem,
            risk_spec=encode(risk_curve(forecast.curves)) if any(not c.reached for c in forecast.curves) else "",
            can_act=who.scope.acts,
            now=now,
        )

    def _act(
        session: DbSession, who: Reader, alert_id: int, action: Literal["acknowledge", "resolve"], note: str
    ) -> Response:
        now = datetime.now(UTC)
        alert = act_on_alert(session, who.scope, alert_id, action, now, note)
        audit_read(session, who.scope, f"alert.{action}", f"alert:{alert_id}", **({"note": note} if note else {}))
        return RedirectResponse(f"/patients/{alert.patient_id}", status_code=303)

    @router.post("/alerts/{alert_id}/acknowledge", dependencies=[Depends(require_csrf)])
    def ack(
        session: DbSession,
        alert_id: int,
        who: Annotated[Reader, Depends(reader(*ACTORS))],
        note: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        return _act(session, who, alert_id, "acknowledge", note)

    @router.post("/alerts/{alert_id}/resolve", dependencies=[Depends(require_csrf)])
    def res(
        session: DbSession,
        alert_id: int,
        who: Annotated[Reader, Depends(reader(*ACTORS))],
        note: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        return _act(session, who, alert_id, "resolve", note)

    return router
