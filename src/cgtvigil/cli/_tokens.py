"""``cgtvigil users token create|list|revoke``: personal API tokens for machine clients (a
hospital or sponsor system reading ``/api/v1`` as one user, with that user's role and scope).
The token is printed once; the store keeps only its hash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from cgtvigil.access import create_api_token, list_api_tokens, revoke_api_token
from cgtvigil.cli._app import _fail, console
from cgtvigil.cli._users import _operator, _sessions, users_app
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, ValidationError
from cgtvigil.store import UserRow

token_app = typer.Typer(help="Personal API tokens (Authorization: Bearer ...).", no_args_is_help=True)
users_app.add_typer(token_app, name="token")


def _user(session, username: str) -> UserRow:  # type: ignore[no-untyped-def]
    user = session.get(UserRow, username)
    if user is None:
        raise ValidationError([f"There is no user {username!r} (cgtvigil users list)."])
    return user  # type: ignore[no-any-return]


@token_app.command("create")
def create_cmd(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    label: Annotated[str, typer.Option("--label", help="What it is for, e.g. 'EHR bridge site A'.")],
    days: Annotated[int, typer.Option("--days", help="Lifetime in days (1-366).")] = 90,
) -> None:
    """Create a token; it is shown only now."""
    try:
        with _sessions(Settings.from_env())() as session:
            token = create_api_token(
                session, _user(session, username), datetime.now(UTC), label, timedelta(days=days), by=_operator()
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"API token for {username} ({label}, {days} days; shown only now):")
    console.print(token, markup=False, highlight=False)


@token_app.command("list")
def list_cmd(username: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """The user's live tokens (ids, never the secrets)."""
    try:
        with _sessions(Settings.from_env())() as session:
            tokens = list_api_tokens(session, _user(session, username).username, datetime.now(UTC))
    except CgtVigilError as exc:
        _fail(exc)
    table = Table("id", "label", "created", "expires", "last used")
    for t in tokens:
        table.add_row(
            t.id,
            t.label,
            f"{t.created_at:%Y-%m-%d %H:%M}Z",
            f"{t.expires_at:%Y-%m-%d}",
            f"{t.last_used:%Y-%m-%d %H:%M}Z",
        )
    console.print(table)


@token_app.command("revoke")
def revoke_cmd(
    username: Annotated[str, typer.Argument(help="User name.")],
    token_id: Annotated[str, typer.Argument(help="The token's id from `users token list`.")],
) -> None:
    """End a token at once."""
    try:
        with _sessions(Settings.from_env())() as session:
            done = revoke_api_token(
                session, _user(session, username).username, token_id, datetime.now(UTC), _operator()
            )
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    if not done:
        _fail(ValidationError([f"{username} has no live token {token_id!r} (cgtvigil users token list {username})."]))
    console.print(f"Token {token_id} of {username} revoked.")
