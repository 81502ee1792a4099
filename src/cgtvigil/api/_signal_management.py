"""The JSON API of the signal workflow (issue 15): ``/api/v1/workflow/signals`` (list, open a
signal, one signal with its timeline and evidence, advance with an electronic signature,
attach evidence, share with a regulator reviewer, open or change a risk) and
``/api/v1/workflow/rescreen``. The same query services, scope and audit as the pages; a
signature is the user's password in the body, checked like a log-in."""

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field

from cgtvigil.access import throttled_check
from cgtvigil.api._read import _UNAUTHORISED, api_reader
from cgtvigil.config import Settings
from cgtvigil.model import ProductDictionary
from cgtvigil.risk_management import Risk
from cgtvigil.screening import ScreenCache
from cgtvigil.signal_management import (
    EvidenceDraft,
    RescreenReport,
    SignalDetail,
    SignalRequest,
    SignalSummary,
    Timelines,
    advance_signal,
    attach_evidence,
    create_signal,
    draft_for,
    list_signals,
    load_timelines,
    open_risk,
    rescreen_signals,
    screen_evidence,
    share_signal,
    signal_detail,
)
from cgtvigil.web import Reader, audit_read
from cgtvigil.web._security import DbSession, client_address

__all__ = ["SIGNAL_READERS", "SIGNAL_WRITERS", "signal_management_api"]

SIGNAL_READERS = ("safety_scientist", "regulator_reviewer", "administrator")
SIGNAL_WRITERS = ("safety_scientist", "administrator")


class Signed(BaseModel):
    """An electronic signature: the signer's password re-entered, and what the signature means."""

    password: str = Field(min_length=1, max_length=256, description="the signer's own password, re-entered")
    meaning: Literal["authorship", "review", "approval", "responsibility"]


class Advance(Signed):
    to: str = Field(examples=["validation"], description="the next state (see next_states), or closed")
    rationale: str = Field(min_length=1, max_length=4000)
    outcome: Literal["refuted", "monitored", "confirmed_risk"] | None = None
    priority: Literal["", "low", "medium", "high"] | None = None
    owner: str | None = Field(None, max_length=64)


class Evidence(BaseModel):
    kind: Literal["literature", "document", "screen_row"]
    title: str = Field("", max_length=256)
    reference: str = Field("", max_length=512, examples=["doi:10.1056/NEJMoa1707447"])
    sha256: str = Field("", pattern=r"^([0-9a-f]{64})?$", description="document: its content's SHA-256")
    drug: str = Field("", max_length=256, description="screen_row: the screened drug")
    level: Literal["pt", "topic"] = "pt"
    event: str = Field("", max_length=256, description="screen_row: the event")


class Share(BaseModel):
    reviewer: str = Field(max_length=64, examples=["reg.user"])
    revoke: bool = False


class OpenRisk(BaseModel):
    risk: Risk
    rationale: str = Field(min_length=1, max_length=2000)


def _now() -> datetime:
    return datetime.now(UTC)


def signal_management_api(settings: Settings, products: ProductDictionary, screens: ScreenCache) -> APIRouter:
    router = APIRouter(prefix="/api/v1/workflow", tags=["signal workflow"], responses=_UNAUTHORISED)  # type: ignore[arg-type]
    readers = Annotated[Reader, Depends(api_reader(*SIGNAL_READERS))]
    writers = Annotated[Reader, Depends(api_reader(*SIGNAL_WRITERS, write=True))]

    def timelines() -> Timelines:
        return load_timelines(settings.signal_timelines)

    @router.get("/signals", response_model=list[SignalSummary])
    def signals(
        session: DbSession,
        who: readers,
        state: Annotated[str, Query(max_length=16, description="open, all, or one state")] = "open",
        product: Annotated[str, Query(max_length=128)] = "",
    ) -> list[SignalSummary]:
        """The signals in scope (a sponsor's own, a reviewer's shared ones), due first."""
        found = list_signals(session, who.scope, _now(), state=state, product=product)
        audit_read(session, who.scope, "signal.list", "signals", state=state, via="api")
        return found

    @router.post("/signals", response_model=SignalDetail, status_code=201)
    def open_signal(session: DbSession, who: writers, body: Annotated[SignalRequest, Body()]) -> SignalDetail:
        """Open a signal from a screen row, an alert, a follow-up alert or a case series."""
        draft = draft_for(session, who.scope, screens, products, body)
        signal = create_signal(session, who.scope, draft, at=_now(), timelines=timelines())
        session.commit()
        return signal_detail(session, who.scope, signal.id, _now(), timelines().verified)

    @router.get("/signals/{signal_id}", response_model=SignalDetail)
    def signal(session: DbSession, signal_id: int, who: readers) -> SignalDetail:
        """One signal with its timeline of signed steps, evidence and decisions."""
        found = signal_detail(session, who.scope, signal_id, _now(), timelines().verified)
        audit_read(session, who.scope, "signal.read", f"signal:{signal_id}", via="api")
        return found

    @router.post("/signals/{signal_id}/advance", response_model=SignalDetail)
    def advance(
        request: Request, session: DbSession, signal_id: int, who: writers, body: Annotated[Advance, Body()]
    ) -> SignalDetail:
        """Move the signal to its next state, signed (password and meaning)."""
        advance_signal(
            session,
            who.scope,
            signal_id,
            to=body.to,
            rationale=body.rationale,
            meaning=body.meaning,
            password=body.password,
            at=_now(),
            check=throttled_check,
            timelines=timelines(),
            outcome=body.outcome,
            priority=body.priority,
            owner=body.owner,
            client=client_address(request),
        )
        session.commit()
        return signal_detail(session, who.scope, signal_id, _now(), timelines().verified)

    @router.post("/signals/{signal_id}/evidence", response_model=SignalDetail)
    def evidence(session: DbSession, signal_id: int, who: writers, body: Annotated[Evidence, Body()]) -> SignalDetail:
        """Attach a literature reference, a document (by its SHA-256) or a screen row."""
        if body.kind == "screen_row":
            draft = screen_evidence(screens, who.scope, body.drug, body.level, body.event)
        else:
            draft = EvidenceDraft(
                kind=body.kind, title=body.title or body.reference, reference=body.reference, sha256=body.sha256
            )
        attach_evidence(session, who.scope, signal_id, draft, at=_now())
        session.commit()
        return signal_detail(session, who.scope, signal_id, _now(), timelines().verified)

    @router.post("/signals/{signal_id}/share", response_model=SignalDetail)
    def share(session: DbSession, signal_id: int, who: writers, body: Annotated[Share, Body()]) -> SignalDetail:
        """Share the signal with a regulator reviewer (read-only), or end that."""
        share_signal(session, who.scope, signal_id, body.reviewer, at=_now(), revoke=body.revoke)
        session.commit()
        return signal_detail(session, who.scope, signal_id, _now(), timelines().verified)

    @router.post("/signals/{signal_id}/risk", response_model=SignalDetail)
    def risk(session: DbSession, signal_id: int, who: writers, body: Annotated[OpenRisk, Body()]) -> SignalDetail:
        """A validated signal opens or changes a risk of its product's register (linked both ways)."""
        open_risk(session, who.scope, products, signal_id, body.risk, rationale=body.rationale, at=_now())
        session.commit()
        return signal_detail(session, who.scope, signal_id, _now(), timelines().verified)

    @router.post("/rescreen", response_model=RescreenReport)
    def rescreen(session: DbSession, who: writers) -> RescreenReport:
        """Bring the open signals' screen rows up to the current screen result; flag what changed."""
        report = rescreen_signals(session, who.scope, screens, at=_now())
        session.commit()
        return report

    return router
