"""The monitoring board: a thin page over :func:`cgtvigil.monitoring.board`."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from cgtvigil.model import ProductDictionary
from cgtvigil.monitoring import BoardRow, board
from cgtvigil.web._render import Reader, audit_read, escape_text, reader, render, time_html
from cgtvigil.web._security import DbSession

__all__ = ["CARE_TEAM", "board_rows", "monitoring_router"]

CARE_TEAM = ("site_investigator", "safety_scientist", "administrator")


def board_rows(rows: Sequence[BoardRow]) -> Markup:
    """The ``<tr>`` elements of the board, every text escaped as the template did: built in one
    pass (the template's per-cell expressions cost more CPU for 100 rows than the rest of the
    page); ``tests/unit/test_web_rows.py`` keeps the output byte for byte that of the template."""
    esc = escape_text
    out = []
    for p in rows:
        deadline = "–"
        if p.next_deadline:
            deadline = f"{time_html(p.next_deadline)}{' <b>overdue</b>' if p.overdue else ''}"
        pid = esc(p.id)
        out.append(
            f'<tr class="sev-{esc(p.worst or "none")}"><td><a href="/patients/{pid}">{pid}</a></td>'
            f"<td>{esc(p.site)}</td><td>{esc(p.product or '–')}</td>"
            f"<td>{p.day if p.day is not None else '–'}</td><td>{p.open}</td><td>{esc(p.worst or '–')}</td>"
            f'<td class="{"overdue" if p.overdue else ""}">{deadline}</td><td>{p.escalated or ""}</td>'
            f'<td class="notified-{esc(p.notified or "none")}">{esc(p.notified)}</td></tr>'
        )
    return Markup("".join(out))


def monitoring_router(products: ProductDictionary) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/monitoring")
    def board_page(
        request: Request,
        session: DbSession,
        who: Annotated[Reader, Depends(reader(*CARE_TEAM))],
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    ) -> HTMLResponse:
        """Every patient in scope with an open alert, whatever the day after infusion, most
        severe first, with deadlines and escalations, then the recent-infusion window."""
        found = board(session, who.scope, products, datetime.now(UTC), page)
        audit_read(session, who.scope, "patient.list", "monitoring-board", patients=len(found.rows), page=page)
        return render(
            request, "monitoring.html", who.user, title="Monitoring", board=found, rows=board_rows(found.rows)
        )

    return router
