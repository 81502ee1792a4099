"""Risk-register commands (issue 15): the registers, one register, an edit (a new version),
the EU RMP / US REMS alignment and the effectiveness indicators. The command line is the
operator of the deployment: it reads and edits every register, and each edit is audited under
the operating-system user's name."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from cgtvigil.cli._app import _fail, app, console, operational_session, plain
from cgtvigil.errors import CgtVigilError
from cgtvigil.store import Scope, load_products

if TYPE_CHECKING:
    pass

risk_app = typer.Typer(
    help="Risk registers: EU RMP risks and measures, US REMS elements, alignment, indicators.", no_args_is_help=True
)
app.add_typer(risk_app, name="risk")


def operator_scope() -> Scope:
    """The command line's scope: the deployment's operator, every register (audited by name)."""
    import getpass

    return Scope(
        actor=f"cli:{getpass.getuser()}",
        all_patients=True,
        aggregates=frozenset(),
        registers=frozenset(),
        register_writes=True,
        all_signals=True,
    )


def _yes(flag: bool) -> str:
    return "unconfirmed" if flag else "confirmed"


@risk_app.command("register")
def register_cmd() -> None:
    """Every product's risk register: version, risks, measures, unconfirmed entries, gaps."""
    from cgtvigil.risk_management import register_index

    try:
        with operational_session() as session:
            rows = register_index(session, operator_scope(), load_products(), datetime.now(UTC).date())
    except CgtVigilError as exc:
        _fail(exc)
    table = Table(title="Risk registers (version 0: the shipped starting register, not edited)")
    for c in ("product", "sponsor", "version", "risks", "measures", "unconfirmed", "gaps"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            *(plain(x) for x in (r.product_id, r.sponsor, r.version, r.risks, r.measures, r.unconfirmed, r.gaps))
        )
    console.print(table)


@risk_app.command("show")
def show_cmd(
    product: Annotated[str, typer.Argument(help="A product id or brand, e.g. kymriah.")],
    version: Annotated[int | None, typer.Option(help="An earlier version (default: the latest).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the register document (to edit it).")] = False,
) -> None:
    """Show a product's register: risks, PV activities, EU measures, US elements, versions."""
    from cgtvigil.risk_management import register_view

    try:
        with operational_session() as session:
            view = register_view(session, operator_scope(), load_products(), _product_id(product), version)
    except CgtVigilError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(view.document.model_dump(mode="json", exclude_defaults=False), indent=1, ensure_ascii=False))
        return
    console.print(plain(f"{view.brand} ({view.sponsor}): register version {view.version} ({view.basis})"))
    reg = view.document
    risks = Table(title="Safety concerns (EU RMP part II SVIII)")
    for c in ("key", "risk", "category", "status", "topic", "source"):
        risks.add_column(c)
    for r in reg.risks:
        risks.add_row(*(plain(x) for x in (r.key, r.name, r.category, r.status, r.topic or "–", _yes(r.unconfirmed))))
    console.print(risks)
    measures = Table(title="Measures (EU RMP part III/V, US label and REMS)")
    for c in ("region", "key", "measure", "kind", "risks", "in force", "source"):
        measures.add_column(c)
    for a in reg.pv_activities:
        measures.add_row(
            *(plain(x) for x in ("EU PV", a.key, a.name, a.kind, ", ".join(a.risks), "", _yes(a.unconfirmed)))
        )
    for m in reg.eu_measures:
        span = f"{m.effective_from or '…'} – {m.effective_to or 'now'}"
        measures.add_row(
            *(plain(x) for x in ("EU", m.key, m.name, m.tool, ", ".join(m.risks), span, _yes(m.unconfirmed)))
        )
    for e in reg.us_elements:
        span = f"{e.effective_from or '…'} – {e.effective_to or 'now'}"
        kind = e.kind + (f" ({', '.join(c.kind for c in e.components)})" if e.components else "")
        measures.add_row(
            *(plain(x) for x in ("US", e.key, e.name, kind, ", ".join(e.risks), span, _yes(e.unconfirmed)))
        )
    console.print(measures)
    for v in view.versions:
        console.print(plain(f"version {v.version}  {v.at:%Y-%m-%d %H:%M}  {v.by}  {v.basis}  {v.note}"))
    if reg.notes:
        console.print(plain(reg.notes))


def _product_id(given: str) -> str:
    names = {p.brand.lower(): p.id for p in load_products().products}
    return names.get(given.lower(), given.lower())


@risk_app.command("edit")
def edit_cmd(
    product: Annotated[str, typer.Argument(help="A product id or brand.")],
    file: Annotated[Path, typer.Option(help="The edited register document (JSON, as 'risk show --json' prints).")],
    note: Annotated[str, typer.Option(help="What changed and why (kept with the version).")],
) -> None:
    """Store an edited register as the next version (history kept, audited)."""
    from cgtvigil.risk_management import current_register, parse_register, save_register

    try:
        data = json.loads(file.read_text("utf-8"))
        if isinstance(data, dict) and data.get("product_id", _product_id(product)) != _product_id(product):
            raise CgtVigilError(f"{file}: the document is the register of {data.get('product_id')!r}, not {product!r}.")
        if isinstance(data, dict):
            data.setdefault("product_id", _product_id(product))
        register = parse_register(data, where=str(file))
        with operational_session() as session:
            before = current_register(session, register.product_id).version
            stored = save_register(
                session, operator_scope(), load_products(), register, at=datetime.now(UTC), note=note
            )
            session.commit()
    except json.JSONDecodeError as exc:
        _fail(CgtVigilError(f"{file}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."))
    except UnicodeDecodeError as exc:
        _fail(CgtVigilError(f"{file}: not UTF-8 text (byte {exc.start})."))
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    if stored.version == before:
        console.print(plain(f"{register.product_id}: nothing changed; the register stays at version {stored.version}."))
    else:
        console.print(plain(f"{register.product_id}: register version {stored.version} stored ({stored.sha256[:12]})."))


@risk_app.command("align")
def align_cmd(
    product: Annotated[str, typer.Argument(help="A product id or brand.")],
    on: Annotated[str | None, typer.Option(help="The day (YYYY-MM-DD) the measures are taken as in force.")] = None,
) -> None:
    """The EU measure and the US element of each risk side by side, the gaps and the history."""
    from cgtvigil.risk_management import register_alignment

    try:
        day = date.fromisoformat(on) if on else datetime.now(UTC).date()
    except ValueError:
        _fail(CgtVigilError(f"The '--on' option must be a date YYYY-MM-DD. Got {on!r}."))
    try:
        with operational_session() as session:
            found = register_alignment(session, operator_scope(), load_products(), _product_id(product), day)
    except CgtVigilError as exc:
        _fail(exc)
    table = Table(title=f"{found.brand}: EU RMP and US alignment on {found.on} (register version {found.version})")
    for c in ("risk", "category", "EU (in force)", "US (in force)", "gap"):
        table.add_column(c)
    for r in found.rows:
        eu = "; ".join(c.name + (" [additional]" if c.additional else "") for c in r.eu if c.in_force) or "–"
        us = "; ".join(c.name + (" [REMS]" if c.additional else "") for c in r.us if c.in_force) or "–"
        gap = ", ".join(
            x
            for x in (
                f"minimised {r.gap}" if r.gap else "",
                f"additional measures {r.additional_gap}" if r.additional_gap else "",
            )
            if x
        )
        table.add_row(*(plain(x) for x in (r.risk_name, r.category.replace("_", " "), eu, us, gap or "aligned")))
    console.print(table)
    console.print(plain(f"{found.gaps} risk(s) with a gap. History:"))
    for h in found.history:
        console.print(plain(f"  {h.date}  {h.region:<8} {h.what}{' (UNCONFIRMED)' if h.unconfirmed else ''}"))


@risk_app.command("indicators")
def indicators_cmd(product: Annotated[str, typer.Argument(help="A product id or brand.")]) -> None:
    """Effectiveness indicators of the register's measures, by infusion quarter, against target."""
    from cgtvigil.risk_management import register_indicators

    try:
        with operational_session() as session:
            found = register_indicators(
                session, operator_scope(), load_products(), _product_id(product), datetime.now(UTC)
            )
    except CgtVigilError as exc:
        _fail(exc)
    if not found:
        console.print(plain(f"The register of {product} names no effectiveness indicator."))
    table = Table(title="Effectiveness indicators (GVP XVI.B.4)")
    for c in ("region", "measure", "indicator", "kind", "target", "overall", "quarters", "status"):
        table.add_column(c)
    for m in found:
        for s in m.indicators:
            unit = " h" if s.unit == "hours" else ""
            sign = ">=" if s.direction == "at_least" else "<="
            overall = "–"
            if s.overall and s.overall.value is not None:
                overall = f"{s.overall.value:.2f}{unit} (n={s.overall.denominator})"
            quarters = ", ".join(
                f"{p.period} {'<5' if p.withheld else '–' if p.value is None else f'{p.value:.2f}'}" for p in s.points
            )
            cells = (
                m.region,
                m.measure_name,
                s.name,
                s.kind,
                f"{sign} {s.target:g}{unit}",
                overall,
                quarters or "–",
                s.status + (f": {s.note}" if s.note and s.status != "computed" else ""),
            )
            table.add_row(*(plain(x) for x in cells))
    console.print(table)
