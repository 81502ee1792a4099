"""Signal pages: the screen (filters, search, sort both ways, paging, CSV of what is
filtered), the case drill-down, a product's profile and the registry aggregates. Each handler
calls a screening query service and renders a template."""

import functools
from collections.abc import Sequence
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup, escape

from cgtvigil.config import Settings
from cgtvigil.model import ProductDictionary
from cgtvigil.screening import (
    ScreenCache,
    SignalFilters,
    SignalRow,
    case_page,
    onset_view,
    product_profile,
    registry_aggregates,
    signal_csv,
    signal_page,
    signal_points,
)
from cgtvigil.web._charts import encode, onset_chart, product_chart, signal_scatter, trend_chart
from cgtvigil.web._render import Reader, audit_read, escape_text, reader, render
from cgtvigil.web._security import DbSession

__all__ = ["SCREEN_READERS", "csv_response", "signal_table_rows", "signals_router"]

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


def _stat(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


@functools.lru_cache(maxsize=8192)
def _url_part(text: str) -> str:
    """As Jinja's ``urlencode`` filter quotes a text (UTF-8, only "/" kept); names repeat."""
    return quote(text, safe="/")


def signal_table_rows(rows: Sequence[SignalRow], *, ranked: bool, back: str, can_open_signal: bool) -> Markup:
    """The ``<tr>`` elements of the signals table, every text escaped as the template did.

    Built here in one pass instead of in the template: the template's per-cell expressions and
    filters (``format``, ``urlencode``, ``join``) cost more CPU for 100 rows than the rest of the
    page. ``back`` is the filter query of the page (URL-quoted here, as ``urlencode`` did).
    ``tests/unit/test_web_rows.py`` keeps the output byte for byte that of the template."""
    esc = escape_text
    back_q = _url_part(back)
    out = []
    for r in rows:
        drug, event_type = esc(r.drug), esc(r.event_type)
        drug_q, event_q = _url_part(r.drug), _url_part(r.event)
        name = f'<a href="/products/{esc(r.product_id)}">{drug}</a>' if r.product_id else drug
        priority = ""
        if ranked:
            priority = (
                f'<td>{r.priority} <small class="muted">p={r.priority_score:.2f}; '
                f"{esc(str(r.priority_explanation))}</small></td>"
                if r.priority is not None
                else "<td>–</td>"
            )
        cases = (
            f'<a href="/signals/cases?drug={drug_q}&amp;event={event_q}&amp;back={back_q}">cases</a>'
            if r.event_type == "pt"
            else ""
        )
        opener = (
            f' <a class="open-signal" href="/workflow/signals/new?drug={drug_q}&amp;level={event_type}'
            f'&amp;event={event_q}">open a signal</a>'
            if can_open_signal
            else ""
        )
        out.append(
            f'<tr class="{"sdr" if r.rules else ""}"><td>{name}</td><td>{esc(r.event_label)}</td>'
            f"<td>{event_type}</td><td>{r.n}</td><td>{_stat(r.expected)}</td><td>{_stat(r.prr)}</td>"
            f"<td>{_stat(r.ror_lower)}</td><td>{_stat(r.ic025)}</td><td>{_stat(r.ebgm)}</td><td>{_stat(r.eb05)}</td>"
            f"{priority}<td>{esc(', '.join(r.rules))}</td>\n<td>{cases}{opener}</td></tr>"
        )
    return Markup("".join(out))


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

        def scatter() -> Markup:  # escaped once for the attribute, not on every page (~200 kB)
            return escape(encode(signal_scatter(signal_points(screens, who.scope, filters, SCATTER_ROWS))))

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
        filter_query = _query(filters, page=None)
        return render(
            request,
            "signals.html",
            who.user,
            title="Signals",
            screen=found,
            filters=filters,
            headers=headers,
            filter_query=filter_query,
            csv_query=filter_query,
            rows=signal_table_rows(
                found.rows, ranked=found.ranked, back=filter_query, can_open_signal=who.scope.signal_writes
            ),
            scatter_spec=screens.derived(filters, "scatter-html", scatter),  # the same plot on every page
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
