"""The API documentation behind a log-in and offline: Swagger UI from the package's static
files (npm's swagger-ui-dist, copied by ``make``) over the app's OpenAPI schema, started by a
static script so that the page keeps the strict Content-Security-Policy."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from cgtvigil.store import UserRow
from cgtvigil.web._render import render
from cgtvigil.web._security import roles

__all__ = ["docs_router"]


def docs_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def docs(request: Request, user: Annotated[UserRow, Depends(roles())]) -> HTMLResponse:
        return render(request, "docs.html", user, title="API documentation")

    @router.get("/openapi.json")
    def openapi(request: Request, _: Annotated[UserRow, Depends(roles())]) -> JSONResponse:
        schema: dict[str, Any] = request.app.openapi()
        return JSONResponse(schema)

    return router
