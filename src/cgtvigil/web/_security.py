"""Sessions, CSRF tokens and role checks for the web pages.

Sessions are signed cookies (Starlette's SessionMiddleware, itsdangerous); every form carries
the session's CSRF token and every POST is checked against it.
"""

import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from sqlalchemy.orm import Session

from cgtvigil.store import UserRow

__all__ = ["csrf_token", "current_user", "require_csrf", "roles"]


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


def current_user(request: Request) -> UserRow | None:
    name = request.session.get("user")
    if not name:
        return None
    with request.app.state.sessions() as session:
        user = session.get(UserRow, name)
        return user if user is not None and user.active else None


def roles(*allowed: str) -> Callable[..., UserRow]:
    """A dependency: the logged-in user if their role is allowed (401 when not logged in,
    403 when logged in with another role)."""

    def check(request: Request, user: Annotated[UserRow | None, Depends(current_user)]) -> UserRow:
        if user is None:
            raise HTTPException(status_code=401, detail="log in first", headers={"Location": "/login"})
        if allowed and user.role not in allowed:
            raise HTTPException(status_code=403, detail=f"the {user.role.replace('_', ' ')} role may not see this page")
        return user

    return check


def db(request: Request) -> Any:
    with request.app.state.sessions() as session:
        yield session


DbSession = Annotated[Session, Depends(db)]
