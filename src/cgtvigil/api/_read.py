"""The JSON API of what the pages show (issue 11): ``/api/v1/signals``, ``/cases``,
``/products``, ``/registry``, ``/patients`` (summary, observations, ePRO answers) and
``/alerts`` (with acknowledge and resolve). The same query services, scope and audit as the
pages; authentication by the session cookie (writes then need the page's CSRF token in the
``X-CSRF-Token`` header) or by a personal API token (``Authorization: Bearer cgtv_...``)."""

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, TypeAdapter

from cgtvigil.access import api_token_user, scope_for
from cgtvigil.config import Settings
from cgtvigil.model import ProductDictionary
from cgtvigil.monitoring import (
    AlertView,
    Board,
    EproReport,
    ObservationPoint,
    ObservationPointRow,
    PatientForecast,
    PatientSummary,
    act_on_alert,
    alert_views,
    board,
    epro_reports,
    observation_points,
    patient_forecast,
    patient_summary,
)
from cgtvigil.screening import (
    CasePage,
    OnsetView,
    ProductProfile,
    RegistryAggregates,
    ScreenCache,
    SignalFilters,
    SignalPage,
    case_page,
    onset_view,
    product_profile,
    registry_aggregates,
    signal_csv,
    signal_page,
)
from cgtvigil.store import UserRow
from cgtvigil.web import Reader, audit_read
from cgtvigil.web._security import DbSession, session_user_of
from cgtvigil.web.monitoring import CARE_TEAM
from cgtvigil.web.patients import forecast_models
from cgtvigil.web.signals import SCREEN_READERS, csv_response

__all__ = ["read_router"]

AGGREGATE_READERS = ("regulator_reviewer", "safety_scientist", "administrator")
PATIENT_READERS = (*CARE_TEAM, "patient")
ACTORS = ("site_investigator", "administrator")
_POINTS = TypeAdapter(list[ObservationPointRow])
_UNAUTHORISED = {
    401: {"description": "no session and no valid API token"},
    403: {"description": "the role may not read this"},
    404: {"description": "not found, or outside the reader's scope (not told apart)"},
}


def _now() -> datetime:
    return datetime.now(UTC)


def _json(found: BaseModel) -> Response:
    """The model as FastAPI's ``response_model`` would send it (the same bytes), without its
    second pass: FastAPI re-validates a returned model in a worker thread before serialising."""
    return Response(found.model_dump_json(), media_type="application/json")


def api_user(
    request: Request, session: DbSession, authorization: Annotated[str | None, Header()] = None
) -> tuple[UserRow, bool]:
    """The user of a personal API token (Bearer) or of the session cookie; whether by token."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and token:
        user = api_token_user(session, token.strip(), _now())
        session.commit()
        if user is None:
            raise HTTPException(401, "the API token is unknown, revoked or expired", {"WWW-Authenticate": "Bearer"})
        request.state.user = user.username  # for the audit of denied access
        return user, True
    user = session_user_of(request, session)
    if user is None:
        raise HTTPException(401, "log in or send a personal API token (Authorization: Bearer ...)")
    return user, False


def api_reader(*allowed: str, write: bool = False) -> Any:
    # async: no I/O here, so FastAPI runs it on the event loop instead of a worker thread
    async def check(
        request: Request,
        who: Annotated[tuple[UserRow, bool], Depends(api_user)],
        x_csrf_token: Annotated[str | None, Header()] = None,
    ) -> Reader:
        user, by_token = who
        if allowed and user.role not in allowed:
            raise HTTPException(403, f"the {user.role.replace('_', ' ')} role may not use this route")
        if write and not by_token:  # a cookie is sent by the browser on its own: prove the page sent it
            expected = request.session.get("csrf")
            if not expected or not x_csrf_token or not secrets.compare_digest(str(expected), x_csrf_token):
                raise HTTPException(403, "a write with the session cookie needs the X-CSRF-Token header")
        return Reader(user=user, scope=scope_for(user))

    return check


class AlertAction(BaseModel):
    note: str = Field("", max_length=500, examples=["called the patient; admitted for observation"])


def read_router(settings: Settings, products: ProductDictionary, screens: ScreenCache) -> APIRouter:
    router = APIRouter(prefix="/api/v1", responses=_UNAUTHORISED)  # type: ignore[arg-type]

    @router.get("/signals", tags=["signals"], response_model=SignalPage)
    def signals(
        who: Annotated[Reader, Depends(api_reader(*SCREEN_READERS))], filters: Annotated[SignalFilters, Query()]
    ) -> Response:
        """The screen, filtered, searched (``q`` in product and event), sorted either way and paged."""
        found = signal_page(screens, who.scope, filters, products)
        if found is None:
            raise HTTPException(404, "no screen result is available yet")
        return _json(found)

    @router.get(
        "/signals.csv",
        tags=["signals"],
        response_class=Response,
        responses={200: {"content": {"text/csv": {"example": "drug,event_type,event,n,...\n"}}}},
    )
    def signals_export(
        who: Annotated[Reader, Depends(api_reader(*SCREEN_READERS))], filters: Annotated[SignalFilters, Query()]
    ) -> Response:
        """Every row matching the filters (all pages), in the chosen order."""
        return csv_response(signal_csv(screens, who.scope, filters, products), "signals.csv")

    @router.get("/signals/cases", tags=["signals"], response_model=CasePage)
    def cases(
        who: Annotated[Reader, Depends(api_reader(*SCREEN_READERS))],
        drug: Annotated[str, Query(max_length=500, examples=["KYMRIAH"])],
        event: Annotated[str, Query(max_length=500, examples=["CYTOKINE RELEASE SYNDROME"])],
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> CasePage:
        """The de-duplicated cases of one pair with their count, and its statistic by quarter."""
        return case_page(settings.db, who.scope, drug, event, page, page_size)

    @router.get("/signals/onset", tags=["signals"], response_model=OnsetView)
    def onset(
        who: Annotated[Reader, Depends(api_reader(*SCREEN_READERS))],
        drug: Annotated[str, Query(max_length=500, examples=["KYMRIAH"])],
        event: Annotated[str, Query(max_length=500, examples=["CYTOKINE RELEASE SYNDROME"])],
    ) -> OnsetView:
        """Time to onset of one pair: its onset intervals (days) and Weibull fit, as the drill-down's chart."""
        return onset_view(settings.db, who.scope, drug, event)

    @router.get("/products/{product_id}", tags=["signals"], response_model=ProductProfile)
    def product(product_id: str, who: Annotated[Reader, Depends(api_reader(*SCREEN_READERS))]) -> ProductProfile:
        """A product's screen rows against the mean EB05 of its class."""
        return product_profile(screens, who.scope, products, product_id)

    @router.get("/registry", tags=["registry"], response_model=RegistryAggregates)
    def registry(
        session: DbSession, who: Annotated[Reader, Depends(api_reader(*AGGREGATE_READERS))]
    ) -> RegistryAggregates:
        """Registered patients by product; cells below 5 suppressed."""
        found = registry_aggregates(session, who.scope, products)
        audit_read(session, who.scope, "registry.aggregate", "registry", via="api")
        return found

    @router.get("/patients", tags=["patients"], response_model=Board)
    def patients(
        session: DbSession,
        who: Annotated[Reader, Depends(api_reader(*CARE_TEAM))],
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    ) -> Response:
        """The monitoring board: patients in scope with open alerts, then recent infusions."""
        found = board(session, who.scope, products, _now(), page)
        audit_read(
            session, who.scope, "patient.list", "monitoring-board", patients=len(found.rows), page=page, via="api"
        )
        return _json(found)

    @router.get("/patients/{patient_id}", tags=["patients"], response_model=PatientSummary)
    def patient(
        session: DbSession, patient_id: str, who: Annotated[Reader, Depends(api_reader(*PATIENT_READERS))]
    ) -> Response:
        """Product, day since infusion, monitoring plan tier and last data per device."""
        found = patient_summary(session, who.scope, products, patient_id, _now())
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", via="api")
        return _json(found)

    @router.get("/patients/{patient_id}/observations", tags=["patients"], response_model=list[ObservationPoint])
    def observations(
        session: DbSession,
        patient_id: str,
        who: Annotated[Reader, Depends(api_reader(*PATIENT_READERS))],
        since: Annotated[datetime | None, Query(examples=["2026-11-20T00:00:00Z"])] = None,
        until: Annotated[datetime | None, Query()] = None,
        kind: Annotated[list[str] | None, Query(max_length=20, examples=[["temperature"]])] = None,
        limit: Annotated[int, Query(ge=1, le=20_000)] = 5000,
    ) -> Response:
        """Current observations (UTC, ``Z``), oldest first, with the day since infusion."""
        found = observation_points(
            session, who.scope, patient_id, since=since, until=until, kinds=tuple(kind or ()), limit=limit
        )
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="observations", via="api")
        # thousands of points: plain dicts serialised in one pass by pydantic (no model per point)
        return Response(_POINTS.dump_json(found), media_type="application/json")

    @router.get("/patients/{patient_id}/forecast", tags=["patients"], response_model=PatientForecast)
    def forecast(
        session: DbSession, patient_id: str, who: Annotated[Reader, Depends(api_reader(*PATIENT_READERS))]
    ) -> PatientForecast:
        """The risk curves of the deployment's forecasting models from the patient's last day with
        data (CRS/ICANS onset, grade >= 3), their bootstrap band, the inputs that moved them most
        and the alert thresholds of the plan rules; ``configured`` false without a model."""
        models, problem = forecast_models(settings)
        found = patient_forecast(session, who.scope, patient_id, models)
        if problem:
            found.note = problem
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="forecast", via="api")
        return found

    @router.get("/patients/{patient_id}/epro", tags=["patients"], response_model=list[EproReport])
    def epro(
        session: DbSession,
        patient_id: str,
        who: Annotated[Reader, Depends(api_reader(*PATIENT_READERS))],
        days: Annotated[int, Query(ge=1, le=366)] = 30,
    ) -> list[EproReport]:
        """What the patient answered on each ePRO, newest first, missed days included."""
        found = epro_reports(session, who.scope, patient_id, _now(), days)
        audit_read(session, who.scope, "patient.read", f"patient:{patient_id}", part="epro", via="api")
        return found

    @router.get("/alerts", tags=["alerts"], response_model=list[AlertView])
    def alerts(
        session: DbSession,
        who: Annotated[Reader, Depends(api_reader(*PATIENT_READERS))],
        patient: Annotated[str | None, Query(max_length=64)] = None,
        status: Literal["active", "all"] = "active",
    ) -> list[AlertView]:
        """Alerts in scope with their history and notifications."""
        found = alert_views(session, who.scope, _now(), patient_id=patient, status=status)
        audit_read(
            session, who.scope, "patient.read", f"patient:{patient}" if patient else "alerts", part="alerts", via="api"
        )
        return found

    def _act(
        session: Any, who: Reader, alert_id: int, action: Literal["acknowledge", "resolve"], note: str
    ) -> AlertView:
        found = act_on_alert(session, who.scope, alert_id, action, _now(), note)
        audit_read(
            session, who.scope, f"alert.{action}", f"alert:{alert_id}", via="api", **({"note": note} if note else {})
        )
        return found

    @router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"], response_model=AlertView)
    def acknowledge(
        session: DbSession,
        alert_id: int,
        who: Annotated[Reader, Depends(api_reader(*ACTORS, write=True))],
        body: Annotated[AlertAction | None, Body()] = None,
    ) -> AlertView:
        return _act(session, who, alert_id, "acknowledge", body.note if body else "")

    @router.post("/alerts/{alert_id}/resolve", tags=["alerts"], response_model=AlertView)
    def resolve(
        session: DbSession,
        alert_id: int,
        who: Annotated[Reader, Depends(api_reader(*ACTORS, write=True))],
        body: Annotated[AlertAction | None, Body()] = None,
    ) -> AlertView:
        return _act(session, who, alert_id, "resolve", body.note if body else "")

    return router
