"""The JSON API of the risk registers (issue 15): ``/api/v1/risk/registers`` (the registers in
scope), one register with its versions and changes, an edit (the next version, audited), the
EU RMP / US REMS alignment and the effectiveness indicators. The same query services and scope
as the pages; a write with the session cookie needs the page's CSRF token (``X-CSRF-Token``)."""

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field

from cgtvigil.api._read import api_reader
from cgtvigil.model import ProductDictionary
from cgtvigil.risk_management import (
    Alignment,
    MeasureIndicators,
    RegisterSummary,
    RegisterView,
    RiskRegister,
    register_alignment,
    register_index,
    register_indicators,
    register_view,
    save_register,
)
from cgtvigil.web import Reader, audit_read
from cgtvigil.web._security import DbSession
from cgtvigil.web.risk_management import REGISTER_EDITORS, REGISTER_READERS

__all__ = ["risk_api_router"]


class RegisterEdit(BaseModel):
    document: RiskRegister
    note: str = Field(min_length=1, max_length=2000, examples=["CRS category confirmed against the EPAR RMP summary"])


def risk_api_router(products: ProductDictionary) -> APIRouter:
    router = APIRouter(prefix="/api/v1/risk", tags=["risk management"])

    @router.get("/registers", response_model=list[RegisterSummary])
    def registers(
        session: DbSession, who: Annotated[Reader, Depends(api_reader(*REGISTER_READERS))]
    ) -> list[RegisterSummary]:
        """The risk register of every product in scope, with its version, counts and gaps."""
        return register_index(session, who.scope, products, datetime.now(UTC).date())

    @router.get("/registers/{product_id}", response_model=RegisterView)
    def register(
        session: DbSession,
        product_id: str,
        who: Annotated[Reader, Depends(api_reader(*REGISTER_READERS))],
        version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    ) -> RegisterView:
        """One register (the latest version, or ``version``) with every version and change."""
        return register_view(session, who.scope, products, product_id, version)

    @router.post("/registers/{product_id}", response_model=RegisterView)
    def edit(
        session: DbSession,
        product_id: str,
        who: Annotated[Reader, Depends(api_reader(*REGISTER_EDITORS, write=True))],
        body: Annotated[RegisterEdit, Body()],
    ) -> RegisterView:
        """Store the document as the register's next version (an equal document stores nothing)."""
        document = body.document.model_copy(update={"product_id": product_id.lower()})
        save_register(session, who.scope, products, document, at=datetime.now(UTC), note=body.note)
        session.commit()
        return register_view(session, who.scope, products, product_id)

    @router.get("/registers/{product_id}/alignment", response_model=Alignment)
    def alignment(
        session: DbSession,
        product_id: str,
        who: Annotated[Reader, Depends(api_reader(*REGISTER_READERS))],
        on: Annotated[date | None, Query(examples=["2025-07-01"])] = None,
    ) -> Alignment:
        """Each risk's EU measures and US elements in force on ``on`` (default today), gaps, history."""
        return register_alignment(session, who.scope, products, product_id, on or datetime.now(UTC).date())

    @router.get("/registers/{product_id}/indicators", response_model=list[MeasureIndicators])
    def indicators(
        session: DbSession, product_id: str, who: Annotated[Reader, Depends(api_reader(*REGISTER_READERS))]
    ) -> list[MeasureIndicators]:
        """The effectiveness indicators of the register's measures by infusion quarter against target."""
        found = register_indicators(session, who.scope, products, product_id, datetime.now(UTC))
        audit_read(session, who.scope, "registry.aggregate", f"risk-indicators:{product_id}"[:256], via="api")
        return found

    return router
