"""Risk-register pages (issue 15): the registers in the reader's scope, one register with its
versions and changes (and, for those who may, an edit that stores the next version), the EU
RMP / US REMS alignment, and the effectiveness indicators with their trends against target.
Each handler calls a risk_management query service and renders a template."""

import json
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cgtvigil.errors import ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.risk_management import (
    parse_register,
    register_alignment,
    register_index,
    register_indicators,
    register_view,
    save_register,
)
from cgtvigil.web._charts import encode, indicator_chart
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession, require_csrf

__all__ = ["REGISTER_EDITORS", "REGISTER_READERS", "risk_router"]

REGISTER_READERS = ("safety_scientist", "regulator_reviewer", "administrator")
REGISTER_EDITORS = ("safety_scientist", "administrator")


def risk_router(products: ProductDictionary) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/risk")
    def index(
        request: Request, session: DbSession, who: Annotated[Reader, Depends(reader(*REGISTER_READERS))]
    ) -> HTMLResponse:
        rows = register_index(session, who.scope, products, datetime.now(UTC).date())
        return render(request, "risk_index.html", who.user, title="Risk registers", rows=rows)

    def _register_page(
        request: Request, session: DbSession, who: Reader, product_id: str, version: int | None, **extra: object
    ) -> HTMLResponse:
        view = register_view(session, who.scope, products, product_id, version)
        text = json.dumps(view.document.model_dump(mode="json"), indent=1, ensure_ascii=False)
        return render(
            request,
            "risk_register.html",
            who.user,
            status=400 if extra.get("problems") else 200,
            title=f"{view.brand} – risk register",
            view=view,
            document=extra.pop("document", text),
            **extra,
        )

    @router.get("/risk/{product_id}")
    def register(
        request: Request,
        session: DbSession,
        product_id: str,
        who: Annotated[Reader, Depends(reader(*REGISTER_READERS))],
        version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    ) -> HTMLResponse:
        return _register_page(request, session, who, product_id, version)

    @router.post("/risk/{product_id}", dependencies=[Depends(require_csrf)])
    def edit(
        request: Request,
        session: DbSession,
        product_id: str,
        who: Annotated[Reader, Depends(reader(*REGISTER_EDITORS))],
        document: Annotated[str, Form(max_length=1_000_000)] = "",
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        """Store the edited document as the next version (audited); problems are shown with
        what was typed kept."""
        try:
            data = json.loads(document)
            if isinstance(data, dict):
                data["product_id"] = product_id.lower()
            stored = save_register(
                session,
                who.scope,
                products,
                parse_register(data, where="the document"),
                at=datetime.now(UTC),
                note=note,
            )
        except json.JSONDecodeError as exc:
            problems = [f"the document is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]
        except ValidationError as exc:
            problems = [str(p) for p in exc.problems]
        else:
            session.commit()
            return RedirectResponse(f"/risk/{product_id.lower()}?version={stored.version}", status_code=303)
        session.rollback()
        return _register_page(request, session, who, product_id, None, problems=problems, document=document, note=note)

    @router.get("/risk/{product_id}/alignment")
    def alignment(
        request: Request,
        session: DbSession,
        product_id: str,
        who: Annotated[Reader, Depends(reader(*REGISTER_READERS))],
        on: Annotated[date | None, Query()] = None,
    ) -> HTMLResponse:
        found = register_alignment(session, who.scope, products, product_id, on or datetime.now(UTC).date())
        return render(request, "risk_alignment.html", who.user, title=f"{found.brand} – EU/US alignment", found=found)

    @router.get("/risk/{product_id}/indicators")
    def indicators(
        request: Request,
        session: DbSession,
        product_id: str,
        who: Annotated[Reader, Depends(reader(*REGISTER_READERS))],
    ) -> HTMLResponse:
        found = register_indicators(session, who.scope, products, product_id, datetime.now(UTC))
        audit_read(session, who.scope, "registry.aggregate", f"risk-indicators:{product_id}"[:256])
        charts = {
            (m.measure_key, s.indicator): encode(indicator_chart(s))
            for m in found
            for s in m.indicators
            if s.status == "computed"
        }
        brand = products.by_id()[product_id.lower()].brand
        return render(
            request,
            "risk_indicators.html",
            who.user,
            title=f"{brand} – indicators",
            found=found,
            charts=charts,
            brand=brand,
        )

    return router
