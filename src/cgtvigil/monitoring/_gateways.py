"""Device-gateway API tokens: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.errors import ValidationError
from cgtvigil.store import GatewayRow

__all__ = ["authenticate_gateway", "register_gateway"]


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")  # fits the store's String(64)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_gateway(session: Session, name: str, site: str) -> str:
    """Create a gateway and return its token (the only time it is visible)."""
    problems = [
        f"The gateway {what} must be 1-64 letters, digits or _.:- characters. Got {value[:80]!r}."
        for what, value in (("name", name), ("site", site))
        if not _NAME.match(value)
    ]
    if problems:
        raise ValidationError(problems)
    if session.get(GatewayRow, name) is not None:
        raise ValidationError([f"A gateway named '{name}' exists already."])
    token = secrets.token_urlsafe(32)
    session.add(GatewayRow(name=name, token_sha256=_digest(token), site=site, active=True))
    return token


def authenticate_gateway(session: Session, token: str) -> GatewayRow | None:
    digest = _digest(token)
    row = session.scalars(select(GatewayRow).where(GatewayRow.token_sha256 == digest)).first()
    if row is None or not row.active or not hmac.compare_digest(row.token_sha256, digest):
        return None
    return row
