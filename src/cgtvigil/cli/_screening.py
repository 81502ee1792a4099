"""Spontaneous-report commands: ingest faers, signals, report, dictionary, demo."""

from __future__ import annotations

import os
import signal
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cgtvigil.cli._app import (
    _fail,
    _progress,
    _show_warnings,
    app,
    console,
    dictionary_app,
    err,
    ingest_app,
    plain,
)
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, CgtVigilWarning
from cgtvigil.model import SignalSpec
from cgtvigil.reports import write_signal_report
from cgtvigil.screening import (
    ImportReport,
    ScreenResult,
    check_result_path,
    check_writable,
    ingest_faers,
    open_screen_store,
    read_result,
    screen_counts_file,
    screen_long_file,
    screen_store,
    write_result,
)
from cgtvigil.store import FaersStore, expand_topics, load_products, load_topics


def _print_import(report: ImportReport) -> None:
    table = Table(title="Import reconciliation (read = loaded + quarantined)")
    for col in ("quarter", "file", "read", "loaded", "quarantined", "status"):
        table.add_column(col, justify="right" if col in ("read", "loaded", "quarantined") else "left")
    for f in report.files:
        table.add_row(f.quarter, plain(f.member), f"{f.read:,}", f"{f.loaded:,}", f"{f.quarantined:,}", f.status)
    console.print(table)
    for f in report.files:
        if f.status == "empty":
            err.print(
                Text.assemble(
                    ("warning:", "bold yellow"),
                    " ",
                    plain(f"{f.file}:{f.member}: a zero-byte file (truncated download?); its table is empty."),
                )
            )
        notes = {k: v for k, v in f.warnings.items() if k != "EMPTY_FILE"}
        if notes:
            listed = ", ".join(f"{k} {v:,}" for k, v in sorted(notes.items()))
            err.print(Text.assemble(("note:", "yellow"), " ", plain(f"{f.quarter} {f.member}: {listed}")))
    for ig in report.ignored:
        err.print(Text.assemble(("note:", "yellow"), " ", plain(f"{ig.file}: {ig.member}: {ig.reason}")))
    c = report.cases
    console.print(
        f"Cases: {c.get('cases', 0):,} loaded, {c.get('cases_after_dedup', 0):,} after de-duplication "
        f"({c.get('deleted_cases', 0):,} FDA-deleted excluded, "
        f"{c.get('probable_duplicates', 0):,} probable duplicates flagged)."
    )
    console.print(f"Drug names mapped: {report.drug_mapping}")


@ingest_app.command("faers")
def ingest_faers_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="FAERS/AERS quarterly zips (faers_ascii_YYYYqN.zip, aers_ascii_YYYYqN.zip) or unpacked folders."
        ),
    ],
    db: Annotated[
        Path | None, typer.Option(help="DuckDB store file (default: $CGTVIGIL_DB or ./cgtvigil.duckdb).")
    ] = None,
    report_json: Annotated[Path | None, typer.Option(help="Write the import report as JSON here.")] = None,
    flag_duplicates: Annotated[
        bool,
        typer.Option(
            help="Also flag probable duplicates (same event date, age, sex, country, suspect drugs, reactions)."
        ),
    ] = False,
) -> None:
    """Load FAERS quarters: every line is loaded or quarantined, cases are de-duplicated.

    Each quarter is loaded completely or not at all; after a failure or a crash, run the same
    command again to complete the load."""
    settings = Settings.from_env()
    # Fault injection for the tests (tests/faults): SIGKILL this process after the named step
    # (e.g. "member:drug", "2024Q2:member:drug", "2024Q2:committed", "dedup", "drugmap").
    fault = os.environ.get("CGTVIGIL_FAULT_AFTER")

    def checkpoint(step: str) -> None:
        if fault and (step == fault or step.endswith(":" + fault)):
            os.kill(os.getpid(), signal.SIGKILL)

    try:
        if report_json is not None:
            check_writable(report_json, "The import report")
        with FaersStore(db or settings.db) as store, _progress("ingest") as progress:
            report = ingest_faers(
                paths,
                store,
                load_products(),
                flag_duplicates=flag_duplicates,
                progress=progress,
                checkpoint=checkpoint if fault else None,
            )
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    _print_import(report)
    if report_json:
        try:
            report_json.write_text(report.to_json(), "utf-8")
        except OSError as exc:
            _fail(exc)
        console.print(Text.assemble("Import report: ", plain(report_json)))


def _spec(
    method: str,
    strata: str,
    roles: str,
    all_drugs: bool,
    squash: str,
    prior: str | None,
    yates: bool,
    ic_approx: bool,
    min_count: int,
    levels: str,
) -> SignalSpec:
    """The spec from the options; every problem reported at once, each naming its option."""
    from pydantic import ValidationError as PydanticValidationError

    from cgtvigil._validation import Problems, param_message
    from cgtvigil.errors import ValidationError

    options = {
        "methods": "--method",
        "strata": "--strata",
        "roles": "--roles",
        "squash": "--squash",
        "prior": "--prior",
        "min_count": "--min-count",
        "event_levels": "--levels",
    }
    problems = Problems()
    values: dict[str, Any] = {
        "methods": tuple(m.strip().lower() for m in method.split(",") if m.strip()),
        "strata": tuple(s.strip() for s in strata.split(",") if s.strip()),
        "roles": tuple(r.strip().upper() for r in roles.split(",") if r.strip()),
        "products_only": not all_drugs,
        "squash": squash,
        "yates": yates,
        "ic_method": "approx" if ic_approx else "exact",
        "min_count": min_count,
        "event_levels": tuple(x.strip() for x in levels.split(",") if x.strip()),
    }
    if not values["methods"]:
        problems.add(param_message("--method", "cgtvigil signals", "one or more of prr, ror, ic, ebgm", method))
    if prior:
        try:
            numbers = tuple(float(x) for x in prior.split(","))
        except ValueError:
            numbers = ()
        if len(numbers) != 5 or not all(0 < x < float("inf") for x in numbers[:4]) or not 0 < numbers[4] < 1:
            expected = "five numbers 'alpha1,beta1,alpha2,beta2,p' (alpha and beta > 0, 0 < p < 1)"
            problems.add(param_message("--prior", "cgtvigil signals", expected, prior))
        else:
            values["prior"] = numbers
    if not problems:
        try:
            return SignalSpec(**values)
        except PydanticValidationError as exc:
            for e in exc.errors():
                text = str(e["msg"]).removeprefix("Value error, ").removeprefix("Input should be ")
                expected = text.split(" must be ", 1)[1] if " must be " in text else text
                option = options.get(str(e["loc"][0]), str(e["loc"][0])) if e["loc"] else "(options)"
                problems.add(param_message(option, "cgtvigil signals", expected, e["input"]))
    raise ValidationError(problems.items)


def _print_top(result: ScreenResult, top: int) -> None:
    t = result.table
    cols = [
        c
        for c in ("drug", "event", "event_type", "n", "expected", "prr", "ror_lower", "ic025", "ebgm", "eb05")
        if c in t.column_names
    ]
    table = Table(title=f"Top {min(top, t.num_rows)} of {t.num_rows:,} pairs (ranked by the strongest lower bound)")
    for c in cols:
        table.add_column(c, justify="left" if c in ("drug", "event", "event_type") else "right")
    for row in t.slice(0, top).to_pylist():
        table.add_row(*[f"{row[c]:.3g}" if isinstance(row[c], float) else plain(row[c]) for c in cols])
    console.print(table)
    for step in result.metadata.get("attrition", []):
        if step["reports_out"] < step["reports_in"]:
            unit = step.get("unit", "reports")
            console.print(
                plain(f"{step['step']}: {step['reports_in']:,} -> {step['reports_out']:,} {unit} ({step['reason']})")
            )


@app.command("signals")
def signals_cmd(
    output: Annotated[
        Path, typer.Option(help="Result file: .csv, .parquet or .json (a .meta.json sidecar is written beside it).")
    ],
    db: Annotated[Path | None, typer.Option(help="Screen the FAERS store in this DuckDB file.")] = None,
    input: Annotated[
        Path | None, typer.Option("--input", help="Screen a long-format or counts file (CSV or Parquet).")
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            help="Input layout: 'long' (report id, drug, event; openEBGM id,var1,var2; rows with a blank "
            "field are left out and counted) or 'counts' (drug, event, a, b, c, d: whole numbers up to 2^53, "
            "each pair on one row)."
        ),
    ] = "long",
    strata: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated stratum columns for IC/EBGM expected counts; '' for crude. "
            "Default: age_band,sex,report_year with --db, none with --input."
        ),
    ] = None,
    method: Annotated[str, typer.Option(help="Methods: any of prr,ror,ic,ebgm.")] = "prr,ror,ic,ebgm",
    roles: Annotated[
        str, typer.Option(help="FAERS drug roles counted as exposure (PS,SS by default; PS,SS,C,I for all).")
    ] = "PS,SS",
    all_drugs: Annotated[bool, typer.Option(help="Store: report every drug, not only CGT products.")] = False,
    levels: Annotated[str, typer.Option(help="Store: event levels, 'pt' and/or 'topic'.")] = "pt,topic",
    squash: Annotated[str, typer.Option(help="Data squashing for the prior fit: auto, on or off.")] = "auto",
    prior: Annotated[
        str | None, typer.Option(help="Fixed prior 'alpha1,beta1,alpha2,beta2,p' instead of fitting one.")
    ] = None,
    yates: Annotated[bool, typer.Option(help="Yates' continuity correction for the PRR chi-square.")] = False,
    ic_approx: Annotated[
        bool, typer.Option(help="Closed-form IC025/IC975 approximation instead of exact gamma quantiles.")
    ] = False,
    min_count: Annotated[int, typer.Option(help="Leave out pairs with fewer cases.")] = 1,
    topics: Annotated[
        list[Path] | None, typer.Option(help="Extra safety-topic JSON file(s) (same layout as the shipped topics).")
    ] = None,
    meddra: Annotated[
        Path | None, typer.Option(help="Your licensed MedDRA ASCII release folder, to expand topics' meddra_groups.")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    top: Annotated[int, typer.Option(help="Rows to print.")] = 20,
) -> None:
    """Disproportionality screen: PRR, ROR, IC and EBGM for every pair, ranked."""
    if (db is None) == (input is None):
        _fail(CgtVigilError("give exactly one of --db (the FAERS store) or --input (a long or counts file)."))
    try:
        check_result_path(output)  # unwritable outputs are refused before the work starts
        if html:
            check_writable(html, "The HTML report")
        if strata is None:
            strata = "age_band,sex,report_year" if db is not None else ""
        spec = _spec(method, strata, roles, all_drugs, squash, prior, yates, ic_approx, min_count, levels)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CgtVigilWarning)
            if db is not None:
                with open_screen_store(db) as store, _progress("screen") as progress:
                    topic_set = expand_topics(load_topics(extra=topics), meddra)
                    result = screen_store(store, spec, load_products(), topic_set, progress=progress)
            elif format == "long":
                assert input is not None
                with _progress("screen") as progress:
                    result = screen_long_file(input, spec, progress=progress)
            elif format == "counts":
                assert input is not None
                result = screen_counts_file(input, spec)
            else:
                raise CgtVigilError(f"The '--format' option must be 'long' or 'counts'. Got {format!r}.")
        _show_warnings(caught)
        written = write_result(result, output)
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    _print_top(result, top)
    console.print(f"Results: {written[0]} (metadata: {written[1]})")
    if html:
        try:
            write_signal_report(html, result.table, result.metadata)
        except OSError as exc:
            _fail(exc)
        console.print(f"HTML report: {html}")


@app.command("report")
def report_cmd(
    results: Annotated[Path, typer.Argument(help="A result file written by 'cgtvigil signals'.")],
    output: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("signal-report.html"),
    title: Annotated[str, typer.Option(help="Report title.")] = "CGT signal screen",
) -> None:
    """Write the HTML signal report of a stored screen result."""
    try:
        check_writable(output, "The HTML report")
        result = read_result(results)
        write_signal_report(output, result.table, result.metadata, title=title)
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    console.print(f"HTML report: {output}")


@dictionary_app.command("products")
def products_cmd() -> None:
    """List the shipped CGT products."""
    d = load_products()
    table = Table(title=f"CGT products ({d.version}); * = some fields unverified")
    for c in ("brand", "generic", "modality", "class", "integrating", "editing", "LTFU y", "boxed warnings"):
        table.add_column(c)
    for p in d.products:
        table.add_row(
            p.brand + (" *" if p.unconfirmed else ""),
            p.generic,
            p.modality.value,
            p.product_class,
            "yes" if p.integrating else "no",
            "yes" if p.genome_editing else "no",
            str(p.ltfu_years or "–"),
            "; ".join(p.boxed_warnings) or "–",
        )
    console.print(table)


@dictionary_app.command("topics")
def topics_cmd() -> None:
    """List the shipped CGT safety topics."""
    t = load_topics()
    table = Table(title=f"CGT safety topics ({t.version})")
    table.add_column("id")
    table.add_column("name")
    table.add_column("preferred terms")
    for topic in t.topics:
        table.add_row(topic.id, topic.name, "; ".join(topic.preferred_terms))
    console.print(table)
    console.print(t.notice)
