"""The page templates (Jinja2, autoescaped), the one helper that renders a page, the reader
dependency (the user and their scope, built once per request), the one audit of reads shared
by pages and the JSON API, and the error pages (a logged-in user keeps the navigation)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cgtvigil.access import Scope, scope_for
from cgtvigil.audit import append_audit, audit_read_entry, wrote_in_transaction
from cgtvigil.errors import BusyError, CgtVigilError, NotFoundError, NotInScopeError, ValidationError
from cgtvigil.store import UserRow
from cgtvigil.web._security import csrf_token, request_user, roles

__all__ = [
    "TEMPLATES",
    "Reader",
    "audit_read",
    "error_page",
    "escape_text",
    "install_error_pages",
    "path_segment",
    "reader",
    "render",
    "time_html",
    "time_tag",
    "zulu",
]

# The templates ship with the package: read once, not checked for changes on every page (a
# file-system stat per template and include on each render).
TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(), auto_reload=False
    )
)


def zulu(t: datetime | None) -> str:
    """A time as ISO 8601 UTC with ``Z`` (pages turn it into the viewer's zone, naming it)."""
    if t is None:
        return ""
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def escape_text(text: str) -> str:
    """``markupsafe.escape(text)`` for a plain ``str``, as a ``str``: the same five entities,
    without a Markup object per table cell (the Python-built table rows escape thousands)."""
    return (
        text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;").replace("'", "&#39;").replace('"', "&#34;")
    )


def time_html(t: datetime) -> str:
    """The markup of :func:`time_tag` as a ``str`` (a time's text needs no escaping)."""
    z = zulu(t)
    return f'<time datetime="{z}">{z[:16].replace("T", " ")} UTC</time>'


def time_tag(t: datetime | None) -> Any:
    """``<time datetime="...Z">... UTC</time>``: shown in UTC without script, in the viewer's
    zone (named) by charts.js (the ``when`` filter of the templates)."""
    if t is None:
        return "–"
    return Markup(time_html(t))


def _measure(kind: str) -> str:
    """A measure's readable name ("CRS grade", not ``crs_grade``; ePRO items as "ePRO")."""
    from cgtvigil.web._charts import LABELS

    return "ePRO" if kind.startswith("symptom:") else LABELS.get(kind, kind.replace("_", " "))


def path_segment(text: object) -> str:
    """A text as one segment of a URL path: every reserved character quoted, "/" too (Jinja's
    ``urlencode`` keeps "/", and a case id with "?" or "#" cut the link short)."""
    return quote(str(text), safe="")


TEMPLATES.env.filters["segment"] = path_segment
TEMPLATES.env.filters["zulu"] = zulu
TEMPLATES.env.filters["measure"] = _measure
TEMPLATES.env.filters["when"] = time_tag


def render(request: Request, name: str, user: UserRow | None, status: int = 200, **context: Any) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, name, {"user": user, "csrf": csrf_token(request), **context})
    response.status_code = status
    return response


class Reader(BaseModel):
    """The logged-in user and the scope built from them once for this request."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    user: Any
    scope: Scope


def reader(*allowed: str) -> Callable[..., Awaitable[Reader]]:
    """A dependency: the user (401/403 as :func:`roles`) and their scope (async: no I/O, so it
    runs on the event loop, not in a worker thread: a thread hop costs more CPU than it does)."""
    check = roles(*allowed)

    async def build(user: Annotated[UserRow, Depends(check)]) -> Reader:
        return Reader(user=user, scope=scope_for(user))

    return build


def audit_read(session: Session, scope: Scope, action: str, target: str, **detail: Any) -> None:
    """The audit entry of a read (pages and the JSON API write the same one), committed before
    the answer: with the change it records when the transaction wrote (an alert acknowledged),
    else through the group commit of concurrent reads (one chain transaction for all of them)."""
    at = datetime.now(UTC)
    if wrote_in_transaction(session):
        append_audit(session, actor=scope.actor, action=action, target=target, at=at, detail=detail or None)
        session.commit()
        return
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    session.commit()  # ends the read: its connection goes back to the pool before the wait
    audit_read_entry(engine, actor=scope.actor, action=action, target=target, at=at, detail=detail or None)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    """An HTML error page for the dashboard routes (the JSON API keeps JSON errors); a
    logged-in user keeps the navigation."""
    user = request_user(request) if "session" in request.scope else None
    return render(request, "error.html", user, status=status, title=title, status_title=title, detail=detail)


_STATUS = {
    BusyError: (503, "Busy"),
    NotFoundError: (404, "Not found"),
    NotInScopeError: (403, "Not allowed"),
    ValidationError: (400, "Bad request"),
}


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and getattr(exc, "problems", None):
        return "; ".join(str(p) for p in exc.problems)
    return str(exc)


def install_error_pages(app: FastAPI) -> None:
    """Errors of the query services (404 not found or not in scope, 403 a kind of data outside
    the scope, 400 a bad parameter, 503 with Retry-After when the audit trail stayed busy) and
    malformed query parameters: JSON on /api/, the HTML error page with the navigation
    elsewhere (never a traceback or raw JSON on a page)."""

    async def service_error(request: Request, exc: Exception) -> Response:
        status, title = next(((s, t) for cls, (s, t) in _STATUS.items() if isinstance(exc, cls)), (400, "Bad request"))
        retry = {"Retry-After": "5"} if isinstance(exc, BusyError) else None
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": _problem(exc)}, status_code=status, headers=retry)
        page = error_page(request, status, title, _problem(exc))
        page.headers.update(retry or {})
        return page

    async def bad_parameters(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:10]
        ]
        if request.url.path.startswith("/api/"):  # where and what, never the input echoed back
            detail = [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in exc.errors()[:10]]
            return JSONResponse({"detail": detail}, status_code=422)
        return error_page(request, 400, "Bad request", "; ".join(problems))

    app.add_exception_handler(CgtVigilError, service_error)
    app.add_exception_handler(RequestValidationError, bad_parameters)
