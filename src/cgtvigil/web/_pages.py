"""The dashboard's router: the start page, and the page routers of each area (accounts and
administration, signals, monitoring, patients, ePRO). Pages are thin: they call the query
services of screening and monitoring (which apply the reader's scope) and render a template."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from cgtvigil.config import Settings
from cgtvigil.screening import ScreenCache
from cgtvigil.store import UserRow, load_jurisdictions, load_ltfu_rules, load_products
from cgtvigil.web._accounts import accounts_router
from cgtvigil.web._render import render
from cgtvigil.web._security import current_user
from cgtvigil.web.cases import cases_router
from cgtvigil.web.docs import docs_router
from cgtvigil.web.epro import epro_router
from cgtvigil.web.followup import followup_router
from cgtvigil.web.genotox import genotox_router
from cgtvigil.web.monitoring import monitoring_router
from cgtvigil.web.patients import patients_router
from cgtvigil.web.reports import reports_router
from cgtvigil.web.risk_management import risk_router
from cgtvigil.web.signal_management import signal_management_router
from cgtvigil.web.signals import signals_router
from cgtvigil.web.tokens import tokens_router

__all__ = ["web_router"]


def web_router(settings: Settings, screens: ScreenCache | None = None) -> APIRouter:
    """Every page route; ``screens`` is shared with the JSON API when given."""
    router = APIRouter(include_in_schema=False)
    products = load_products()
    screens = screens or ScreenCache(settings.screen_result)

    @router.get("/")
    def home(request: Request, user: Annotated[UserRow | None, Depends(current_user)]) -> Response:
        if user is None:
            return RedirectResponse("/login", status_code=303)
        if user.role == "patient":
            return RedirectResponse("/epro", status_code=303)
        return render(request, "home.html", user, title="Home")

    for part in (
        accounts_router(settings),  # log-in, log-out, passwords, user administration
        tokens_router(),  # personal API tokens
        docs_router(),  # the API documentation, behind a log-in and offline
        signals_router(settings, products, screens),
        signal_management_router(settings, products, screens),  # the signal workflow (GVP IX)
        cases_router(settings),  # ICSRs: list with the reporting clock, case page, export
        monitoring_router(products),
        patients_router(settings, products),
        risk_router(products),  # risk registers, EU/US alignment, effectiveness indicators
        reports_router(settings, products),  # PBRER/PSUR, DSUR, dossiers: generate, list, download
        genotox_router(),  # a patient's integration sites, VCN and off-target results
        epro_router(settings, products),
        followup_router(products, load_ltfu_rules(), load_jurisdictions(), settings.db),  # long-term follow-up
    ):
        router.routes.extend(part.routes)
    return router
