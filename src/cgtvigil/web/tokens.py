"""Personal API tokens on the account page: create one (shown once), list and revoke them."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cgtvigil.access import create_api_token, list_api_tokens, revoke_api_token
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import UserRow
from cgtvigil.web._render import render
from cgtvigil.web._security import DbSession, require_csrf, roles

__all__ = ["tokens_router"]


def tokens_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def page(request: Request, session: DbSession, user: UserRow, status: int = 200, **context: object) -> HTMLResponse:
        tokens = list_api_tokens(session, user.username, datetime.now(UTC))
        return render(request, "account_tokens.html", user, status=status, title="API tokens", tokens=tokens, **context)

    @router.get("/account/tokens")
    def tokens(request: Request, session: DbSession, user: Annotated[UserRow, Depends(roles())]) -> HTMLResponse:
        return page(request, session, user, done=request.query_params.get("done"))

    @router.post("/account/tokens", dependencies=[Depends(require_csrf)])
    def create(
        request: Request,
        session: DbSession,
        user: Annotated[UserRow, Depends(roles())],
        label: Annotated[str, Form(max_length=200)] = "",
        days: Annotated[int, Form(ge=1, le=366)] = 90,
    ) -> HTMLResponse:
        try:
            token = create_api_token(session, user, datetime.now(UTC), label, timedelta(days=days))
        except CgtVigilError as exc:
            return page(request, session, user, status=400, error=str(exc), label=label, days=days)
        session.commit()
        return page(request, session, user, token=token, label=label)

    @router.post("/account/tokens/{token_id}/revoke", dependencies=[Depends(require_csrf)])
    def revoke(session: DbSession, token_id: str, user: Annotated[UserRow, Depends(roles())]) -> Response:
        revoke_api_token(session, user.username, token_id, datetime.now(UTC), by=user.username)
        session.commit()
        return RedirectResponse("/account/tokens?done=1", status_code=303)

    return router
