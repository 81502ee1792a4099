"""The FastAPI application factory: ``create_app(settings)``; nothing is built at import time.

(No ``from __future__ import annotations`` here: FastAPI reads the dependency annotations of
the routes defined inside the factory at run time.)
"""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cgtvigil import __version__
from cgtvigil.api._admission import Admission
from cgtvigil.api._cases import cases_api
from cgtvigil.api._followup import followup_api
from cgtvigil.api._genotox import genotox_api
from cgtvigil.api._read import read_router
from cgtvigil.api._reports import reports_api
from cgtvigil.api._risk_management import risk_api_router
from cgtvigil.api._signal_management import signal_management_api
from cgtvigil.audit import append_audit
from cgtvigil.config import Settings
from cgtvigil.errors import BusyError, ValidationError
from cgtvigil.followup import FollowupScheduler
from cgtvigil.ingest import IntakeResult, read_assessments, read_fhir_bundle, read_omh, read_questionnaire_response
from cgtvigil.monitoring import (
    EscalationScheduler,
    MonitoringRules,
    authenticate_gateway,
    evaluate_forecast,
    evaluate_patients,
    store_observations,
)
from cgtvigil.screening import ScreenCache
from cgtvigil.store import (
    GatewayRow,
    load_jurisdictions,
    load_ltfu_rules,
    load_products,
    operational_engine,
    session_factory,
    utc_naive,
)
from cgtvigil.web import error_page, install_error_pages, install_security, web_router
from cgtvigil.web._security import DbSession
from cgtvigil.web.patients import forecast_models

__all__ = ["create_app"]

EVALUATION_WINDOW = timedelta(hours=24)


class _BodyTooLarge(Exception):
    """Raised into the application when a request body passes the limit (answered with 413)."""


class _BodyLimit:
    """Refuse request bodies above ``limit`` bytes before anything parses them: at once when
    Content-Length says so, else (a chunked body) as soon as the bytes read pass the limit,
    whatever the application then does with the interrupted read (reliability review D4;
    security review M4)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int = 413) -> None:
        detail = f"the request body is larger than {self.limit:,} bytes" if status == 413 else "invalid Content-Length"
        await JSONResponse({"detail": detail}, status_code=status, headers={"Connection": "close"})(
            scope, receive, send
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._refuse(scope, receive, send, 413 if length.isdigit() else 400)
            return
        seen, refused, started = 0, False, False

        async def limited() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    refused = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:  # the 413 below replaces whatever the application answers
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited, guarded)
        except* _BodyTooLarge:  # our own signal, possibly inside a middleware's task group
            pass
        if refused and not started:
            await self._refuse(scope, receive, send)


_log = logging.getLogger(__name__)


def create_app(settings: Settings, *, rules: MonitoringRules | None = None) -> FastAPI:
    """Build the application for ``settings`` (database URL and rules are taken from here)."""
    engine = operational_engine(settings.operational_url)
    sessions = session_factory(engine)
    rule_set = rules or MonitoringRules()
    products = load_products()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # escalation and notification rounds in every worker (a database lock makes them safe)
        interval = settings.escalation_interval
        every = settings.followup_interval  # the transition sweep and pending malignancy cases (issue 12)
        async with (
            EscalationScheduler(sessions, settings.notifier(), interval) if interval else nullcontext(),
            FollowupScheduler(sessions, load_jurisdictions(), settings.db, every) if every else nullcontext(),
        ):
            yield
        engine.dispose()  # close pooled database connections on shutdown

    app = FastAPI(
        title="cgtvigil",
        version=__version__,
        description="Pharmacovigilance for cell and gene therapies",
        lifespan=lifespan,
        docs_url=None,  # /docs and /openapi.json are served behind a log-in by the web router
        redoc_url=None,
        openapi_url=None,
    )
    app.state.sessions = sessions
    app.state.engine = engine
    # before any parsing of the body; inside the security middleware, so its 413 has the headers
    app.add_middleware(_BodyLimit, limit=settings.max_request_bytes)
    install_security(app, settings)  # server-side sessions, headers, audit of denied access
    app.add_middleware(Admission, limit=settings.worker_concurrency)  # outermost: a waiting request costs nothing
    static = Path(__file__).resolve().parents[1] / "web" / "static"
    app.mount("/static", GZipMiddleware(StaticFiles(directory=str(static)), minimum_size=1024), name="static")

    @app.exception_handler(HTTPException)
    async def http_errors(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if exc.status_code == 401:
            return RedirectResponse("/login", status_code=303)  # pages send people to the log-in form
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict"}
        return error_page(request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))

    def gateway(session: DbSession, authorization: Annotated[str | None, Header()] = None) -> GatewayRow:
        scheme, _, token = (authorization or "").partition(" ")
        row = authenticate_gateway(session, token) if scheme.lower() == "bearer" and token else None
        if row is None:
            raise HTTPException(
                status_code=401,
                detail="a valid gateway token is needed (Authorization: Bearer ...)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return row

    async def gateway_json(request: Request, _: Annotated[GatewayRow, Depends(gateway)]) -> Any:
        """The JSON body, read only after the token is accepted (its size is capped by
        :class:`_BodyLimit`)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json" and not kind.endswith("+json"):
            raise HTTPException(status_code=415, detail=f"expected Content-Type application/json, got {kind!r}")
        body = await request.body()
        try:
            return json.loads(body)
        except RecursionError as exc:
            raise HTTPException(status_code=400, detail="the JSON body is nested too deeply") from exc
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an over-long integer
            raise HTTPException(status_code=422, detail=f"the body is not valid JSON: {exc}") from exc

    def _cap(n: int, what: str) -> None:
        if n > settings.max_batch_elements:
            raise HTTPException(
                status_code=413,
                detail=f"the request holds {n:,} {what}; at most {settings.max_batch_elements:,} are accepted"
                " in one request (send several)",
            )

    def _count(value: Any) -> int:
        return len(value) if isinstance(value, list) else 1

    router = APIRouter(prefix="/api/v1/ingest", tags=["ingestion"])

    def _ingest(session: Session, result: IntakeResult, source: GatewayRow, now: datetime) -> dict[str, Any]:
        try:
            summary = store_observations(session, result, now, site=source.site)
            # late observations re-evaluate the window they fall in
            since = {p: min(summary.earliest[p], utc_naive(now)) - EVALUATION_WINDOW for p in summary.patients}
            found = evaluate_patients(session, since, rule_set, products=products)
            raised = sum(len(alerts) for alerts in found.values())
            models = forecast_models(settings)[0]
            if models is not None:  # a forecast above a threshold of the plan rules alerts too
                for patient in sorted(summary.patients):
                    raised += len(evaluate_forecast(session, patient, models, now=now, rules=rule_set))
            append_audit(
                session,
                actor=f"gateway:{source.name}",
                action="observations.ingest",
                target="observations",
                at=now,
                detail=summary.to_dict() | {"refused_patients": sorted(summary.refused_patients)[:100]},
            )
            session.commit()
        except (OperationalError, BusyError) as exc:  # the store or the audit trail is held: nothing was stored
            session.rollback()
            _log.warning("gateway %s: the post was refused (%s)", source.name, getattr(exc, "orig", exc))
            raise HTTPException(
                status_code=503,
                detail="the store is busy; nothing was stored, send again",
                headers={"Retry-After": "5"},
            ) from exc
        # The reply carries only what this gateway sent: counts, its own patients, and every
        # element that was not stored (no alert texts, nothing of other patients).
        quarantine = [{"location": q.location, "reason": q.reason, "detail": q.detail} for q in summary.quarantine]
        return {"gateway": source.name, **summary.to_dict(), "quarantine": quarantine, "alerts_raised": raised}

    @router.post("/omh", summary="Open mHealth data points (a list, or {'points': [...]})")
    def ingest_omh(
        payload: Annotated[Any, Depends(gateway_json)],
        session: DbSession,
        source: Annotated[GatewayRow, Depends(gateway)],
        source_timezone: str | None = None,
    ) -> dict[str, Any]:
        points = payload.get("points") if isinstance(payload, dict) else payload
        if not isinstance(points, list):
            raise HTTPException(status_code=422, detail="expected a list of OMH data points or {'points': [...]}")
        _cap(len(points), "data points")
        now = datetime.now(UTC)
        try:
            result = read_omh(points, source_timezone=source_timezone, where="body", now=now)
        except ValidationError as exc:
            raise HTTPException(status_code=422, detail=exc.problems) from exc
        return _ingest(session, result, source, now)

    @router.post("/fhir", summary="A FHIR R4 Bundle of Observations and QuestionnaireResponses")
    def ingest_fhir(
        payload: Annotated[Any, Depends(gateway_json)],
        session: DbSession,
        source: Annotated[GatewayRow, Depends(gateway)],
    ) -> dict[str, Any]:
        _cap(_count(payload.get("entry")) if isinstance(payload, dict) else 1, "bundle entries")
        now = datetime.now(UTC)
        return _ingest(session, read_fhir_bundle(payload, where="body", now=now), source, now)

    @router.post("/epro", summary="One FHIR QuestionnaireResponse (ePRO)")
    def ingest_epro(
        payload: Annotated[Any, Depends(gateway_json)],
        session: DbSession,
        source: Annotated[GatewayRow, Depends(gateway)],
    ) -> dict[str, Any]:
        _cap(_count(payload.get("item")) if isinstance(payload, dict) else 1, "items")
        now = datetime.now(UTC)
        return _ingest(session, read_questionnaire_response(payload, where="body", now=now), source, now)

    @router.post("/assessment", summary="Clinician CRS/ICANS assessments: {'patient', 'crs': [...], 'icans': [...]}")
    def ingest_assessment(
        payload: Annotated[Any, Depends(gateway_json)],
        session: DbSession,
        source: Annotated[GatewayRow, Depends(gateway)],
    ) -> dict[str, Any]:
        if isinstance(payload, dict):
            _cap(_count(payload.get("crs")) + _count(payload.get("icans")), "assessments")
        now = datetime.now(UTC)
        return _ingest(session, read_assessments(payload, where="body", now=now), source, now)

    app.include_router(router)
    install_error_pages(app)  # query-service errors and malformed parameters: JSON on /api/, else the HTML page
    screens = ScreenCache(settings.screen_result)  # the screen result, shared by the pages and the JSON API
    app.include_router(read_router(settings, products, screens))
    app.include_router(risk_api_router(products))
    app.include_router(reports_api(settings, products))
    app.include_router(cases_api(settings))
    app.include_router(signal_management_api(settings, products, screens))
    app.include_router(genotox_api())
    app.include_router(followup_api(products, load_ltfu_rules(), load_jurisdictions(), settings.db))
    app.include_router(web_router(settings, screens))

    @app.get("/api/v1/health", tags=["meta"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
