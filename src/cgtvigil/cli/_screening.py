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

from cgtvigil._validation import Problems, param_message
from cgtvigil.cli._app import (
    _fail,
    _listed,
    _progress,
    _show_warnings,
    _unused,
    app,
    console,
    dictionary_app,
    err,
    ingest_app,
    plain,
)
from cgtvigil.cli._exchange import export_app
from cgtvigil.config import Settings
from cgtvigil.engine import CountingEngine, SparkEngine, spark_missing, spark_session
from cgtvigil.errors import CgtVigilError, CgtVigilWarning
from cgtvigil.model import FAERS_ROLES, SignalSpec
from cgtvigil.reports import write_signal_report
from cgtvigil.screening import (
    ImportReport,
    ScreenResult,
    check_result_path,
    check_writable,
    export_store_parquet,
    ingest_faers,
    open_screen_store,
    read_result,
    screen_counts_file,
    screen_long_file,
    screen_store,
    write_result,
)
from cgtvigil.store import STORE_STRATA, FaersStore, expand_topics, load_products, load_topics


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
        with (
            FaersStore(
                db or settings.db, memory_limit=settings.duckdb_memory_limit, temp_directory=settings.duckdb_temp_dir
            ) as store,
            _progress("ingest") as progress,
        ):
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


_SIGNALS = "cgtvigil signals"


def _spec(options: dict[str, Any], *, store: bool, problems: Problems) -> SignalSpec:
    """The spec from the options (repeatable ones as tuples); every problem reported at once,
    with those already in ``problems``, each naming its option."""
    from pydantic import ValidationError as PydanticValidationError

    names = {
        "methods": "--method",
        "strata": "--strata",
        "roles": "--roles",
        "squash": "--squash",
        "prior": "--prior",
        "min_count": "--min-count",
        "event_levels": "--levels",
    }
    roles = tuple(dict.fromkeys(r.upper() for r in options["roles"]))
    for r in roles or ("",):
        if r not in FAERS_ROLES:
            problems.add(param_message("--roles", _SIGNALS, f"FAERS role codes ({', '.join(FAERS_ROLES)})", r))
    strata = tuple(dict.fromkeys(options["strata"]))
    if store:  # a file's columns are checked when it is read; the store's are known
        strata = tuple(dict.fromkeys(s.lower() for s in strata))
        for s in strata:
            if s not in STORE_STRATA:
                expected = f"stratum columns of the FAERS store ({', '.join(STORE_STRATA)})"
                problems.add(param_message("--strata", _SIGNALS, expected, s))
    values: dict[str, Any] = {
        "methods": tuple(m.lower() for m in options["methods"]),
        "strata": strata,
        "roles": roles,
        "products_only": not options["all_drugs"],
        "squash": options["squash"],
        "yates": options["yates"],
        "ic_method": "approx" if options["ic_approx"] else "exact",
        "min_count": options["min_count"],
        "event_levels": tuple(dict.fromkeys(x.lower() for x in options["levels"])),
    }
    for key, option, expected in (
        ("methods", "--method", "one or more of prr, ror, ic, ebgm"),
        ("roles", "--roles", ""),  # reported above
        ("event_levels", "--levels", "'pt' and/or 'topic'"),
    ):
        if not values[key]:  # reported once, here or above; the spec's default stands in
            del values[key]
            if expected:
                problems.add(param_message(option, _SIGNALS, expected, ""))
    prior = options["prior"]
    if prior:
        try:
            numbers = tuple(float(x) for x in prior.split(","))
        except ValueError:
            numbers = ()
        if len(numbers) != 5 or not all(0 < x < float("inf") for x in numbers[:4]) or not 0 < numbers[4] < 1:
            expected = "five numbers 'alpha1,beta1,alpha2,beta2,p' (alpha and beta > 0, 0 < p < 1)"
            problems.add(param_message("--prior", _SIGNALS, expected, prior))
        else:
            values["prior"] = numbers
    try:
        spec = SignalSpec(**values)
    except PydanticValidationError as exc:
        for e in exc.errors():
            text = str(e["msg"]).removeprefix("Value error, ").removeprefix("Input should be ")
            expected = text.split(" must be ", 1)[1] if " must be " in text else text
            option = names.get(str(e["loc"][0]), str(e["loc"][0])) if e["loc"] else "(options)"
            problems.add(param_message(option, _SIGNALS, expected, e["input"]))
    problems.raise_if_any()
    return spec


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
        str | None,
        typer.Option(
            help="Layout of --input: 'long' (the default; report id, drug, event; openEBGM id,var1,var2; rows "
            "with a blank field are left out and counted) or 'counts' (drug, event, a, b, c, d: whole numbers "
            "up to 2^53, each pair on one row)."
        ),
    ] = None,
    strata: Annotated[
        list[str] | None,
        typer.Option(
            help="Stratum columns for IC/EBGM expected counts, repeatable or comma-separated; '' for crude. "
            f"Default: {','.join(STORE_STRATA)} with --db (the store's stratum columns), none with --input."
        ),
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option(help="Methods, repeatable or comma-separated: any of prr, ror, ic, ebgm (default: all four)."),
    ] = None,
    roles: Annotated[
        list[str] | None,
        typer.Option(
            help="Store: FAERS drug roles counted as exposure, repeatable or comma-separated: "
            "PS, SS, C, I (default: PS,SS)."
        ),
    ] = None,
    all_drugs: Annotated[bool, typer.Option(help="Store: report every drug, not only CGT products.")] = False,
    levels: Annotated[
        list[str] | None,
        typer.Option(help="Store: event levels, repeatable or comma-separated: pt, topic (default: both)."),
    ] = None,
    squash: Annotated[
        str | None, typer.Option(help="EBGM: data squashing for the prior fit: auto (the default), on or off.")
    ] = None,
    prior: Annotated[
        str | None, typer.Option(help="EBGM: fixed prior 'alpha1,beta1,alpha2,beta2,p' instead of fitting one.")
    ] = None,
    yates: Annotated[bool, typer.Option(help="Yates' continuity correction for the PRR chi-square.")] = False,
    ic_approx: Annotated[
        bool, typer.Option(help="Closed-form IC025/IC975 approximation instead of exact gamma quantiles.")
    ] = False,
    min_count: Annotated[int, typer.Option(help="Leave out pairs with fewer cases.")] = 1,
    topics: Annotated[
        list[Path] | None,
        typer.Option(help="Store: extra safety-topic JSON file(s) (same layout as the shipped topics)."),
    ] = None,
    meddra: Annotated[
        Path | None,
        typer.Option(help="Store: your licensed MedDRA ASCII release folder, to expand topics' meddra_groups."),
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    top: Annotated[int, typer.Option(min=0, help="Rows to print.")] = 20,
    engine: Annotated[
        str,
        typer.Option(
            help="Counting engine: duckdb (embedded, the default) or spark (PySpark and Java; local mode, or "
            "the cluster in $CGTVIGIL_SPARK_MASTER; the store is counted from its Parquet export)."
        ),
    ] = "duckdb",
) -> None:
    """Disproportionality screen: PRR, ROR, IC and EBGM for every pair, ranked."""
    if (db is None) == (input is None):
        _fail(CgtVigilError("give exactly one of --db (the FAERS store) or --input (a long or counts file)."))
    from_store = db is not None
    layout = (format or "long").strip().lower()
    methods = _listed(method, "prr,ror,ic,ebgm")
    problems = Problems()
    if from_store:
        _unused("with --db (the store's layout is known)", problems, format=format is not None)
    else:
        _unused(
            "with --input (it applies to the FAERS store, --db)",
            problems,
            roles=roles is not None,
            all_drugs=all_drugs,
            levels=levels is not None,
            topics=bool(topics),
            meddra=meddra is not None,
        )
        if layout not in ("long", "counts"):
            problems.add(param_message("--format", _SIGNALS, "'long' or 'counts'", format))
        if layout == "counts":
            _unused("with --format counts (each row is one 2x2 table)", problems, strata=bool(_listed(strata)))
    used = {m.lower() for m in methods}
    if "ebgm" not in used:
        _unused("without ebgm in --method", problems, squash=squash is not None, prior=prior is not None)
    elif prior is not None:
        _unused("with a fixed --prior (no prior is fitted)", problems, squash=squash is not None)
    if "prr" not in used:
        _unused("without prr in --method", problems, yates=yates)
    if "ic" not in used:
        _unused("without ic in --method", problems, ic_approx=ic_approx)
    engine_name = engine.strip().lower()
    if engine_name not in ("duckdb", "spark"):
        problems.add(param_message("--engine", _SIGNALS, "'duckdb' or 'spark'", engine))
    elif not from_store and layout == "counts":
        _unused("with --format counts (nothing is counted)", problems, engine=engine_name == "spark")
    options = {
        "methods": methods,
        "strata": _listed(strata, ",".join(STORE_STRATA) if from_store else ""),
        "roles": _listed(roles, "PS,SS"),
        "all_drugs": all_drugs,
        "squash": (squash or "auto").strip().lower(),
        "prior": prior,
        "yates": yates,
        "ic_approx": ic_approx,
        "min_count": min_count,
        "levels": _listed(levels, "pt,topic"),
    }
    try:
        check_result_path(output)  # unwritable outputs are refused before the work starts
        if html:
            check_writable(html, "The HTML report")
        spec = _spec(options, store=from_store, problems=problems)
        settings = Settings.from_env()
        counting = _spark_engine(settings) if engine_name == "spark" else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CgtVigilWarning)
            if db is not None:
                topic_set = load_topics(extra=topics)
                if meddra is not None and not any(t.meddra_groups for t in topic_set.topics):
                    raise CgtVigilError(
                        "The '--meddra' option has no effect: no safety topic (shipped or from --topics) lists "
                        "meddra_groups to expand; leave it out, or give --topics files whose topics list them."
                    )
                topic_set = expand_topics(topic_set, meddra)
                limit, spill = settings.duckdb_memory_limit, settings.duckdb_temp_dir
                with (
                    open_screen_store(db, memory_limit=limit, temp_directory=spill) as store,
                    _progress("screen") as progress,
                ):
                    result = screen_store(
                        store,
                        spec,
                        load_products(),
                        topic_set,
                        progress=progress,
                        engine=counting,
                        export_dir=settings.spark_export_dir,
                    )
            elif layout == "long":
                assert input is not None
                with _progress("screen") as progress:
                    result = screen_long_file(
                        input,
                        spec,
                        engine=counting,
                        progress=progress,
                        memory_limit=settings.duckdb_memory_limit,
                        temp_directory=settings.duckdb_temp_dir,
                    )
            else:
                assert input is not None
                result = screen_counts_file(input, spec)
        _show_warnings(caught)
        written = write_result(result, output)
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    _print_top(result, top)
    console.print(plain(f"Results: {written[0]} (metadata: {written[1]})"))
    if html:
        try:
            write_signal_report(html, result.table, result.metadata)
        except OSError as exc:
            _fail(exc)
        console.print(plain(f"HTML report: {html}"))


def _spark_engine(settings: Settings) -> CountingEngine:
    """The Spark engine on $CGTVIGIL_SPARK_MASTER, or one clear message why it cannot run."""
    problem = spark_missing(settings.spark_master)
    if problem:
        raise CgtVigilError(f"--engine spark cannot run here: {problem}. Without it, use --engine duckdb.")
    with _progress("starting Spark") as progress:
        progress(f"starting Spark ({settings.spark_master or 'local mode'})", 0, 1)
        return SparkEngine(spark_session(settings.spark_master))


@export_app.command("parquet")
def export_parquet_cmd(
    folder: Annotated[
        Path, typer.Argument(help="Folder to write <level>.parquet into (e.g. a cluster's shared store).")
    ],
    db: Annotated[
        Path | None, typer.Option(help="The FAERS store (default: $CGTVIGIL_DB or ./cgtvigil.duckdb).")
    ] = None,
    roles: Annotated[
        list[str] | None, typer.Option(help="FAERS drug roles counted as exposure (default: PS,SS).")
    ] = None,
    levels: Annotated[list[str] | None, typer.Option(help="Event levels: pt, topic (default: both).")] = None,
) -> None:
    """Export the store's analysis relation (report_id, drug, event and the stratum columns of
    de-duplicated, non-deleted cases) as Parquet, one file per event level: the long format
    `cgtvigil signals --input` reads, with any engine, e.g. on a Spark cluster."""
    chosen_roles = tuple(dict.fromkeys(r.upper() for r in _listed(roles, "PS,SS")))
    chosen_levels = tuple(dict.fromkeys(x.lower() for x in _listed(levels, "pt,topic")))
    problems = Problems()
    for r in chosen_roles or ("",):
        if r not in FAERS_ROLES:
            problems.add(
                param_message("--roles", "cgtvigil export parquet", f"FAERS role codes ({', '.join(FAERS_ROLES)})", r)
            )
    for x in chosen_levels or ("",):
        if x not in ("pt", "topic"):
            problems.add(param_message("--levels", "cgtvigil export parquet", "'pt' and/or 'topic'", x))
    try:
        problems.raise_if_any()
        settings = Settings.from_env()
        limit, spill = settings.duckdb_memory_limit, settings.duckdb_temp_dir
        with open_screen_store(db or settings.db, memory_limit=limit, temp_directory=spill) as store:
            written = export_store_parquet(store, folder, load_topics(), roles=chosen_roles, levels=chosen_levels)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    for level, path in written.items():
        console.print(plain(f"{level}: {path}"))


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
    console.print(plain(f"HTML report: {output}"))


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
