"""Personal API tokens for machine clients (issue 11): a random secret shown once, kept only as
its SHA-256, tied to one user and acting with that user's role and scope. A token is a
server-side session row marked ``client = "api-token"`` (label in ``agent``) with its own
lifetime and no idle timeout, so that it ends like every session of the user: when they change
or reset the password, when the account is changed or deactivated, or when it is revoked."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit, typed_text
from cgtvigil.errors import ValidationError
from cgtvigil.store import SessionRow, UserRow, utc_naive

__all__ = ["API_TOKEN_PREFIX", "ApiToken", "api_token_user", "create_api_token", "list_api_tokens", "revoke_api_token"]

API_TOKEN_PREFIX = "cgtv_"
_MARK = "api-token"
_TOUCH = timedelta(minutes=5)


@dataclass(frozen=True)
class ApiToken:
    id: str  # the first 12 hex digits of the hash: names the token without revealing it
    label: str
    created_at: datetime
    expires_at: datetime
    last_used: datetime


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(
    session: Session,
    user: UserRow,
    at: datetime,
    label: str,
    lifetime: timedelta = timedelta(days=90),
    by: str | None = None,
) -> str:
    """A new token for ``user`` (returned once; the store keeps its hash); audited, the caller commits."""
    label = label.strip()
    if not label or len(label) > 100:
        raise ValidationError(["label: name the token's use in 1 to 100 characters (e.g. 'hospital EHR bridge')"])
    if not timedelta(days=1) <= lifetime <= timedelta(days=366):
        raise ValidationError(["lifetime: between 1 and 366 days"])
    if not user.active:
        raise ValidationError([f"the account {user.username!r} is deactivated"])
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utc_naive(at)
    digest = _sha(token)
    session.add(
        SessionRow(
            id_sha256=digest,
            username=user.username,
            created_at=now,
            last_seen=now,
            expires_at=now + lifetime,
            revoked_why="",
            client=_MARK,
            agent=typed_text(label, 256),
        )
    )
    append_audit(
        session,
        actor=by or user.username,
        action="api_token.create",
        target=f"user:{user.username}",
        at=at,
        detail={"token": digest[:12], "label": label, "expires": (now + lifetime).isoformat()},
    )
    return token


def api_token_user(session: Session, token: str, at: datetime) -> UserRow | None:
    """The active user of a live API token, else None (the caller commits the last use)."""
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 128:
        return None
    row = session.get(SessionRow, _sha(token))
    now = utc_naive(at)
    if row is None or row.client != _MARK or row.revoked_at is not None:
        return None
    if now >= row.expires_at:
        row.revoked_at, row.revoked_why = now, "expired"
        return None
    user = session.get(UserRow, row.username)
    if user is None or not user.active:
        return None
    if now - row.last_seen >= _TOUCH:
        row.last_seen = now
    return user


def list_api_tokens(session: Session, username: str, at: datetime) -> list[ApiToken]:
    """The user's live tokens, newest first."""
    now = utc_naive(at)
    return [
        ApiToken(r.id_sha256[:12], r.agent, r.created_at, r.expires_at, r.last_seen)
        for r in session.scalars(
            select(SessionRow)
            .where(
                SessionRow.username == username,
                SessionRow.client == _MARK,
                SessionRow.revoked_at.is_(None),
                SessionRow.expires_at > now,
            )
            .order_by(SessionRow.created_at.desc())
        )
    ]


def revoke_api_token(session: Session, username: str, token_id: str, at: datetime, by: str) -> bool:
    """End the user's token whose id (hash prefix) is ``token_id``; audited, the caller commits."""
    if len(token_id) != 12:
        return False
    for row in session.scalars(
        select(SessionRow).where(
            SessionRow.username == username,
            SessionRow.client == _MARK,
            SessionRow.revoked_at.is_(None),
            SessionRow.id_sha256.startswith(token_id),
        )
    ):
        row.revoked_at, row.revoked_why = utc_naive(at), "token revoked"
        append_audit(
            session, actor=by, action="api_token.revoke", target=f"user:{username}", at=at, detail={"token": token_id}
        )
        return True
    return False
