"""`cgtvigil serve`: the web application, with the JSON API for device gateways
(``/api/v1/ingest/...``) and the pages, on uvicorn."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from fastapi import FastAPI

from cgtvigil.cli._app import app
from cgtvigil.config import Settings
from cgtvigil.store import operational_engine

__all__ = ["app_from_env", "serve", "worker_command"]


def app_from_env() -> FastAPI:
    """The application for the settings in the environment (one per worker process)."""
    from cgtvigil.api import create_app

    return create_app(Settings.from_env())


FACTORY = "cgtvigil.cli._serve:app_from_env"


def worker_command(*, host: str, port: int, workers: int) -> list[str]:
    """The uvicorn command that runs ``workers`` processes of the application (documented in
    the README; run it after the schema is migrated)."""
    return [sys.executable, "-m", "uvicorn", FACTORY, "--factory", "--host", host, "--port", str(port),
            "--workers", str(workers)]  # fmt: skip


def serve(*, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers == 1:
        uvicorn.run(app_from_env(), host=host, port=port)
        return
    # Several workers: the schema is migrated once, here, before any worker starts (workers
    # migrating a fresh PostgreSQL database at once failed with duplicate keys; the migration
    # also takes a lock). Then this process becomes uvicorn's supervisor, started as
    # `python -m uvicorn`: a worker is spawned afresh and re-imports the supervisor's main
    # module before it answers the supervisor's 5-second health check; with this CLI as the
    # main module that import (about 3 s of CPU each) made one of 2-4 workers starting together
    # on 2 cores miss it, and uvicorn killed and restarted that worker.
    operational_engine(Settings.from_env().operational_url).dispose()
    sys.stdout.flush()
    sys.stderr.flush()
    command = worker_command(host=host, port=port, workers=workers)
    os.execv(command[0], command)


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (PostgreSQL for more than one).")] = 1,
) -> None:
    """Run the web application: pages, the JSON API and the device-gateway ingestion API
    (OpenAPI docs at /docs). Settings come from the CGTVIGIL_* environment variables."""
    serve(host=host, port=port, workers=workers)
