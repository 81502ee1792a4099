"""Audit-trail commands: export the head as an anchor, verify the chain against it."""

import json
from pathlib import Path
from typing import Annotated

import typer

from cgtvigil.audit import AuditAnchor, export_anchor, verify_audit
from cgtvigil.cli._app import _fail, app, console, plain
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import existing_operational_engine, session_factory

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("anchor")
def anchor_cmd(
    output: Annotated[Path, typer.Option(help="JSON file for the anchor (keep it outside this system).")],
) -> None:
    """Export the head of the chain (id, hash, count) as an anchor."""
    try:
        engine = existing_operational_engine(Settings.from_env().operational_url)
    except CgtVigilError as exc:
        _fail(exc)
    with session_factory(engine)() as session:
        anchor = export_anchor(session)
    engine.dispose()
    try:
        output.write_text(json.dumps(anchor.to_dict(), indent=2), "utf-8")
    except OSError as exc:
        _fail(exc)
    console.print(plain(f"Anchor at entry {anchor.head_id} ({anchor.count} entries): {output}"))


@audit_app.command("verify")
def verify_cmd(
    anchor: Annotated[Path | None, typer.Option(help="An anchor written by 'cgtvigil audit anchor'.")] = None,
) -> None:
    """Recompute the chain; exit 1 and list every problem if an entry was edited, deleted or truncated."""
    try:
        saved = AuditAnchor(**json.loads(anchor.read_text("utf-8"))) if anchor else None
    except (OSError, ValueError, TypeError) as exc:
        _fail(CgtVigilError(f"{anchor}: not an anchor file ({exc})."))
    try:
        engine = existing_operational_engine(Settings.from_env().operational_url)  # never creates one
    except CgtVigilError as exc:
        _fail(exc)
    with session_factory(engine)() as session:
        report = verify_audit(session, saved)
    engine.dispose()
    if not report.keyed:
        console.print(
            "[yellow]note:[/] no audit key (CGTVIGIL_AUDIT_KEY_FILE): the chain and seals are plain SHA-256, "
            "which anyone with write access to the database could recompute."
        )
    if report.ok:
        console.print(
            f"[green]Audit trail intact[/]: {report.entries} entries, security-relevant rows sealed"
            + (" (anchor matches)" if saved else "")
            + ("; keyed" if report.keyed else "")
        )
        return
    for p in report.problems:
        console.print(plain(p), style="red")
    raise typer.Exit(1)
