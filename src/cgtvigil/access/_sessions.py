"""Log-in sessions kept on the server (issue 10 item 5): the cookie carries a random id, the
operational store its SHA-256 with the user, the client, the last use and an absolute end.
A session ends at log-out, when its user changes or resets the password, when the account is
changed or deactivated, after an idle time and at its absolute lifetime, whichever is first;
several server processes share them through the store."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.audit import typed_text
from cgtvigil.store import SessionRow, UserRow, utc_naive

__all__ = ["SessionPolicy", "end_session", "open_session", "revoke_sessions", "session_user"]

_TOUCH = timedelta(seconds=30)  # last use is written at most this often (one write per page otherwise)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, user: UserRow, at: datetime, policy: SessionPolicy, *, client: str = "", agent: str = ""
) -> str:
    """A new session for ``user``; returns the id for the cookie (the store keeps its hash)."""
    token = secrets.token_urlsafe(32)
    now = utc_naive(at)
    session.add(
        SessionRow(
            id_sha256=_sha(token),
            username=user.username,
            created_at=now,
            last_seen=now,
            expires_at=now + policy.lifetime,
            revoked_why="",
            client=typed_text(client, 64),
            agent=typed_text(agent, 256),
        )
    )
    return token


def session_user(session: Session, token: str, at: datetime, policy: SessionPolicy) -> UserRow | None:
    """The active user of a live session, else None (the caller commits the last use)."""
    if not token or len(token) > 128:
        return None
    found = session.execute(  # one round trip for the session and its user (every request asks)
        select(SessionRow, UserRow)
        .join(UserRow, UserRow.username == SessionRow.username)
        .where(SessionRow.id_sha256 == _sha(token))
    ).first()
    now = utc_naive(at)
    if found is None or found[0].revoked_at is not None:
        return None
    row, user = found
    if now >= row.expires_at or now - row.last_seen >= policy.idle:
        row.revoked_at, row.revoked_why = now, ("expired" if now >= row.expires_at else "idle")
        return None
    if not user.active:
        return None
    if now - row.last_seen >= _TOUCH:
        row.last_seen = now
    return user


def end_session(session: Session, token: str, at: datetime) -> str | None:
    """Log-out: the session ends; returns its user name (None for an unknown session)."""
    row = session.get(SessionRow, _sha(token)) if token and len(token) <= 128 else None
    if row is None or row.revoked_at is not None:
        return None
    row.revoked_at, row.revoked_why = utc_naive(at), "logged out"
    return row.username


def revoke_sessions(session: Session, username: str, at: datetime, why: str) -> int:
    """End every live session of ``username``; the number ended."""
    n = 0
    for row in session.scalars(
        select(SessionRow).where(SessionRow.username == username, SessionRow.revoked_at.is_(None))
    ):
        row.revoked_at, row.revoked_why = utc_naive(at), why[:32]
        n += 1
    return n
