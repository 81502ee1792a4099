"""Periodic and signal reports (issue 15): `cgtvigil reports pbrer|dsur|dossier`, HTML and PDF
from a stored spec (written beside the document) and the analytic store's snapshots. (`cgtvigil
report` is the HTML report of a screen result.)"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError as PydanticValidationError

from cgtvigil.cli._app import _fail, _progress, app, console, operational_session, plain
from cgtvigil.cli._risk import operator_scope
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.reports import InputRef, PeriodicSpec, RegisterInForce, SignalLine, signals_input

reports_app = typer.Typer(
    help="Periodic safety reports (PBRER/PSUR, DSUR) and signal assessment dossiers, as HTML and PDF.",
    no_args_is_help=True,
)
app.add_typer(reports_app, name="reports")


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CgtVigilError(f"The '--{option}' option must be a date YYYY-MM-DD. Got {value!r}.") from None


def _registers(product_ids: tuple[str, ...], data_lock_point: date) -> list[RegisterInForce]:
    from cgtvigil.reports import registers_in_force
    from cgtvigil.store import load_products

    with operational_session() as session:
        found = registers_in_force(session, operator_scope(), load_products(), product_ids, data_lock_point)
        session.commit()  # a shipped starting register stored on first use
    return found


def signal_lines(spec: PeriodicSpec) -> list[SignalLine]:
    """The signal summary table of the period, each signal as it stood at the data lock point."""
    from cgtvigil.reports import periodic_signal_lines

    with operational_session() as session:
        return periodic_signal_lines(session, operator_scope(), spec)


def _periodic(
    kind: Literal["pbrer", "dsur"],
    product: list[str] | None,
    start: str | None,
    dlp: str | None,
    spec_file: Path | None,
    db: Path | None,
    output: Path,
    pdf: bool,
) -> None:
    from cgtvigil.reports import build_periodic, collect_events, render_pdf, render_periodic_html
    from cgtvigil.store import load_products, load_topics

    try:
        products = load_products()
        if spec_file is not None:
            if product or start or dlp:
                raise CgtVigilError("Give either '--spec' or '--product', '--from' and '--dlp', not both.")
            spec = _read_spec(spec_file)
        else:
            if not product or not start or not dlp:
                raise CgtVigilError("Give '--product' (one or more), '--from' and '--dlp', or a stored '--spec' file.")
            names = {p.brand.lower(): p.id for p in products.products}
            ids = tuple(sorted({names.get(p.lower(), p.lower()) for p in product}))
            unknown = [p for p in ids if p not in products.by_id()]
            if unknown:
                raise CgtVigilError(f"unknown product(s) {', '.join(unknown)}; see 'cgtvigil dictionary products'.")
            spec = PeriodicSpec(
                kind=kind, products=ids, interval_start=_day(start, "from"), data_lock_point=_day(dlp, "dlp")
            )
        if spec.kind != kind:
            raise CgtVigilError(f"{spec_file}: the spec is a {spec.kind} spec, not a {kind} spec.")
        topics = load_topics()
        with _progress(kind.upper()) as step:
            step("counting cases", 0, 3)
            events, inputs = collect_events(db or Settings.from_env().db, spec, products, topics)
            step("risk registers and signals", 1, 3)
            registers = _registers(spec.products, spec.data_lock_point)
            signals = signal_lines(spec)
            inputs.append(signals_input(signals))  # the table as at the data lock point
            report = build_periodic(spec, events, inputs, registers, {t.id: t.name for t in topics.topics}, signals)
            step("rendering", 2, 3)
            stem = f"{kind}-{'-'.join(spec.products)}-{spec.data_lock_point}"
            output.mkdir(parents=True, exist_ok=True)
            (output / f"{stem}.spec.json").write_text(spec.model_dump_json(indent=1) + "\n", "utf-8")
            html = render_periodic_html(report)
            (output / f"{stem}.html").write_text(html, "utf-8")
            if pdf:
                render_pdf(html, output / f"{stem}.pdf")
            step("done", 3, 3)
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    console.print(
        plain(
            f"{kind.upper()} {', '.join(spec.products)} {spec.interval_start} to {spec.data_lock_point}: "
            f"{report.cases_interval} cases in the interval, {report.cases_cumulative} cumulative."
        )
    )
    written = [f"{stem}.spec.json", f"{stem}.html", *([f"{stem}.pdf"] if pdf else [])]
    console.print(plain("Written: " + ", ".join(str(output / w) for w in written)))


_PRODUCT = typer.Option("--product", help="A product id or brand (repeat for several).")
_FROM = typer.Option("--from", help="First day of the reporting interval (YYYY-MM-DD).")
_DLP = typer.Option("--dlp", help="The data lock point, last day of the interval (YYYY-MM-DD).")
_SPEC = typer.Option("--spec", help="A stored spec (the .spec.json written beside an earlier report).")
_DB = typer.Option("--db", help="The analytic store (FAERS and case store); default CGTVIGIL_DB.")
_OUT = typer.Option("--output", help="Folder to write the documents into.")
_PDF = typer.Option("--pdf/--no-pdf", help="Also write the PDF (WeasyPrint).")


def _signal(signal_id: int, lock: date) -> tuple[SignalLine, list[str], list[str]]:
    """A signal of the workflow as it stood at the data lock point, its timeline and evidence."""
    from cgtvigil.reports import dossier_signal

    with operational_session() as session:
        return dossier_signal(session, operator_scope(), signal_id, lock)


def _read_spec(path: Path) -> PeriodicSpec:
    """A stored spec file, or one message naming the file and the fields that are wrong."""
    try:
        return PeriodicSpec.model_validate_json(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CgtVigilError(f"{path}: not UTF-8 text (byte {exc.start}).") from None
    except PydanticValidationError as exc:
        wrong = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'the document'}: {e['msg']}" for e in exc.errors())
        raise CgtVigilError(f"{path}: not a periodic report spec ({wrong}).") from None


@reports_app.command("pbrer")
def pbrer_cmd(
    product: Annotated[list[str] | None, _PRODUCT] = None,
    start: Annotated[str | None, _FROM] = None,
    dlp: Annotated[str | None, _DLP] = None,
    spec: Annotated[Path | None, _SPEC] = None,
    db: Annotated[Path | None, _DB] = None,
    output: Annotated[Path, _OUT] = Path("cgtvigil-output/reports"),
    pdf: Annotated[bool, _PDF] = True,
) -> None:
    """PBRER/PSUR summary tabulations of marketed products (every source)."""
    _periodic("pbrer", product, start, dlp, spec, db, output, pdf)


@reports_app.command("dsur")
def dsur_cmd(
    product: Annotated[list[str] | None, _PRODUCT] = None,
    start: Annotated[str | None, _FROM] = None,
    dlp: Annotated[str | None, _DLP] = None,
    spec: Annotated[Path | None, _SPEC] = None,
    db: Annotated[Path | None, _DB] = None,
    output: Annotated[Path, _OUT] = Path("cgtvigil-output/reports"),
    pdf: Annotated[bool, _PDF] = True,
) -> None:
    """DSUR tabulations (clinical-study cases only)."""
    _periodic("dsur", product, start, dlp, spec, db, output, pdf)


@reports_app.command("dossier")
def dossier_cmd(
    dlp: Annotated[str, _DLP],
    signal: Annotated[
        int | None, typer.Option(help="A signal of the workflow: its product, event and timeline.")
    ] = None,
    product: Annotated[str | None, typer.Option(help="A product id or brand (without --signal).")] = None,
    event: Annotated[
        str | None, typer.Option(help="A preferred term name or a safety topic id (without --signal).")
    ] = None,
    screen: Annotated[
        Path | None, typer.Option(help="A screen result ('cgtvigil signals'): the pair's statistics.")
    ] = None,
    db: Annotated[Path | None, _DB] = None,
    output: Annotated[Path, _OUT] = Path("cgtvigil-output/reports"),
    pdf: Annotated[bool, _PDF] = True,
) -> None:
    """A signal assessment dossier: the signal (its timeline and evidence), the cases of its
    product-event pair, the register's risk for it with its EU/US alignment, and the inputs it
    was made from."""
    from cgtvigil.reports import build_dossier, collect_events, render_dossier_html, render_pdf, screen_statistics
    from cgtvigil.risk_management import register_alignment
    from cgtvigil.store import load_products, load_topics

    try:
        products = load_products()
        lock = _day(dlp, "dlp")
        line: SignalLine | None = None
        timeline: list[str] = []
        evidence: list[str] = []
        if signal is not None:
            if product or event:
                raise CgtVigilError("Give either '--signal' or '--product' and '--event', not both.")
            line, timeline, evidence = _signal(signal, lock)
            product, event = line.product, line.event
        if not product or not event:
            raise CgtVigilError("Give '--signal', or '--product' and '--event'.")
        names = {p.brand.lower(): p.id for p in products.products}
        pid = names.get(product.lower(), product.lower())
        spec = PeriodicSpec(kind="pbrer", products=(pid,), interval_start=lock, data_lock_point=lock)
        events, inputs = collect_events(db or Settings.from_env().db, spec, products, load_topics())
        (register,) = _registers((pid,), lock)
        with operational_session() as session:
            alignment = register_alignment(session, operator_scope(), products, pid, lock, register.version)
        dossier = build_dossier(
            product_id=pid,
            brand=register.brand,
            event=event,
            data_lock_point=lock,
            events=events,
            inputs=[*inputs, InputRef(kind="risk-register", name=f"{pid} v{register.version}", sha256=register.sha256)],
            alignment=alignment,
            register=register.document,
            signal=line,
            timeline=timeline,
            evidence=evidence,
        )
        statistics: list[dict[str, str]] = []
        if screen is not None:
            statistics, screen_input = screen_statistics(screen, products.by_id()[pid].names(), event)
            dossier = dossier.model_copy(
                update={
                    "statistics": statistics,
                    "inputs": sorted([*dossier.inputs, screen_input], key=lambda i: i.kind),
                }
            )
        slug = "".join(c if c.isalnum() else "_" for c in event.lower())[:60]
        stem = f"dossier-{pid}-{slug}-{lock}"
        output.mkdir(parents=True, exist_ok=True)
        html = render_dossier_html(dossier)
        (output / f"{stem}.html").write_text(html, "utf-8")
        if pdf:
            render_pdf(html, output / f"{stem}.pdf")
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    console.print(plain(f"Dossier {register.brand} – {event}: {dossier.counts['cases']} cases; {output / stem}.html"))
