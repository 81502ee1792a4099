"""The ``cgtvigil`` command line (Typer + Rich): the only place that prints."""

import sys
from typing import Annotated

import typer

from cgtvigil import __version__
from cgtvigil.cli import (  # noqa: F401  (registers commands)
    _audit,
    _cases,
    _demo,
    _exchange,
    _followup,
    _forecast,
    _genotox,
    _grading,
    _monitor,
    _periodic,
    _ranking,
    _risk,
    _screening,
    _serve,
    _signal_management,
    _surveillance,
    _synth,
    _tokens,
    _users,
)
from cgtvigil.cli._app import app, console, err

__all__ = ["app", "main"]


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        console.print(f"cgtvigil {__version__}")
        raise typer.Exit()
    _users.use_settings_audit_key()  # every command writes and checks the audit trail with the deployment's key


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
