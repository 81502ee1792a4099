"""User accounts: the first administrator, add, change, deactivate, unlock, reset, list.

A password is typed only by its user: the first administrator types their own (hidden, twice);
every other account, and a reset, gets a one-time code (and link) with which its user
chooses a password on the set-password page (21 CFR Part 11 §11.10(d), §11.300)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func, select

from cgtvigil.access import (
    ROLES,
    SETUP_CODE_VALID,
    create_user,
    deactivate_user,
    issue_setup_code,
    unlock_user,
    update_user,
)
from cgtvigil.audit import use_audit_key
from cgtvigil.cli._app import _fail, _listed, app, console
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import LoginThrottleRow, SessionRow, UserRow, operational_engine, session_factory, utc_naive

users_app = typer.Typer(help="User accounts (roles, scope, one-time password codes).", no_args_is_help=True)
app.add_typer(users_app, name="users")


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _sessions(settings: Settings):  # type: ignore[no-untyped-def]
    return session_factory(operational_engine(settings.operational_url))


def _show_code(settings: Settings, username: str, code: str) -> None:
    hours = int(SETUP_CODE_VALID.total_seconds() // 3600)
    console.print(f"One-time code for {username} (valid {hours} hours, shown only now): {code}")
    path = f"/account/setup?user={username}&code={code}"
    console.print(f"Link: {settings.public_url}{path}" if settings.public_url else f"Page: {path} on the server")


@users_app.command("create-admin")
def create_admin_cmd(
    username: Annotated[str, typer.Argument(help="The administrator's user name.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (automation).")
    ] = False,
) -> None:
    """Create the first administrator; they type their own password (asked twice, hidden).
    Refused when an active administrator exists (they add further users)."""
    settings = Settings.from_env()
    if password_stdin:
        password = typer.get_text_stream("stdin").readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with _sessions(settings)() as session:
            admins = session.scalar(
                select(func.count())
                .select_from(UserRow)
                .where(UserRow.role == "administrator", UserRow.active.is_(True))
            )
            if admins:
                raise CgtVigilError(
                    "An active administrator exists already; they add users on the Users page or with "
                    "`cgtvigil users add`."
                )
            create_user(
                session,
                username=username,
                password=password,
                role="administrator",
                at=datetime.now(UTC),
                actor=_operator(),
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"Administrator {username} created.")


@users_app.command("add")
def add_cmd(
    username: Annotated[str, typer.Argument(help="User name (3-64 lower-case letters, digits, _ . -).")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    site: Annotated[str, typer.Option(help="Site (site investigators).")] = "",
    products: Annotated[
        list[str] | None, typer.Option(help="Sponsor product ids, repeatable or comma-separated (safety scientists).")
    ] = None,
    patient: Annotated[str, typer.Option(help="Registered patient id (patients).")] = "",
) -> None:
    """Add a user and print the one-time code with which they set their own password."""
    settings = Settings.from_env()
    try:
        with _sessions(settings)() as session:
            now = datetime.now(UTC)
            create_user(
                session,
                username=username,
                role=role,
                at=now,
                actor=_operator(),
                site=site or None,
                sponsor_products=_listed(products),
                patient_id=patient or None,
            )
            code = issue_setup_code(session, username, at=now, actor=_operator())
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"User {username} ({role}) created.")
    _show_code(settings, username, code)


@users_app.command("change")
def change_cmd(
    username: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    site: Annotated[str, typer.Option(help="Site (site investigators).")] = "",
    products: Annotated[
        list[str] | None, typer.Option(help="Sponsor product ids, repeatable or comma-separated (safety scientists).")
    ] = None,
    patient: Annotated[str, typer.Option(help="Registered patient id (patients).")] = "",
) -> None:
    """Change a user's role and scope (checked against the registry); their sessions end."""
    try:
        with _sessions(Settings.from_env())() as session:
            update_user(
                session,
                username,
                at=datetime.now(UTC),
                actor=_operator(),
                role=role,
                site=site or None,
                sponsor_products=_listed(products),
                patient_id=patient or None,
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"User {username} changed to {role}; their sessions have ended.")


@users_app.command("deactivate")
def deactivate_cmd(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Deactivate an account (kept for the audit trail); its sessions end at once."""
    try:
        with _sessions(Settings.from_env())() as session:
            deactivate_user(session, username, at=datetime.now(UTC), actor=_operator())
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"User {username} deactivated.")


@users_app.command("unlock")
def unlock_cmd(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Forget an account's failed log-ins, so that its owner need not wait."""
    try:
        with _sessions(Settings.from_env())() as session:
            cleared = unlock_user(session, username, at=datetime.now(UTC), actor=_operator())
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"User {username}: {'failed log-ins cleared' if cleared else 'no failed log-ins to clear'}.")


@users_app.command("reset")
def reset_cmd(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Reset a password: the current one stops working, the user's sessions end, and a
    one-time code lets the user choose a new one."""
    settings = Settings.from_env()
    try:
        with _sessions(settings)() as session:
            code = issue_setup_code(session, username, at=datetime.now(UTC), actor=_operator(), reset=True)
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"The password of {username} no longer works.")
    _show_code(settings, username, code)


@users_app.command("list")
def list_cmd() -> None:
    """Every account with its role, scope, state and live sessions."""
    with _sessions(Settings.from_env())() as session:
        now = utc_naive(datetime.now(UTC))
        users = session.scalars(select(UserRow).order_by(UserRow.username)).all()
        live = dict(
            session.execute(
                select(SessionRow.username, func.count())
                .where(SessionRow.revoked_at.is_(None), SessionRow.expires_at > now)
                .group_by(SessionRow.username)
            ).all()
        )
        slowed = {
            r.key.removeprefix("account:"): r.blocked_until
            for r in session.scalars(select(LoginThrottleRow).where(LoginThrottleRow.blocked_until > now))
        }
    table = Table()
    for column in ("user", "role", "site", "products", "patient", "state", "sessions"):
        table.add_column(column, no_wrap=column in ("user", "state"))
    for u in users:
        state = (
            "deactivated"
            if not u.active
            else "no password yet"
            if not u.password_hash
            else f"slowed to {slowed[u.username]:%H:%M:%S} UTC"
            if u.username in slowed
            else "active"
        )
        table.add_row(
            u.username,
            u.role,
            u.site or "",
            ", ".join(u.sponsor_products or []),
            u.patient_id or "",
            state,
            str(live.get(u.username, 0)),
        )
    console.print(table)


def use_settings_audit_key() -> None:
    """Give the audit trail the deployment's key (CGTVIGIL_AUDIT_KEY_FILE) for this command."""
    try:
        use_audit_key(Settings.from_env().audit_key)
    except CgtVigilError as exc:
        _fail(exc)
