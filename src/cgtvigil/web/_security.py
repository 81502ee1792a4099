"""Sessions, CSRF tokens, role checks, security headers and the audit of denied access.

- The browser's cookie is signed (Starlette's SessionMiddleware) and holds only the CSRF
  token and the id of a session kept on the server (``cgtvigil.access`` sessions): log-out,
  a password change or a deactivation ends it, with an idle timeout and an absolute lifetime.
  The cookie is ``Secure`` when the deployment is behind TLS; the signing key is required.
- Every response carries a Content-Security-Policy without inline script, frame-ancestors
  'none', nosniff and a Referrer-Policy; HSTS behind TLS; ``Cache-Control: no-store`` on
  everything but static files (pages and API answers carry patient data).
- A logged-in user's 403 or 404 on a route is written to the audit trail, and every audit
  entry made while serving a request records the client address and user agent.
"""

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cgtvigil.access import SessionPolicy, end_session, open_session, session_user
from cgtvigil.audit import append_audit, audit_context, typed_text, use_audit_key
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import UserRow

__all__ = [
    "CSP",
    "DbSession",
    "client_address",
    "csrf_token",
    "current_user",
    "install_security",
    "log_in",
    "log_out",
    "request_user",
    "require_csrf",
    "roles",
    "session_user_of",
]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _now() -> datetime:
    return datetime.now(UTC)


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a reverse proxy, run uvicorn with
    --proxy-headers and --forwarded-allow-ips so that this is the browser's address)."""
    return request.client.host if request.client else ""


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def require_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    expected = request.session.get("csrf")
    if not expected or not secrets.compare_digest(str(expected), csrf):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token: reload the page and try again")


async def db(request: Request) -> AsyncIterator[Session]:
    """The request's database session. Made here (it opens no connection until first used, in
    the route's thread) and closed in a worker thread (closing returns the connection to the
    pool: a round trip), so that it costs one thread hop instead of two."""
    session = request.app.state.sessions()
    try:
        yield session
    finally:
        with anyio.CancelScope(shield=True):  # a client that went away still frees the connection
            await run_in_threadpool(session.close)


DbSession = Annotated[Session, Depends(db)]


def session_user_of(request: Request, session: Session) -> UserRow | None:
    """The user of the request's live server-side session, else None; read in ``session`` (the
    request's own, so that a page costs one transaction). Commits only what it changed: the
    last use (idle timeout, written at most every 30 s) or the end of an expired session."""
    token = request.session.get("sid")
    if not token:
        return None
    user = session_user(session, str(token), _now(), request.app.state.session_policy)
    if session.dirty:
        session.commit()
    if user is None:
        request.session.pop("sid", None)
        return None
    request.state.user = user.username  # for the audit of denied access
    return user


def current_user(request: Request, session: DbSession) -> UserRow | None:
    """A dependency: the user of the request's live server-side session, else None."""
    return session_user_of(request, session)


def request_user(request: Request) -> UserRow | None:
    """:func:`current_user` outside a route's dependencies (error pages), in its own session."""
    with request.app.state.sessions() as session:
        return session_user_of(request, session)


def log_in(request: Request, session: Session, user: UserRow) -> None:
    """A new server-side session (and a new CSRF token) for ``user``; the caller commits."""
    request.session.clear()
    request.session["sid"] = open_session(
        session,
        user,
        _now(),
        request.app.state.session_policy,
        client=client_address(request),
        agent=request.headers.get("user-agent", ""),
    )


def log_out(request: Request, session: Session) -> str | None:
    """End the request's session on the server and in the cookie; its user name (audited)."""
    token = request.session.get("sid")
    name = end_session(session, str(token), _now()) if token else None
    if name:
        append_audit(session, actor=name, action="logout", target=f"user:{name}", at=_now())
    request.session.clear()
    return name


def roles(*allowed: str) -> Callable[..., Awaitable[UserRow]]:
    """A dependency: the logged-in user if their role is allowed (401 when not logged in,
    403 when logged in with another role)."""

    # async: no I/O here, so FastAPI runs it on the event loop instead of a worker thread
    async def check(request: Request, user: Annotated[UserRow | None, Depends(current_user)]) -> UserRow:
        if user is None:
            raise HTTPException(status_code=401, detail="log in first", headers={"Location": "/login"})
        if allowed and user.role not in allowed:
            raise HTTPException(status_code=403, detail=f"the {user.role.replace('_', ' ')} role may not see this page")
        return user

    return check


def _audit_denied(sessions: Any, username: str, method: str, path: str, status: int) -> None:
    with sessions() as session:
        append_audit(
            session,
            actor=username,
            action="access.denied",
            target=typed_text(f"{method} {path}", 256),
            at=_now(),
            detail={"status": status},
        )
        session.commit()


class _SecurityHeaders:
    """Pure ASGI (no task or stream per request, unlike an ``@app.middleware`` function): the
    headers of every response, the client address and user agent of every audit entry made
    while serving the request, and, after the response, the audit of a logged-in user's 403 or
    404."""

    def __init__(self, app: ASGIApp, *, tls: bool, state: Any) -> None:
        self.app, self.state = app, state  # the application's state: its database sessions
        self.headers = [
            ("Content-Security-Policy", CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
        ] + ([("Strict-Transport-Security", "max-age=31536000; includeSubDomains")] if tls else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        state = scope.setdefault("state", {})  # request.state: the user read below (shared if scope is copied)
        status = 0

        async def secured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in self.headers:
                    headers[name] = value
                # static files are the same until the next release (revalidated after a day);
                # pages and API answers carry patient data
                headers["Cache-Control"] = "public, max-age=86400" if path.startswith("/static/") else "no-store"
            await send(message)

        client = scope.get("client")
        agent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"user-agent"), "")
        with audit_context(client=client[0] if client else "", agent=agent):
            try:
                await self.app(scope, receive, secured)
            except Exception:  # answered here, with the headers (the server still logs it)
                if not status:
                    await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, secured)
                raise
            user = state.get("user")
            if user and status in (403, 404):
                await run_in_threadpool(_audit_denied, self.state.sessions, user, scope["method"], path, status)


def install_security(app: FastAPI, settings: Settings) -> None:
    """Sessions, headers and the audit of denied access for ``app`` (required: a secret key)."""
    use_audit_key(settings.audit_key)
    if not settings.secret_key:
        engine = getattr(app.state, "engine", None)
        if engine is not None:
            engine.dispose()  # the application is not built: leave no pooled connection behind
        raise CgtVigilError(
            "CGTVIGIL_SECRET_KEY is not set: it signs the session cookies and must be the same for every "
            "server process (generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
        )
    app.state.session_policy = SessionPolicy(idle=settings.session_idle, lifetime=settings.session_lifetime)

    app.add_middleware(_SecurityHeaders, tls=settings.behind_tls, state=app.state)
    tls = settings.behind_tls

    # added last, so it runs first: the signed cookie is decoded before the security middleware
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="cgtvigil_session",
        same_site="lax",
        https_only=tls,
        max_age=int(settings.session_lifetime.total_seconds()),
    )
