"""The patient's ePRO form: post, then redirect to the form showing what was sent (a reload
sends nothing twice), with the patient's recent reports from the monitoring query service."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cgtvigil.config import Settings
from cgtvigil.errors import NotFoundError
from cgtvigil.ingest import CGT_SYMPTOM_ITEMS, read_questionnaire_response
from cgtvigil.model import ProductDictionary
from cgtvigil.monitoring import (
    MonitoringRules,
    deliver_due,
    epro_reports,
    evaluate_patient,
    notification_states,
    store_observations,
)
from cgtvigil.store import PatientRow
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession, require_csrf

__all__ = ["epro_router"]


def epro_router(settings: Settings, products: ProductDictionary) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    notifier = settings.notifier()

    @router.get("/epro")
    def epro_form(
        request: Request, session: DbSession, who: Annotated[Reader, Depends(reader("patient"))]
    ) -> HTMLResponse:
        sent = request.session.pop("epro_sent", None)  # shown once, after the redirect
        try:
            reports = epro_reports(session, who.scope, str(who.user.patient_id), datetime.now(UTC), days=14)
        except NotFoundError:
            reports = []
        return render(
            request,
            "epro.html",
            who.user,
            title="My symptoms",
            items=list(CGT_SYMPTOM_ITEMS.items()),
            labels=CGT_SYMPTOM_ITEMS,
            sent=sent,
            reports=reports[:14],
        )

    @router.post("/epro", dependencies=[Depends(require_csrf)])
    async def epro_submit(
        request: Request, session: DbSession, who: Annotated[Reader, Depends(reader("patient"))]
    ) -> Response:
        form = await request.form()
        user = who.user
        now = datetime.now(UTC)
        present = [k for k in CGT_SYMPTOM_ITEMS if form.get(k) == "1"]
        qr = {
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "authored": now.isoformat(),
            "subject": {"reference": f"Patient/{user.patient_id}"},
            "item": [{"linkId": k, "answer": [{"valueInteger": int(k in present)}]} for k in CGT_SYMPTOM_ITEMS],
        }
        summary = store_observations(session, read_questionnaire_response(qr), now)
        alerts = (
            evaluate_patient(
                session,
                str(user.patient_id),
                MonitoringRules(),
                since=now - timedelta(hours=1),
                now=now,
                products=products,
            )
            if summary.loaded
            else []
        )
        ids = [a.id for a in alerts]
        audit_read(
            session,
            who.scope,
            "epro.submit",
            f"patient:{user.patient_id}",
            present=present,
            stored=summary.loaded,
            refused=summary.reasons,
            alerts=ids,
        )
        if ids:  # tell a person now, not at the scheduler's next round; "alerted" only if someone was told
            await run_in_threadpool(deliver_due, request.app.state.sessions, notifier, now, alert_ids=ids)
        states = [n for ns in notification_states(session, ids).values() for n in ns]
        patient = session.get(PatientRow, str(user.patient_id)) if summary.loaded else None
        request.session["epro_sent"] = {
            "at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "present": present,
            "recorded": bool(summary.loaded),
            "raised": bool(alerts),
            "alerted": any(n.status == "sent" for n in states),
            "retrying": any(n.status == "pending" for n in states),
            "site": patient.site if patient else "",
        }
        return RedirectResponse("/epro", status_code=303)

    return router
