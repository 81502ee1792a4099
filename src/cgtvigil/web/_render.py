"""The page templates (Jinja2, autoescaped) and the one helper that renders a page."""

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from cgtvigil.store import UserRow
from cgtvigil.web._security import csrf_token

__all__ = ["TEMPLATES", "render"]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def render(request: Request, name: str, user: UserRow | None, status: int = 200, **context: Any) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, name, {"user": user, "csrf": csrf_token(request), **context})
    response.status_code = status
    return response
