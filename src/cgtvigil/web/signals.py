"""Signal pages: the screen (filters, search, sort both ways, paging, CSV of what is
filtered), the case drill-down, a product's profile and the registry aggregates. Each handler
calls a screening query service and renders a template."""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from cgtvigil.config import Settings
from cgtvigil.model import ProductDictionary
from cgtvigil.screening import (
    ScreenCache,
    SignalFilters,
    case_page,
    onset_view,
    product_profile,
    registry_aggregates,
    signal_csv,
    signal_page,
    signal_points,
)
from cgtvigil.web._charts import encode, onset_chart, product_chart, signal_scatter, trend_chart
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession

__all__ = ["SCREEN_READERS", "csv_response", "signals_router"]

SCREEN_READERS = ("safety_scientist", "regulator_reviewer", "administrator")
AGGREGATE_READERS = ("regulator_reviewer", "safety_scientist", "administrator")
SCATTER_ROWS = 1000  # the EB05-versus-n plot shows the first rows of the filtered, sorted screen
COLUMNS = (
    ("drug", "Product"),
    ("event", "Event"),
    (None, "Level"),
    ("n", "n"),
    ("expected", "E"),
    ("prr", "PRR"),
    ("ror_lower", "ROR 95% lower"),
    ("ic025", "IC025"),
    ("ebgm", "EBGM"),
    ("eb05", "EB05"),
)


def csv_response(text: str, name: str) -> Response:
    return Response(
        text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _query(filters: SignalFilters, **changes: object) -> str:
    values = filters.model_dump() | changes
    return urlencode({k: v for k, v in values.items() if v not in ("", None) and k != "page_size"})


def _next_order(key: str | None, filters: SignalFilters) -> str:
    """A header's link reverses the current order; a new column opens with its best first
    (the highest statistic, priority 1)."""
    if key != filters.sort:
        return "asc" if key == "priority" else "desc"
    return "asc" if filters.order == "desc" else "desc"


def signals_router(settings: Settings, products: ProductDictionary, screens: ScreenCache) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/signals")
    def signals(
        request: Request,
        who: Annotated[Reader, Depends(reader(*SCREEN_READERS))],
        filters: Annotated[SignalFilters, Query()],
    ) -> HTMLResponse:
        found = signal_page(screens, who.scope, filters, products)
        if found is None:
            return render(request, "signals.html", who.user, title="Signals", missing=True, result_path=screens.path)

        def scatter() -> str:
            return encode(signal_scatter(signal_points(screens, who.scope, filters, SCATTER_ROWS)))

        headers = [
            {
                "key": key,
                "label": label,
                "sorted": key == filters.sort and key is not None,
                "aria": ("descending" if filters.order == "desc" else "ascending") if key == filters.sort else "none",
                "href": "/signals?"
                + _query(
                    filters,
                    sort=key,
                    order=_next_order(key, filters),
                    page=1,
                ),
            }
            for key, label in (*COLUMNS, *((("priority", "Priority"),) if found.ranked else ()))
        ]
        return render(
            request,
            "signals.html",
            who.user,
            title="Signals",
            screen=found,
            filters=filters,
            headers=headers,
            filter_query=_query(filters, page=None),
            csv_query=_query(filters, page=None),
            scatter_spec=screens.derived(filters, "scatter", scatter),  # the same plot on every page
            scatter_rows=min(found.total, SCATTER_ROWS),
            result_path=screens.path,
            can_open_signal=who.scope.signal_writes,  # "open a signal" on a row (the signal workflow)
        )

    @router.get("/signals.csv")
    def signals_csv(
        who: Annotated[Reader, Depends(reader(*SCREEN_READERS))], filters: Annotated[SignalFilters, Query()]
    ) -> Response:
        return csv_response(signal_csv(screens, who.scope, filters, products), "signals.csv")

    @router.get("/signals/cases")
    def cases(
        request: Request,
        who: Annotated[Reader, Depends(reader(*SCREEN_READERS))],
        drug: Annotated[str, Query(max_length=500)],
        event: Annotated[str, Query(max_length=500)],
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        back: Annotated[str, Query(max_length=2000)] = "",
    ) -> HTMLResponse:
        found = case_page(settings.db, who.scope, drug, event, page)
        onset = onset_view(settings.db, who.scope, drug, event)
        back_link = "/signals?" + back if back and not back.startswith(("/", "http")) else "/signals"
        return render(
            request,
            "cases.html",
            who.user,
            title=f"{drug} – {event}",
            found=found,
            trend_spec=encode(trend_chart(found.by_quarter)),
            onset=onset,
            onset_spec=encode(onset_chart(onset)),
            page_query=urlencode({"drug": drug, "event": event, "back": back}),
            back_link=back_link,
            can_open_signal=who.scope.signal_writes,
        )

    @router.get("/products/{product_id}")
    def product(
        request: Request, product_id: str, who: Annotated[Reader, Depends(reader(*SCREEN_READERS))]
    ) -> HTMLResponse:
        profile = product_profile(screens, who.scope, products, product_id)
        return render(
            request,
            "product.html",
            who.user,
            title=profile.brand,
            profile=profile,
            chart=encode(product_chart(profile)),
        )

    @router.get("/registry")
    def registry(
        request: Request, session: DbSession, who: Annotated[Reader, Depends(reader(*AGGREGATE_READERS))]
    ) -> HTMLResponse:
        """Aggregates only, through the one small-cell suppression path."""
        found = registry_aggregates(session, who.scope, products)
        audit_read(session, who.scope, "registry.aggregate", "registry")
        return render(request, "registry.html", who.user, title="Registry", found=found)

    return router
