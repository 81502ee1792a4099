"""Passwords, set only by their user: argon2 hashes; a one-time code (new account or reset)
with which the user chooses their own password, so that an administrator never knows it
(21 CFR Part 11 §11.10(d), §11.300); a change by the user with the current password. Every
change ends the user's sessions and is audited."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil._validation import Problems
from cgtvigil.audit import append_audit
from cgtvigil.errors import ValidationError
from cgtvigil.store import AccountTokenRow, UserRow, utc_naive

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "SETUP_CODE_VALID",
    "change_password",
    "issue_setup_code",
    "set_password_with_code",
]

MIN_PASSWORD = 12
MAX_PASSWORD = 256  # argon2 hashes what it is given: a megabyte "password" must not cost a CPU
SETUP_CODE_VALID = timedelta(hours=72)
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash nobody knows the password of: verified for unknown users so that every log-in
    costs one argon2 verification (no timing difference)."""
    return _HASHER.hash(secrets.token_urlsafe(24))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """One argon2 verification, also for an account without a password (a dummy hash)."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password[:MAX_PASSWORD]) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def check_password(problems: Problems, password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD:
        problems.add(f"The password must have at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        problems.add(f"The password must have at most {MAX_PASSWORD} characters.")
    if username and username.lower() in password.lower():
        problems.add("The password must not contain the user name.")


def _sha(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def void_setup_codes(session: Session, username: str, at: datetime) -> None:
    for row in session.scalars(
        select(AccountTokenRow).where(AccountTokenRow.username == username, AccountTokenRow.used_at.is_(None))
    ):
        row.used_at = utc_naive(at)


def issue_setup_code(
    session: Session,
    username: str,
    *,
    at: datetime,
    actor: str,
    reset: bool = False,
    valid: timedelta = SETUP_CODE_VALID,
) -> str:
    """A one-time code with which ``username`` sets their own password (shown once, stored as a
    SHA-256; earlier codes end). With ``reset`` the current password stops working and the
    user's sessions end (a suspected compromise)."""
    from cgtvigil.access._sessions import revoke_sessions

    user = session.get(UserRow, username) if len(username) <= 64 else None
    if user is None or not user.active:
        raise ValidationError([f"There is no active user named {username!r}."])
    void_setup_codes(session, username, at)
    code = secrets.token_urlsafe(24)
    now = utc_naive(at)
    session.add(
        AccountTokenRow(
            token_sha256=_sha(code), username=username, created_at=now, created_by=actor[:64], expires_at=now + valid
        )
    )
    if reset:
        user.password_hash = ""
        revoke_sessions(session, username, at, "password reset")
    append_audit(
        session,
        actor=actor,
        action="user.reset" if reset else "user.setup_code",
        target=f"user:{username}",
        at=at,
        detail={"valid_hours": valid.total_seconds() / 3600},
    )
    session.flush()
    return code


def _set(session: Session, user: UserRow, password: str, at: datetime, why: str) -> None:
    from cgtvigil.access._login import clear_throttle
    from cgtvigil.access._sessions import revoke_sessions

    user.password_hash = hash_password(password)
    user.password_changed_at = utc_naive(at)
    revoke_sessions(session, user.username, at, why)
    clear_throttle(session, user.username)


def set_password_with_code(session: Session, username: str, code: str, password: str, *, at: datetime) -> UserRow:
    """The user sets their password with a one-time code; a wrong, used or expired code, or
    another user's code, gives the same message."""
    now = utc_naive(at)
    row = session.get(AccountTokenRow, _sha(code)) if code else None
    user = session.get(UserRow, username) if len(username) <= 64 else None
    if (
        row is None
        or user is None
        or row.username != username
        or row.used_at is not None
        or row.expires_at <= now
        or not user.active
    ):
        append_audit(
            session,
            actor="anonymous",
            action="user.setup_password",
            target=f"user:{username}",
            at=at,
            detail={"outcome": "invalid code"},
        )
        raise ValidationError(["The user name or code is wrong, used or expired; ask an administrator for a new code."])
    problems = Problems()
    check_password(problems, password, username)
    problems.raise_if_any()
    row.used_at = now
    _set(session, user, password, at, "password set")
    append_audit(
        session,
        actor=username,
        action="user.setup_password",
        target=f"user:{username}",
        at=at,
        detail={"outcome": "success"},
    )
    session.flush()
    return user


def change_password(
    session: Session, username: str, current: str, new: str, *, at: datetime, client: str = ""
) -> UserRow:
    """The logged-in user changes their own password (the current one checked under the log-in
    throttle); every session of the user ends."""
    from cgtvigil.access._login import throttled_check

    user = session.get(UserRow, username)
    if user is None or not user.active:
        raise ValidationError([f"There is no active user named {username!r}."])
    problems = Problems()
    correct, wait = throttled_check(session, user, current, at, client=client)
    if wait:
        problems.add(f"Too many failed password checks: wait {wait} s and try again.")
    elif not correct:
        problems.add("The current password is wrong.")
    check_password(problems, new, username)
    if current == new:
        problems.add("The new password must differ from the current one.")
    if problems:
        append_audit(
            session,
            actor=username,
            action="user.change_password",
            target=f"user:{username}",
            at=at,
            detail={"outcome": "refused"},
        )
        problems.raise_if_any()
    _set(session, user, new, at, "password changed")
    append_audit(
        session,
        actor=username,
        action="user.change_password",
        target=f"user:{username}",
        at=at,
        detail={"outcome": "success"},
    )
    session.flush()
    return user
