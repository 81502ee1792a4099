"""The FastAPI application factory: ``create_app(settings)``; nothing is built at import time.

(No ``from __future__ import annotations`` here: FastAPI reads the dependency annotations of
the routes defined inside the factory at run time.)
"""

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from cgtvigil import __version__
from cgtvigil.audit import append_audit
from cgtvigil.config import Settings
from cgtvigil.errors import ValidationError
from cgtvigil.ingest import IntakeResult, read_assessments, read_fhir_bundle, read_omh, read_questionnaire_response
from cgtvigil.monitoring import MonitoringRules, authenticate_gateway, evaluate_patient, store_observations
from cgtvigil.store import GatewayRow, load_products, operational_engine, session_factory, utc_naive
from cgtvigil.web import error_page, install_security, web_router

__all__ = ["create_app"]

EVALUATION_WINDOW = timedelta(hours=24)


def create_app(settings: Settings, *, rules: MonitoringRules | None = None) -> FastAPI:
    """Build the application for ``settings`` (database URL and rules are taken from here)."""
    engine = operational_engine(settings.operational_url)
    sessions = session_factory(engine)
    rule_set = rules or MonitoringRules()
    products = load_products()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()  # close pooled database connections on shutdown

    app = FastAPI(
        title="cgtvigil",
        version=__version__,
        description="Pharmacovigilance for cell and gene therapies",
        lifespan=lifespan,
    )
    app.state.sessions = sessions
    app.state.engine = engine
    install_security(app, settings)  # server-side sessions, headers, audit of denied access
    static = Path(__file__).resolve().parents[1] / "web" / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(HTTPException)
    async def http_errors(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 401:
            return RedirectResponse("/login", status_code=303)  # pages send people to the log-in form
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict"}
        return error_page(request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))

    def db(request: Request) -> Iterator[Session]:
        with request.app.state.sessions() as session:
            yield session

    def gateway(
        session: Annotated[Session, Depends(db)], authorization: Annotated[str | None, Header()] = None
    ) -> GatewayRow:
        scheme, _, token = (authorization or "").partition(" ")
        row = authenticate_gateway(session, token) if scheme.lower() == "bearer" and token else None
        if row is None:
            raise HTTPException(
                status_code=401,
                detail="a valid gateway token is needed (Authorization: Bearer ...)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return row

    router = APIRouter(prefix="/api/v1/ingest", tags=["ingestion"])

    def _ingest(session: Session, result: IntakeResult, source: GatewayRow) -> dict[str, Any]:
        now = datetime.now(UTC)
        summary = store_observations(session, result, now)
        alerts = []
        for patient in sorted(summary.patients):
            # late observations re-evaluate the window they fall in
            since = min(summary.earliest[patient], utc_naive(now)) - EVALUATION_WINDOW
            for a in evaluate_patient(session, patient, rule_set, since=since, now=now, products=products):
                alerts.append(
                    {
                        "id": a.id,
                        "patient": a.patient_id,
                        "rule": a.rule,
                        "severity": a.severity,
                        "status": a.status,
                        "message": a.message,
                    }
                )
        append_audit(
            session,
            actor=f"gateway:{source.name}",
            action="observations.ingest",
            target="observations",
            at=now,
            detail={k: v for k, v in summary.to_dict().items() if k != "patients"}
            | {"patients": len(summary.patients)},
        )
        session.commit()
        quarantine = [{"location": q.location, "reason": q.reason, "detail": q.detail} for q in result.quarantine]
        return {"gateway": source.name, **summary.to_dict(), "quarantine": quarantine, "alerts": alerts}

    @router.post("/omh", summary="Open mHealth data points (a list, or {'points': [...]})")
    def ingest_omh(
        payload: Annotated[Any, Body()],
        session: Annotated[Session, Depends(db)],
        source: Annotated[GatewayRow, Depends(gateway)],
        source_timezone: str | None = None,
    ) -> dict[str, Any]:
        points = payload.get("points") if isinstance(payload, dict) else payload
        if not isinstance(points, list):
            raise HTTPException(status_code=422, detail="expected a list of OMH data points or {'points': [...]}")
        try:
            result = read_omh(points, source_timezone=source_timezone, where="body")
        except ValidationError as exc:
            raise HTTPException(status_code=422, detail=exc.problems) from exc
        return _ingest(session, result, source)

    @router.post("/fhir", summary="A FHIR R4 Bundle of Observations and QuestionnaireResponses")
    def ingest_fhir(
        payload: Annotated[dict[str, Any], Body()],
        session: Annotated[Session, Depends(db)],
        source: Annotated[GatewayRow, Depends(gateway)],
    ) -> dict[str, Any]:
        return _ingest(session, read_fhir_bundle(payload, where="body"), source)

    @router.post("/epro", summary="One FHIR QuestionnaireResponse (ePRO)")
    def ingest_epro(
        payload: Annotated[dict[str, Any], Body()],
        session: Annotated[Session, Depends(db)],
        source: Annotated[GatewayRow, Depends(gateway)],
    ) -> dict[str, Any]:
        return _ingest(session, read_questionnaire_response(payload, where="body"), source)

    @router.post("/assessment", summary="Clinician CRS/ICANS assessments: {'patient', 'crs': [...], 'icans': [...]}")
    def ingest_assessment(
        payload: Annotated[dict[str, Any], Body()],
        session: Annotated[Session, Depends(db)],
        source: Annotated[GatewayRow, Depends(gateway)],
    ) -> dict[str, Any]:
        return _ingest(session, read_assessments(payload, where="body"), source)

    app.include_router(router)
    app.include_router(web_router(settings))

    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
