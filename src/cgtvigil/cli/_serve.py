"""`cgtvigil serve`: the web application, with the JSON API for device gateways
(``/api/v1/ingest/...``) and the pages, on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
from fastapi import FastAPI

from cgtvigil.cli._app import app
from cgtvigil.config import Settings

__all__ = ["app_from_env", "serve"]


def app_from_env() -> FastAPI:
    """The application for the settings in the environment (one per worker process)."""
    from cgtvigil.api import create_app

    return create_app(Settings.from_env())


def serve(*, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers == 1:
        uvicorn.run(app_from_env(), host=host, port=port)
    else:  # each worker imports and builds its own application
        uvicorn.run("cgtvigil.cli._serve:app_from_env", factory=True, host=host, port=port, workers=workers)


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL for more than one).")] = 1,
) -> None:
    """Run the web application: pages, the JSON API and the device-gateway ingestion API
    (OpenAPI docs at /docs). Settings come from the CGTVIGIL_* environment variables."""
    serve(host=host, port=port, workers=workers)
