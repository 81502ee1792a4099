"""Users, roles and scope: argon2-hashed passwords, lock-out after repeated failures, and the
rules of who may see what (issue 5): a safety scientist sees public spontaneous-report screens
and registry patients treated with the sponsor's products (pseudonymised); a site
investigator only the own site's patients; a regulator reviewer public screens and registry
aggregates with small cells suppressed; a patient only their own data; an administrator all.
Every login attempt is written to the audit trail."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from cgtvigil.audit import append_audit
from cgtvigil.errors import ValidationError
from cgtvigil.store import PatientRow, TreatmentRow, UserRow, utc_naive

__all__ = ["LOCKOUT_AFTER", "LOCKOUT_MINUTES", "ROLES", "authenticate", "can_view_patient", "create_user"]

ROLES = ("safety_scientist", "site_investigator", "regulator_reviewer", "patient", "administrator")
LOCKOUT_AFTER = 5
LOCKOUT_MINUTES = 15
_HASHER = PasswordHasher()
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    at: datetime,
    actor: str = "cgtvigil",
    site: str | None = None,
    sponsor_products: tuple[str, ...] = (),
    patient_id: str | None = None,
) -> UserRow:
    """Create a user; every problem with the request is reported together."""
    problems = []
    if not _NAME.match(username):
        problems.append(f"The username must be 3-64 lower-case letters, digits, '_', '.' or '-'. Got {username!r}.")
    if role not in ROLES:
        problems.append(f"The role must be one of {', '.join(ROLES)}. Got {role!r}.")
    if len(password) < 12:
        problems.append("The password must have at least 12 characters.")
    if role == "site_investigator" and not site:
        problems.append("A site investigator needs a site.")
    if role == "safety_scientist" and not sponsor_products:
        problems.append("A safety scientist needs the sponsor's products.")
    if role == "patient" and not patient_id:
        problems.append("A patient user needs the pseudonymous patient id.")
    if session.get(UserRow, username) is not None:
        problems.append(f"A user named {username!r} exists already.")
    if problems:
        raise ValidationError(problems)
    user = UserRow(
        username=username,
        password_hash=_HASHER.hash(password),
        role=role,
        site=site,
        sponsor_products=list(sponsor_products),
        patient_id=patient_id,
        failed_attempts=0,
        active=True,
    )
    session.add(user)
    append_audit(
        session,
        actor=actor,
        action="user.create",
        target=f"user:{username}",
        at=at,
        detail={"role": role, "site": site},
    )
    return user


def authenticate(session: Session, username: str, password: str, at: datetime) -> UserRow | None:
    """The user for a correct password, else None; locks the account for 15 minutes after
    5 failures in a row. Every attempt is audited (the caller commits)."""
    now = utc_naive(at)
    user = session.get(UserRow, username)
    outcome = "unknown user"
    result = None
    if user is not None and user.active:
        if user.locked_until is not None and user.locked_until > now:
            outcome = "locked"
        else:
            try:
                _HASHER.verify(user.password_hash, password)
                user.failed_attempts, user.locked_until, outcome, result = 0, None, "success", user
            except (VerificationError, InvalidHashError):
                user.failed_attempts += 1
                outcome = "wrong password"
                if user.failed_attempts >= LOCKOUT_AFTER:
                    user.locked_until = now + timedelta(minutes=LOCKOUT_MINUTES)
                    user.failed_attempts = 0
                    outcome = "wrong password; account locked"
    append_audit(
        session,
        actor=username if user else "anonymous",
        action="login",
        target=f"user:{username}",
        at=at,
        detail={"outcome": outcome},
    )
    return result


def can_view_patient(user: UserRow, patient: PatientRow, treatments: list[TreatmentRow]) -> bool:
    """Whether ``user`` may see this patient's patient-level data."""
    if user.role == "administrator":
        return True
    if user.role == "site_investigator":
        return user.site is not None and patient.site == user.site
    if user.role == "safety_scientist":
        return any(t.product_id in (user.sponsor_products or []) for t in treatments)
    if user.role == "patient":
        return user.patient_id == patient.id
    return False  # regulator reviewers see aggregates only
