"""Users, roles and scope (issue 5, issue 10 item 4): the rules of who may see what (a safety
scientist sees public spontaneous-report screens and registry patients treated with the
sponsor's products; a site investigator only the own site's patients; a regulator reviewer
public screens and registry aggregates with small cells suppressed; a patient only their own
data; an administrator all), and the account life-cycle: create, change, deactivate. Every
account is checked against the registry (site, products, patient), so that a typo cannot
leave an account seeing nothing or an alert reaching no one. Passwords are set by the user
only (``_passwords``): an administrator never knows them (21 CFR Part 11 §11.10(d), §11.300)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cgtvigil._validation import Problems
from cgtvigil.audit import append_audit
from cgtvigil.errors import ValidationError
from cgtvigil.store import GatewayRow, PatientRow, UserRow, load_products, utc_naive

__all__ = ["ROLES", "create_user", "deactivate_user", "update_user"]

ROLES = ("safety_scientist", "site_investigator", "regulator_reviewer", "patient", "administrator")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")
_FIELDS = {"site_investigator": "site", "safety_scientist": "sponsor_products", "patient": "patient_id"}


def _check_scope(
    session: Session,
    problems: Problems,
    *,
    username: str,
    role: str,
    site: str | None,
    sponsor_products: Sequence[str],
    patient_id: str | None,
) -> None:
    """Each role carries exactly the scope it needs, and that scope exists in the registry."""
    given: dict[str, object] = {"site": site, "sponsor_products": list(sponsor_products), "patient_id": patient_id}
    needed = _FIELDS.get(role)
    for name, value in given.items():
        if value and name != needed:
            problems.add(f"A {role.replace('_', ' ')} has no {name.replace('_', ' ')}; leave it empty. Got {value!r}.")
    if role == "site_investigator":
        sites = set(session.scalars(select(PatientRow.site).distinct())) | set(
            session.scalars(select(GatewayRow.site).distinct())
        )
        if not site:
            problems.add("A site investigator needs a site.")
        elif site not in sites:
            hint = [s for s in sites if s.lower() == site.lower()]
            problems.add(
                f"The site {site!r} has no registered patient or gateway"
                + (f"; did you mean {hint[0]!r}?" if hint else f" (known sites: {', '.join(sorted(sites)) or 'none'}).")
            )
    if role == "safety_scientist":
        dictionary = load_products()
        ids = {p.id for p in dictionary.products}
        brands = {p.brand.lower(): p.id for p in dictionary.products}
        if not sponsor_products:
            problems.add("A safety scientist needs the sponsor's products.")
        for p in sponsor_products:
            if p not in ids:
                brand_id = brands.get(p.lower())
                problems.add(
                    f"Unknown product id {p!r}"
                    + (
                        f"; the id of {p!r} is {brand_id!r}."
                        if brand_id
                        else f" (product dictionary {dictionary.version})."
                    )
                )
    if role == "patient":
        if not patient_id:
            problems.add("A patient user needs the pseudonymous patient id.")
        elif session.get(PatientRow, patient_id) is None:
            problems.add(f"The patient {patient_id!r} is not registered; register the patient first.")
        else:
            other = session.scalar(
                select(UserRow.username).where(
                    UserRow.patient_id == patient_id, UserRow.active.is_(True), UserRow.username != username
                )
            )
            if other:
                problems.add(f"The patient {patient_id!r} already has the account {other!r}.")


def create_user(
    session: Session,
    *,
    username: str,
    role: str,
    at: datetime,
    actor: str = "cgtvigil",
    password: str | None = None,
    site: str | None = None,
    sponsor_products: Sequence[str] = (),
    patient_id: str | None = None,
) -> UserRow:
    """Create a user; every problem with the request is reported together.

    Without ``password`` the account cannot log in until its user sets one with a one-time
    code (``issue_setup_code``); a password is given only by the person who will use it (the
    first administrator, or a test)."""
    from cgtvigil.access._passwords import check_password, hash_password

    problems = Problems()
    if not _NAME.match(username):
        problems.add(f"The username must be 3-64 lower-case letters, digits, '_', '.' or '-'. Got {username!r}.")
    if role not in ROLES:
        problems.add(f"The role must be one of {', '.join(ROLES)}. Got {role!r}.")
    else:
        _check_scope(
            session,
            problems,
            username=username,
            role=role,
            site=site,
            sponsor_products=sponsor_products,
            patient_id=patient_id,
        )
    if password is not None:
        check_password(problems, password, username)
    if _NAME.match(username) and session.get(UserRow, username) is not None:
        problems.add(f"A user named {username!r} exists already.")
    problems.raise_if_any()
    user = UserRow(
        username=username,
        password_hash=hash_password(password) if password is not None else "",
        password_changed_at=utc_naive(at) if password is not None else None,
        role=role,
        site=site,
        sponsor_products=list(sponsor_products),
        patient_id=patient_id,
        active=True,
    )
    session.add(user)
    append_audit(
        session,
        actor=actor,
        action="user.create",
        target=f"user:{username}",
        at=at,
        detail={"role": role, "site": site, "products": list(sponsor_products), "patient": patient_id},
    )
    session.flush()
    return user


def _existing(session: Session, username: str) -> UserRow:
    user = session.get(UserRow, username) if len(username) <= 64 else None
    if user is None:
        raise ValidationError([f"There is no user named {username!r}."])
    return user


def update_user(
    session: Session,
    username: str,
    *,
    at: datetime,
    actor: str,
    role: str,
    site: str | None = None,
    sponsor_products: Sequence[str] = (),
    patient_id: str | None = None,
) -> UserRow:
    """Change a user's role and scope (checked as at creation); the user's sessions end, so
    that the new scope applies from the next log-in."""
    from cgtvigil.access._sessions import revoke_sessions

    user = _existing(session, username)
    problems = Problems()
    if role not in ROLES:
        problems.add(f"The role must be one of {', '.join(ROLES)}. Got {role!r}.")
    else:
        _check_scope(
            session,
            problems,
            username=username,
            role=role,
            site=site,
            sponsor_products=sponsor_products,
            patient_id=patient_id,
        )
    if user.role == "administrator" and role != "administrator":
        _keep_one_administrator(session, username, problems)
    problems.raise_if_any()
    before = {"role": user.role, "site": user.site, "products": list(user.sponsor_products), "patient": user.patient_id}
    user.role, user.site, user.sponsor_products, user.patient_id = role, site, list(sponsor_products), patient_id
    revoke_sessions(session, username, at, "account changed")
    append_audit(
        session,
        actor=actor,
        action="user.change",
        target=f"user:{username}",
        at=at,
        detail={
            "before": before,
            "after": {"role": role, "site": site, "products": list(sponsor_products), "patient": patient_id},
        },
    )
    session.flush()
    return user


def _keep_one_administrator(session: Session, username: str, problems: Problems) -> None:
    others = session.scalar(
        select(func.count())
        .select_from(UserRow)
        .where(UserRow.role == "administrator", UserRow.active.is_(True), UserRow.username != username)
    )
    if not others:
        problems.add(f"{username!r} is the last active administrator; create another one first.")


def deactivate_user(session: Session, username: str, *, at: datetime, actor: str) -> UserRow:
    """Deactivate an account (kept for the audit trail, never deleted); its sessions and
    unused codes end at once."""
    from cgtvigil.access._passwords import void_setup_codes
    from cgtvigil.access._sessions import revoke_sessions

    user = _existing(session, username)
    problems = Problems()
    if not user.active:
        problems.add(f"The user {username!r} is deactivated already.")
    if user.role == "administrator":
        _keep_one_administrator(session, username, problems)
    problems.raise_if_any()
    user.active = False
    revoke_sessions(session, username, at, "deactivated")
    void_setup_codes(session, username, at)
    append_audit(session, actor=actor, action="user.deactivate", target=f"user:{username}", at=at)
    session.flush()
    return user
