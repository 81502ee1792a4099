"""Signal workflow pages (issue 15): the signals in scope, a proposed signal from a screen row,
a signal's page (the states it went through, its timeline of signed steps, evidence and
decisions, and the forms to advance it with an electronic signature, attach evidence, share it
and open a risk), and the re-screen. Thin handlers over :mod:`cgtvigil.signal_management`."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError as PydanticValidationError

from cgtvigil.access import throttled_check
from cgtvigil.config import Settings
from cgtvigil.errors import ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.risk_management import Risk
from cgtvigil.screening import ScreenCache
from cgtvigil.signal_management import (
    MEANINGS,
    OUTCOMES,
    STATE_LABELS,
    STATES,
    EvidenceDraft,
    SignalRequest,
    Timelines,
    advance_signal,
    attach_evidence,
    create_signal,
    draft_for,
    list_signals,
    load_timelines,
    open_risk,
    rescreen_signals,
    share_signal,
    signal_detail,
)
from cgtvigil.web._render import Reader, audit_read, reader, render
from cgtvigil.web._security import DbSession, client_address, require_csrf

__all__ = ["SIGNAL_READERS", "SIGNAL_WRITERS", "signal_management_router"]

SIGNAL_READERS = ("safety_scientist", "regulator_reviewer", "administrator")
SIGNAL_WRITERS = ("safety_scientist", "administrator")
Readers = Annotated[Reader, Depends(reader(*SIGNAL_READERS))]
Writers = Annotated[Reader, Depends(reader(*SIGNAL_WRITERS))]


def _now() -> datetime:
    return datetime.now(UTC)


def _problems(exc: PydanticValidationError) -> ValidationError:
    return ValidationError([f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()])


def signal_management_router(settings: Settings, products: ProductDictionary, screens: ScreenCache) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def timelines() -> Timelines:
        return load_timelines(settings.signal_timelines)

    def page(request: Request, session: Any, who: Reader, signal_id: int, status: int = 200, **extra: Any) -> Response:
        found = signal_detail(session, who.scope, signal_id, _now(), timelines().verified)
        audit_read(session, who.scope, "signal.read", f"signal:{signal_id}")
        visited = {e.to_state for e in found.events if e.to_state}
        steps = [
            {
                "state": s,
                "label": STATE_LABELS[s],
                "done": s in visited and s != found.state,
                "current": s == found.state,
            }
            for s in STATES
        ]
        return render(
            request,
            "workflow_signal.html",
            who.user,
            status=status,
            title=f"Signal {found.id}",
            signal=found,
            steps=steps,
            labels=STATE_LABELS,
            meanings=MEANINGS,
            outcomes=OUTCOMES,
            **extra,
        )

    @router.get("/workflow/signals")
    def signals(
        request: Request,
        session: DbSession,
        who: Readers,
        state: Annotated[str, Query(max_length=16)] = "open",
        product: Annotated[str, Query(max_length=128)] = "",
    ) -> HTMLResponse:
        found = list_signals(session, who.scope, _now(), state=state, product=product)
        audit_read(session, who.scope, "signal.list", "signals", state=state)
        return render(
            request,
            "workflow_signals.html",
            who.user,
            title="Signal workflow",
            signals=found,
            state=state,
            states=STATES,
            labels=STATE_LABELS,
            can_write=who.scope.signal_writes,
            verified=timelines().verified,
        )

    @router.get("/workflow/signals/new")
    def proposed(
        request: Request,
        session: DbSession,
        who: Writers,
        drug: Annotated[str, Query(max_length=256)],
        event: Annotated[str, Query(max_length=256)],
        level: Annotated[str, Query(pattern="^(pt|topic)$")] = "pt",
    ) -> HTMLResponse:
        """What a signal opened from this screen row would hold, and the button to open it."""
        draft = draft_for(
            session,
            who.scope,
            screens,
            products,
            SignalRequest(source="screen", drug=drug, level=level, event=event),
        )
        return render(request, "workflow_new.html", who.user, title="Open a signal", draft=draft, level=level)

    @router.post("/workflow/signals", dependencies=[Depends(require_csrf)])
    def open_signal(
        session: DbSession,
        who: Writers,
        drug: Annotated[str, Form(max_length=256)] = "",
        event: Annotated[str, Form(max_length=256)] = "",
        level: Annotated[str, Form(max_length=8)] = "pt",
        title: Annotated[str, Form(max_length=256)] = "",
        priority: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        try:
            request = SignalRequest(
                source="screen",
                drug=drug,
                event=event,
                level=level,
                title=title,
                priority=priority,
            )
        except PydanticValidationError as exc:
            raise _problems(exc) from exc
        draft = draft_for(session, who.scope, screens, products, request)
        signal = create_signal(session, who.scope, draft, at=_now(), timelines=timelines())
        session.commit()
        return RedirectResponse(f"/workflow/signals/{signal.id}", status_code=303)

    @router.get("/workflow/signals/{signal_id}")
    def signal(request: Request, session: DbSession, signal_id: int, who: Readers) -> Response:
        return page(request, session, who, signal_id)

    @router.post("/workflow/signals/{signal_id}/advance", dependencies=[Depends(require_csrf)])
    def advance(
        request: Request,
        session: DbSession,
        signal_id: int,
        who: Writers,
        to: Annotated[str, Form(max_length=16)] = "",
        rationale: Annotated[str, Form(max_length=4000)] = "",
        meaning: Annotated[str, Form(max_length=32)] = "",
        outcome: Annotated[str, Form(max_length=16)] = "",
        password: Annotated[str, Form(max_length=256)] = "",
    ) -> Response:
        """A signed step; a refused one shows the signal's page again with the reasons."""
        try:
            advance_signal(
                session,
                who.scope,
                signal_id,
                to=to,
                rationale=rationale,
                meaning=meaning,
                password=password,
                at=_now(),
                check=throttled_check,
                timelines=timelines(),
                outcome=outcome or None,
                client=client_address(request),
            )
        except ValidationError as exc:
            session.rollback()
            return page(request, session, who, signal_id, status=400, problems=exc.problems, rationale=rationale)
        session.commit()
        return RedirectResponse(f"/workflow/signals/{signal_id}", status_code=303)

    @router.post("/workflow/signals/{signal_id}/evidence", dependencies=[Depends(require_csrf)])
    def evidence(
        session: DbSession,
        signal_id: int,
        who: Writers,
        title: Annotated[str, Form(max_length=256)] = "",
        reference: Annotated[str, Form(max_length=512)] = "",
    ) -> Response:
        """A literature reference (a document's content is attached by the CLI or the API)."""
        try:
            draft = EvidenceDraft(kind="literature", title=title or reference, reference=reference)
        except PydanticValidationError as exc:
            raise _problems(exc) from exc
        attach_evidence(session, who.scope, signal_id, draft, at=_now())
        session.commit()
        return RedirectResponse(f"/workflow/signals/{signal_id}", status_code=303)

    @router.post("/workflow/signals/{signal_id}/share", dependencies=[Depends(require_csrf)])
    def share(
        session: DbSession,
        signal_id: int,
        who: Writers,
        reviewer: Annotated[str, Form(max_length=64)] = "",
        revoke: Annotated[bool, Form()] = False,
    ) -> Response:
        share_signal(session, who.scope, signal_id, reviewer, at=_now(), revoke=revoke)
        session.commit()
        return RedirectResponse(f"/workflow/signals/{signal_id}", status_code=303)

    @router.post("/workflow/signals/{signal_id}/risk", dependencies=[Depends(require_csrf)])
    def risk(
        session: DbSession,
        signal_id: int,
        who: Writers,
        key: Annotated[str, Form(max_length=64)] = "",
        name: Annotated[str, Form(max_length=200)] = "",
        category: Annotated[str, Form(max_length=32)] = "",
        preferred_terms: Annotated[str, Form(max_length=2000)] = "",
        rationale: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        """A validated signal opens or changes a risk of its product's register."""
        try:
            chosen = Risk(
                key=key,
                name=name,
                category=category,
                preferred_terms=tuple(t.strip() for t in preferred_terms.split(";") if t.strip()),
                source=f"signal:{signal_id}",
            )
        except PydanticValidationError as exc:
            raise _problems(exc) from exc
        open_risk(session, who.scope, products, signal_id, chosen, rationale=rationale, at=_now())
        session.commit()
        return RedirectResponse(f"/workflow/signals/{signal_id}", status_code=303)

    @router.post("/workflow/rescreen", dependencies=[Depends(require_csrf)])
    def rescreen(request: Request, session: DbSession, who: Writers) -> HTMLResponse:
        report = rescreen_signals(session, who.scope, screens, at=_now())
        session.commit()
        return render(request, "workflow_rescreen.html", who.user, title="Re-screen", report=report)

    return router
