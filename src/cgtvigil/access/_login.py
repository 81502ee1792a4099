"""Log-in with throttling instead of lock-out (issue 10 item 3).

Failed log-ins are counted per client address and per typed account name. After a few free
failures each further one makes the next attempt wait longer (doubling), up to a cap that is
short for an account (its owner waits at most a minute, however long an attacker keeps
trying: nobody can lock anyone out) and long for an address (an attacker's own address slows
to one guess per quarter hour). A browser that logged in to the account before counts its
failures apart (a known device), so its owner is not slowed by an attacker elsewhere. A quiet
hour forgets the failures; an administrator or ``cgtvigil users unlock`` clears them at once.

Every attempt costs exactly one argon2 verification, whether the user is unknown, throttled,
deactivated or typed a wrong password, so timing tells nothing; every attempt is audited with
the client address, and a failure is never written with the targeted user as its actor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cgtvigil.access._passwords import verify_password
from cgtvigil.audit import append_audit, typed_text
from cgtvigil.store import LoginThrottleRow, UserRow, utc_naive

__all__ = ["LoginResult", "ThrottlePolicy", "authenticate", "clear_throttle", "throttled_check", "unlock_user"]


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 5  # per account name, before delays start
    address_free_failures: int = 20  # per client address (several users behind one NAT)
    first_delay: timedelta = timedelta(seconds=2)
    account_cap: timedelta = timedelta(seconds=60)
    address_cap: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=1)

    def delay(self, failures: int, free: int, cap: timedelta) -> timedelta:
        if failures < free:
            return timedelta(0)
        grown: timedelta = self.first_delay * 2 ** min(failures - free, 20)
        return min(cap, grown)


@dataclass(frozen=True)
class LoginResult:
    user: UserRow | None
    outcome: str  # success | wrong password | unknown user | inactive | no password | throttled
    wait_seconds: int = 0  # when throttled: how long before the next attempt counts


def _key_account(username: str) -> str:
    return "account:" + typed_text(username, 64)


def _key_address(client: str) -> str:
    return "address:" + typed_text(client or "unknown", 64)


def _blocked(session: Session, keys: list[str], now: datetime) -> int:
    until = session.scalars(
        select(LoginThrottleRow.blocked_until).where(
            LoginThrottleRow.key.in_(keys), LoginThrottleRow.blocked_until > now
        )
    ).all()
    return int(max(((u - now).total_seconds() for u in until if u is not None), default=0) + 0.999)


def _fail(session: Session, key: str, now: datetime, free: int, cap: timedelta, policy: ThrottlePolicy) -> None:
    """Count one failure for ``key`` with single statements, so that several server processes
    counting at once neither lose a count nor fail."""
    t = LoginThrottleRow
    for _ in range(3):
        failures = session.execute(
            update(t)
            .where(t.key == key)
            .values(
                failures=case((t.last_failure < now - policy.forget_after, 1), else_=t.failures + 1), last_failure=now
            )
            .returning(t.failures)
        ).scalar()
        if failures is None:  # no row yet: create it (another process may do so at the same time)
            try:
                with session.begin_nested():
                    session.execute(insert(t).values(key=key, failures=1, last_failure=now, blocked_until=None))
                failures = 1
            except IntegrityError:
                continue
        wait = policy.delay(failures, free, cap)
        if wait:
            session.execute(update(t).where(t.key == key).values(blocked_until=now + wait))
        return


def throttled_check(
    session: Session,
    user: UserRow,
    password: str,
    at: datetime,
    *,
    client: str = "",
    policy: ThrottlePolicy | None = None,
) -> tuple[bool, int]:
    """A password check outside the log-in form (the current password on the change page)
    under the same throttle, so a stolen session cannot be used to guess the password:
    (correct, seconds to wait)."""
    policy = policy or ThrottlePolicy()
    now = utc_naive(at)
    keys = [_key_account(user.username), _key_address(client)]
    wait = _blocked(session, keys, now)
    correct = verify_password(user.password_hash, password)
    if wait or not correct:
        if not wait:
            _fail(session, keys[0], now, policy.free_failures, policy.account_cap, policy)
        _fail(session, keys[1], now, policy.address_free_failures, policy.address_cap, policy)
    return correct and not wait, wait


def clear_throttle(session: Session, username: str) -> int:
    """Forget the failed log-ins of an account name (an unlock); 1 if there were any."""
    t = LoginThrottleRow
    result = session.execute(
        update(t).where(t.key == _key_account(username), t.failures > 0).values(failures=0, blocked_until=None)
    )
    return int(getattr(result, "rowcount", 0))


def authenticate(
    session: Session,
    username: str,
    password: str,
    at: datetime,
    *,
    client: str = "",
    device: str = "",
    policy: ThrottlePolicy | None = None,
) -> LoginResult:
    """Check a log-in; the caller commits (the audit entry and the throttle counts).

    ``device`` identifies a browser that logged in to this account before (the web layer
    keeps it in a signed cookie): its failures are counted apart from the account's, so an
    attacker elsewhere who slows the account down does not slow its owner's own browser."""
    policy = policy or ThrottlePolicy()
    now = utc_naive(at)
    own = "device:" + typed_text(device, 64) if device else _key_account(username)
    keys = [own, _key_address(client)]
    session.execute(
        delete(LoginThrottleRow).where(
            LoginThrottleRow.last_failure < now - policy.forget_after,
            or_(LoginThrottleRow.blocked_until.is_(None), LoginThrottleRow.blocked_until < now),
        )
    )
    user = session.get(UserRow, username) if 0 < len(username) <= 64 else None
    wait = _blocked(session, keys, now)
    correct = verify_password(user.password_hash if user is not None else "", password)  # always one argon2
    if wait:
        outcome = "throttled"
    elif user is None:
        outcome = "unknown user"
    elif not user.active:
        outcome = "inactive"
    elif not user.password_hash:
        outcome = "no password"
    else:
        outcome = "success" if correct else "wrong password"
    if outcome == "success":
        clear_throttle(session, username)
        if device:
            session.execute(
                update(LoginThrottleRow).where(LoginThrottleRow.key == own).values(failures=0, blocked_until=None)
            )
    else:
        if outcome != "throttled":  # waiting out an account's delay never makes it longer for its owner
            _fail(session, keys[0], now, policy.free_failures, policy.account_cap, policy)
        _fail(session, keys[1], now, policy.address_free_failures, policy.address_cap, policy)
    append_audit(
        session,
        actor=username if outcome == "success" else "anonymous",
        action="login",
        target=f"user:{typed_text(username, 64)}",
        at=at,
        detail={"outcome": outcome, "known_device": bool(device)} | ({"wait_seconds": wait} if wait else {}),
    )
    return LoginResult(user if outcome == "success" else None, outcome, wait)


def unlock_user(session: Session, username: str, *, at: datetime, actor: str) -> int:
    """An administrator forgets the account's failed log-ins (its owner need not wait)."""
    from cgtvigil.errors import ValidationError

    if (session.get(UserRow, username) if len(username) <= 64 else None) is None:
        raise ValidationError([f"There is no user named {username!r}."])
    cleared = clear_throttle(session, username)
    append_audit(session, actor=actor, action="user.unlock", target=f"user:{username}", at=at)
    return cleared
