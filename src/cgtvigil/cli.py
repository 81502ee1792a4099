"""The ``cgtvigil`` command line (Typer + Rich). The only place that prints."""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import pyarrow.csv as pacsv
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cgtvigil import __version__
from cgtvigil.clinical import REQUESTS, grade_request, request_schema
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, CgtVigilWarning
from cgtvigil.forecasting import REQUIRED_COLUMNS, DailyTable, ToxicityForecaster, evaluate_forecaster
from cgtvigil.model import SignalSpec
from cgtvigil.reports import write_signal_report
from cgtvigil.screening import (
    ImportReport,
    ScreenResult,
    ingest_faers,
    read_result,
    screen_counts_file,
    screen_long_file,
    screen_store,
    write_result,
)
from cgtvigil.store import FaersStore, expand_topics, load_products, load_topics
from cgtvigil.synth import (
    SYNTHETIC_NOTICE,
    SynthConfig,
    TrajectoryConfig,
    generate_faers,
    generate_long,
    write_trajectories,
)

console = Console()
err = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    help="cgtvigil: pharmacovigilance for cell and gene therapies.", no_args_is_help=True, add_completion=False
)
ingest_app = typer.Typer(help="Load real-world data into the analytic store.", no_args_is_help=True)
synth_app = typer.Typer(help="Write seeded SYNTHETIC data (for demos, tests and benchmarks).", no_args_is_help=True)
dictionary_app = typer.Typer(help="Show the shipped CGT product dictionary and safety topics.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(synth_app, name="synth")
app.add_typer(dictionary_app, name="dictionary")


@contextmanager
def _progress(description: str) -> Iterator[Callable[[str, int, int], None]]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(label: str, done: int, total: int) -> None:
            bar.update(task, description=f"{description}: {label}", completed=done, total=total)

        yield update


def _fail(exc: Exception) -> None:
    err.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2) from exc


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        if issubclass(w.category, CgtVigilWarning):
            err.print(f"[yellow]note:[/] {w.message}")


def _print_import(report: ImportReport) -> None:
    table = Table(title="Import reconciliation (read = loaded + quarantined)")
    for col in ("quarter", "file", "read", "loaded", "quarantined", "status"):
        table.add_column(col, justify="right" if col in ("read", "loaded", "quarantined") else "left")
    for f in report.files:
        table.add_row(f.quarter, f.member, f"{f.read:,}", f"{f.loaded:,}", f"{f.quarantined:,}", f.status)
    console.print(table)
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
    """Load FAERS quarters: every line is loaded or quarantined, cases are de-duplicated."""
    settings = Settings.from_env()
    try:
        with FaersStore(db or settings.db) as store, _progress("ingest") as progress:
            report = ingest_faers(paths, store, load_products(), flag_duplicates=flag_duplicates, progress=progress)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    _print_import(report)
    if report_json:
        report_json.write_text(report.to_json(), "utf-8")
        console.print(f"Import report: {report_json}")


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
    if prior:
        values["prior"] = tuple(float(x) for x in prior.split(","))
    return SignalSpec(**values)


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
        table.add_row(*[f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols])
    console.print(table)


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
            help="Input layout: 'long' (report id, drug, event; openEBGM id,var1,var2) "
            "or 'counts' (drug, event, a, b, c, d)."
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
        if strata is None:
            strata = "age_band,sex,report_year" if db is not None else ""
        spec = _spec(method, strata, roles, all_drugs, squash, prior, yates, ic_approx, min_count, levels)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CgtVigilWarning)
            if db is not None:
                if not db.exists():
                    raise CgtVigilError(f"{db}: no such store; run 'cgtvigil ingest faers ... --db {db}' first.")
                with FaersStore(db) as store, _progress("screen") as progress:
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
        write_signal_report(html, result.table, result.metadata)
        console.print(f"HTML report: {html}")


@app.command("report")
def report_cmd(
    results: Annotated[Path, typer.Argument(help="A result file written by 'cgtvigil signals'.")],
    output: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("signal-report.html"),
    title: Annotated[str, typer.Option(help="Report title.")] = "CGT signal screen",
) -> None:
    """Write the HTML signal report of a stored screen result."""
    try:
        result = read_result(results)
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    write_signal_report(output, result.table, result.metadata, title=title)
    console.print(f"HTML report: {output}")


@synth_app.command("faers")
def synth_faers_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for the synthetic quarterly zips.")],
    reports_per_quarter: Annotated[int, typer.Option(help="Reports per quarter.")] = 20_000,
    quarters: Annotated[
        str, typer.Option(help="Comma-separated quarters, e.g. 2024Q1,2024Q2.")
    ] = "2024Q1,2024Q2,2024Q3,2024Q4",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261125,
) -> None:
    """SYNTHETIC FAERS quarters with CAR-T products calibrated on dated openFDA counts."""
    cfg = SynthConfig(
        reports_per_quarter=reports_per_quarter,
        quarters=tuple(q.strip().upper() for q in quarters.split(",")),
        seed=seed,
    )
    with _progress("synthesise") as progress:
        result = generate_faers(out_dir, load_products(), cfg, progress=progress)
    console.print(
        f"{SYNTHETIC_NOTICE}\n{result.reports:,} reports in {len(result.zips)} zips under {out_dir}; "
        f"manifest {result.manifest}"
    )


@synth_app.command("long")
def synth_long_cmd(
    output: Annotated[Path, typer.Argument(help="Parquet or CSV file to write.")],
    reports: Annotated[int, typer.Option(help="Number of reports.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """SYNTHETIC long-format data (id, var1, var2, strat1, strat2) for scale tests."""
    rows = generate_long(output, reports, seed=seed)
    console.print(f"{SYNTHETIC_NOTICE}\n{rows:,} rows for {reports:,} reports in {output}")


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


def _read_grade_input(path: Path, scheme: str, options: dict[str, Any]) -> Any:
    """A JSON payload as is; a CSV file as rows (one assessment or one lab result per row)."""
    text = sys.stdin.read() if str(path) == "-" else path.read_text("utf-8")
    if path.suffix.lower() != ".csv":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CgtVigilError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}).") from exc
    rows = [{k: v for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(io.StringIO(text))]
    if scheme in ("crs", "icans"):
        for r in rows:
            if "vasopressors" in r:
                r["vasopressors"] = [v.strip() for v in r["vasopressors"].split(";") if v.strip()]
        return {"assessments": rows}
    if scheme == "ctcae":
        return {"term": options["term"], "version": options["ctcae_version"], "results": rows}
    if scheme == "icaht":
        if not options["infusion"]:
            raise CgtVigilError("an ICAHT CSV needs --infusion (the infusion date-time, day 0).")
        return {
            "infusion": options["infusion"],
            "censor": options["censor"],
            "anc": [r for r in rows if r.get("analyte") == "anc"],
            "plt": [r for r in rows if r.get("analyte") == "plt"],
        }
    return {"name": options["name"], "labs": {r["analyte"]: r for r in rows if "analyte" in r}}


@app.command("grade")
def grade_cmd(
    scheme: Annotated[str, typer.Argument(help="crs, icans, ctcae, icaht or score.")],
    input: Annotated[Path | None, typer.Option("--input", help="JSON or CSV file ('-' for standard input).")] = None,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the JSON Schema of this scheme's input and exit.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    term: Annotated[
        str | None, typer.Option(help="CTCAE term for a CSV input, e.g. neutrophil_count_decreased.")
    ] = None,
    ctcae_version: Annotated[str, typer.Option(help="CTCAE version for a CSV input: 5.0 or 6.0.")] = "5.0",
    infusion: Annotated[str | None, typer.Option(help="ICAHT CSV: infusion date-time (day 0).")] = None,
    censor: Annotated[
        str | None, typer.Option(help="ICAHT CSV: censoring date-time (death, progression, ...).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Score CSV: hlh2004, hscore, easix, simplified-easix, m-easix, car-hematotox.")
    ] = None,
) -> None:
    """Grade toxicities (ASTCT CRS/ICANS, CTCAE, ICAHT) or compute risk scores, with explanations."""
    if scheme not in REQUESTS:
        _fail(CgtVigilError(f"unknown scheme '{scheme}'; expected one of {', '.join(REQUESTS)}."))
    if schema:
        console.print_json(json.dumps(request_schema(scheme)))
        return
    if input is None:
        _fail(CgtVigilError("give --input FILE (JSON or CSV), or --schema to see the expected input."))
    assert input is not None
    options = {"term": term, "ctcae_version": ctcae_version, "infusion": infusion, "censor": censor, "name": name}
    try:
        results = grade_request(scheme, _read_grade_input(input, scheme, options))
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in results]))
        return
    for r in results:
        when = r.inputs.get("time")
        console.print((f"[dim]{when}[/] " if when else "") + r.explain())


forecast_app = typer.Typer(help="Forecast CRS/ICANS onset from a daily patient table.", no_args_is_help=True)
app.add_typer(forecast_app, name="forecast")

# canonical daily column -> (clinical analyte, unit of the canonical column)
_FORECAST_UNITS = {
    "max_temp_c": ("temperature", "Cel"),
    "crp_mg_l": ("crp", "mg/L"),
    "ferritin_ng_ml": ("ferritin", "ng/mL"),
    "il6_pg_ml": ("il6", "pg/mL"),
    "pct_ng_ml": ("pct", "ng/mL"),
    "wbc_1e9_l": ("wbc", "10^9/L"),
}


def _pairs(text: str, option: str) -> dict[str, str]:
    out = {}
    for item in (x.strip() for x in text.split(",") if x.strip()):
        key, sep, value = item.partition("=")
        if not sep:
            raise CgtVigilError(f"The '{option}' option takes name=value pairs separated by commas. Got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def _read_daily(path: Path, mapping: str, units: str) -> DailyTable:
    """Read a daily CSV/Parquet table, rename mapped columns to canonical names, convert units."""
    import numpy as np
    import pyarrow.parquet as pq

    from cgtvigil.clinical import convert

    table = pq.read_table(path) if path.suffix.lower() == ".parquet" else pacsv.read_csv(path)
    names = _pairs(mapping, "--map")
    cols = {canon: table.column(src) for canon, src in names.items() if src in table.column_names}
    missing_src = [f"{canon}={src}" for canon, src in names.items() if src not in table.column_names]
    for name in table.column_names:
        if name not in names.values() and name not in cols:
            cols[name] = table.column(name)
    lacking = [c for c in REQUIRED_COLUMNS if c not in cols]
    if missing_src or lacking:
        raise CgtVigilError(
            f"{path}: "
            + "; ".join(
                ([f"mapped column(s) not in the file: {', '.join(missing_src)}"] if missing_src else [])
                + (
                    [f"missing required column(s) {', '.join(lacking)} (map them with --map canonical=column)"]
                    if lacking
                    else []
                )
            )
            + f". The file has: {', '.join(table.column_names)}."
        )
    data: dict[str, Any] = {k: v.to_numpy(zero_copy_only=False) for k, v in cols.items()}
    for canon, unit in _pairs(units, "--unit").items():
        if canon not in _FORECAST_UNITS or canon not in data:
            raise CgtVigilError(f"--unit {canon}={unit}: '{canon}' is not a feature column of this table.")
        analyte, target = _FORECAST_UNITS[canon]
        data[canon] = np.array([convert(analyte, float(v), unit, target) if v == v else v for v in data[canon]])
    return DailyTable.from_columns(data)


@forecast_app.command("evaluate")
def forecast_evaluate_cmd(
    data: Annotated[Path, typer.Option(help="Daily table (CSV or Parquet): one row per patient and day.")],
    target: Annotated[str, typer.Option(help="crs or icans.")] = "icans",
    min_grade: Annotated[int, typer.Option(help="Minimum grade of the outcome.")] = 1,
    horizon: Annotated[int, typer.Option(help="Days ahead.")] = 5,
    model: Annotated[str, typer.Option(help="boosting or logistic.")] = "boosting",
    map: Annotated[str, typer.Option("--map", help="canonical=column pairs, e.g. patient_id=pid,day=day_rel.")] = "",
    unit: Annotated[str, typer.Option("--unit", help="Units of feature columns, e.g. crp_mg_l=mg/dL.")] = "",
    loo_max_patients: Annotated[
        int, typer.Option(help="Leave-one-patient-out up to this cohort size; grouped 10-fold above.")
    ] = 60,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Cross-validated AUROC, AUPRC and calibration of the forecaster on your own cohort."""
    try:
        table = _read_daily(data, map, unit)
        forecaster = ToxicityForecaster(target=target, min_grade=min_grade, horizon=horizon, model=model)  # type: ignore[arg-type]
        with _progress("cross-validating") as progress:
            progress("fitting folds", 0, 1)
            result = evaluate_forecaster(table, forecaster, loo_max_patients=loo_max_patients)
            progress("done", 1, 1)
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(
        f"{result['target'].upper()} grade >= {result['min_grade']} within {result['horizon_days']} days "
        f"({result['model']}, {result['cross_validation']}): {result['n_patients']} patients, "
        f"{result['n_patient_days']} patient-days, {result['n_events']} onsets."
    )
    if result["auroc"] is None:
        console.print("Not enough events in the cross-validation to compute AUROC/AUPRC.")
        return
    cal = result["calibration"]
    console.print(f"AUROC {result['auroc']:.3f}   AUPRC {result['auprc']:.3f} (prevalence {result['prevalence']:.3f})")
    console.print(f"Calibration: Brier {cal['brier']:.4f}, slope {cal['slope']:.2f}, intercept {cal['intercept']:.2f}")
    bins = Table(title="Calibration by decile of predicted risk")
    for c in ("mean predicted", "observed", "n"):
        bins.add_column(c, justify="right")
    for b in cal["bins"]:
        bins.add_row(f"{b['mean_predicted']:.3f}", f"{b['observed']:.3f}", str(b["n"]))
    console.print(bins)


@forecast_app.command("fit")
def forecast_fit_cmd(
    data: Annotated[Path, typer.Option(help="Daily table (CSV or Parquet).")],
    output: Annotated[Path, typer.Option(help="Model file to write (.joblib).")],
    target: Annotated[str, typer.Option(help="crs or icans.")] = "icans",
    min_grade: Annotated[int, typer.Option(help="Minimum grade of the outcome.")] = 1,
    horizon: Annotated[int, typer.Option(help="Days ahead.")] = 5,
    model: Annotated[str, typer.Option(help="boosting or logistic.")] = "boosting",
    map: Annotated[str, typer.Option("--map", help="canonical=column pairs.")] = "",
    unit: Annotated[str, typer.Option("--unit", help="Units of feature columns.")] = "",
) -> None:
    """Fit the forecaster on a cohort and save it (load only model files you trust)."""
    import joblib

    try:
        table = _read_daily(data, map, unit)
        forecaster = ToxicityForecaster(target=target, min_grade=min_grade, horizon=horizon, model=model)  # type: ignore[arg-type]
        forecaster.fit(table)
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    joblib.dump({"software": __version__, "forecaster": forecaster}, output)
    console.print(f"Model ({forecaster.n_patients_} patients, {forecaster.n_patient_days_} patient-days): {output}")


@forecast_app.command("predict")
def forecast_predict_cmd(
    model: Annotated[Path, typer.Option(help="Model file written by 'cgtvigil forecast fit'.")],
    data: Annotated[Path, typer.Option(help="Daily table (CSV or Parquet).")],
    output: Annotated[Path, typer.Option(help="CSV of patient_id, day, probability.")],
    map: Annotated[str, typer.Option("--map", help="canonical=column pairs.")] = "",
    unit: Annotated[str, typer.Option("--unit", help="Units of feature columns.")] = "",
) -> None:
    """Predict onset probabilities for every patient-day."""
    import joblib
    import pyarrow as pa

    try:
        saved = joblib.load(model)
        forecaster: ToxicityForecaster = saved["forecaster"]
        table = _read_daily(data, map, unit)
        prob = forecaster.predict_proba(table)
    except (CgtVigilError, OSError, ValueError, KeyError) as exc:
        _fail(exc)
    pacsv.write_csv(pa.table({"patient_id": table.patient_id, "day": table.day, "probability": prob}), output)
    console.print(
        f"{len(prob):,} predictions of {forecaster.target.upper()} grade >= {forecaster.min_grade} within "
        f"{forecaster.horizon} days: {output}"
    )


@synth_app.command("trajectories")
def synth_trajectories_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder for daily.csv and patients.csv.")],
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 200,
    days: Annotated[int, typer.Option(help="Days after infusion.")] = 21,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20261125,
    wearables: Annotated[bool, typer.Option(help="Also write a 2-minute wearable temperature stream.")] = False,
) -> None:
    """SYNTHETIC post-infusion trajectories: CRS/ICANS grades, labs, temperature."""
    paths = write_trajectories(out_dir, TrajectoryConfig(patients=patients, days=days, seed=seed), wearables=wearables)
    console.print(f"{SYNTHETIC_NOTICE}\n" + "\n".join(str(p) for p in paths))


monitor_app = typer.Typer(
    help="Patient monitoring: observation files, alerts, gateways, the API server.", no_args_is_help=True
)
app.add_typer(monitor_app, name="monitor")


@monitor_app.command("gateway-add")
def gateway_add_cmd(
    name: Annotated[str, typer.Argument(help="Gateway name, e.g. ward-7-hub.")],
    site: Annotated[str, typer.Option(help="Site the gateway belongs to.")],
) -> None:
    """Register a device gateway and print its API token (shown only once)."""
    from cgtvigil.monitoring import register_gateway
    from cgtvigil.store import operational_engine, session_factory

    settings = Settings.from_env()
    try:
        with session_factory(operational_engine(settings.operational_url))() as session:
            token = register_gateway(session, name, site)
            session.commit()
    except CgtVigilError as exc:
        _fail(exc)
    console.print(f"Gateway '{name}' ({site}). Token (store it now; it is not shown again):\n{token}")


@monitor_app.command("ingest")
def monitor_ingest_cmd(
    path: Annotated[
        Path, typer.Argument(help="An OMH JSON list, a FHIR Bundle, a QuestionnaireResponse or a wearable CSV.")
    ],
    format: Annotated[str, typer.Option(help="omh, fhir, epro, assessment or csv.")],
    source_timezone: Annotated[
        str | None, typer.Option(help="IANA time zone for timestamps without an offset.")
    ] = None,
) -> None:
    """Load an observation file into the operational store and evaluate the patients in it."""
    from datetime import UTC, datetime, timedelta

    from cgtvigil.ingest import (
        read_fhir_bundle,
        read_omh,
        read_questionnaire_response,
        read_wearable_csv,
    )
    from cgtvigil.monitoring import MonitoringRules, evaluate_patient, store_observations
    from cgtvigil.store import operational_engine, session_factory

    settings = Settings.from_env()
    try:
        if format == "csv":
            result = read_wearable_csv(path, source_timezone=source_timezone)
        else:
            payload = json.loads(path.read_text("utf-8"))
            readers = {
                "omh": lambda p: read_omh(p, source_timezone=source_timezone, where=str(path)),
                "fhir": lambda p: read_fhir_bundle(p, where=str(path)),
                "epro": lambda p: read_questionnaire_response(p, where=str(path)),
            }
            if format not in readers:
                raise CgtVigilError(
                    f"The '--format' option must be omh, fhir, epro, assessment or csv. Got {format!r}."
                )
            result = readers[format](payload)
        now = datetime.now(UTC)
        with session_factory(operational_engine(settings.operational_url))() as session:
            summary = store_observations(session, result, now)
            products = load_products()
            alerts = [
                a
                for p in sorted(summary.patients)
                for a in evaluate_patient(
                    session,
                    p,
                    MonitoringRules(),
                    since=summary.earliest[p] - timedelta(days=1),
                    now=now,
                    products=products,
                )
            ]
            session.commit()
    except (CgtVigilError, OSError, ValueError) as exc:
        _fail(exc)
    console.print(summary.to_dict())
    for q in result.quarantine:
        console.print(f"[yellow]quarantined[/] {q.location}: {q.reason} — {q.detail}")
    for a in alerts:
        console.print(f"[red]alert[/] #{a.id} {a.patient_id} {a.rule} ({a.severity}, {a.status}): {a.message}")


@monitor_app.command("patient-add")
def patient_add_cmd(
    patient: Annotated[str, typer.Argument(help="Pseudonymous patient id (never a name or record number).")],
    site: Annotated[str, typer.Option(help="Treating site.")],
    product: Annotated[str, typer.Option(help="Product id or brand from the CGT dictionary.")],
    infusion_date: Annotated[str, typer.Option(help="Infusion date (day 0), YYYY-MM-DD.")],
    birth_date: Annotated[str | None, typer.Option(help="Date of birth as precise as known (YYYY-MM-DD).")] = None,
    sex: Annotated[str | None, typer.Option(help="M, F or other.")] = None,
    lot: Annotated[str | None, typer.Option(help="Product lot.")] = None,
) -> None:
    """Register a patient and a treatment in the operational store."""
    from datetime import date

    from cgtvigil.monitoring import register_patient
    from cgtvigil.store import operational_engine, session_factory

    settings = Settings.from_env()
    try:
        with session_factory(operational_engine(settings.operational_url))() as session:
            t = register_patient(
                session,
                load_products(),
                patient=patient,
                site=site,
                product=product,
                infusion_date=date.fromisoformat(infusion_date),
                birth_date=date.fromisoformat(birth_date) if birth_date else None,
                sex=sex,
                lot=lot,
            )
            session.commit()
    except (CgtVigilError, ValueError) as exc:
        _fail(exc)
    console.print(f"Patient {patient}: {t.product_id}, day 0 = {t.infusion_date}.")


@monitor_app.command("plan")
def plan_cmd(
    patient: Annotated[str, typer.Argument(help="Pseudonymous patient id.")],
) -> None:
    """The patient's risk-adaptive monitoring plan now (records a tier change with its reasons)."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from cgtvigil.clinical import car_hematotox, m_easix
    from cgtvigil.model import LabResult
    from cgtvigil.monitoring import ACTIVE, compute_plan, current_treatment, record_plan
    from cgtvigil.store import AlertRow, ObservationRow, PatientRow, operational_engine, session_factory

    settings = Settings.from_env()
    now = datetime.now(UTC)
    with session_factory(operational_engine(settings.operational_url))() as session:
        treatment = current_treatment(session, patient)
        if treatment is None:
            _fail(
                CgtVigilError(f"patient {patient!r} has no registered treatment; use 'cgtvigil monitor patient-add'.")
            )
        assert treatment is not None
        product = load_products().by_id()[treatment.product_id]
        labs = {k: LabResult(**v) for k, v in (treatment.baseline_labs or {}).items() if isinstance(v, dict)}
        severities = tuple(
            session.scalars(
                select(AlertRow.severity).where(AlertRow.patient_id == patient, AlertRow.status.in_(ACTIVE))
            )
        )
        last: dict[str, datetime] = {}
        for kind, item in (("temperature", "temperature"), ("sbp", "vitals"), ("anc", "cbc"), ("crp", "crp_ferritin")):
            t = session.scalars(
                select(ObservationRow.time)
                .where(ObservationRow.patient_id == patient, ObservationRow.kind == kind)
                .order_by(ObservationRow.time.desc())
            ).first()
            if t is not None:
                last[item] = t.replace(tzinfo=UTC)
        person = session.get(PatientRow, patient)
        age = (now.date() - person.birth_date).days / 365.25 if person and person.birth_date else None
        plan = compute_plan(
            patient,
            product,
            treatment.infusion_date,
            now,
            car_hematotox=car_hematotox(labs).value,
            m_easix=m_easix(labs).value,
            age_years=age,
            open_alert_severities=severities,
            last_measured=last,
        )
        changed = record_plan(session, plan, now)
        session.commit()
    console.print(
        f"{patient} ({product.brand}), day {plan.day}: tier [bold]{plan.tier}[/] — {'; '.join(plan.reasons)}"
        + (" (tier changed, recorded)" if changed else "")
    )
    for r in plan.requirements:
        console.print(f"  label: {r.text} until day {r.until_day} ({r.source}{'' if r.verified else ', UNVERIFIED'})")
    for i in plan.items:
        status = "[red]OVERDUE[/]" if i.overdue else "due"
        console.print(f"  {i.measurement}: every {i.every_hours:g} h, {status} {i.due.isoformat(timespec='minutes')}")


@monitor_app.command("alerts")
def monitor_alerts_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Include resolved alerts.")] = False,
    escalate: Annotated[
        bool, typer.Option(help="First escalate open alerts past their acknowledgement deadline.")
    ] = False,
) -> None:
    """List alerts (open, acknowledged and escalated first)."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from cgtvigil.monitoring import ACTIVE, escalate_overdue
    from cgtvigil.store import AlertRow, operational_engine, session_factory

    settings = Settings.from_env()
    with session_factory(operational_engine(settings.operational_url))() as session:
        if escalate:
            escalate_overdue(session, datetime.now(UTC))
            session.commit()
        query = select(AlertRow).order_by(AlertRow.first_seen)
        if not all_:
            query = query.where(AlertRow.status.in_(ACTIVE))
        table = Table(title="Alerts")
        for c in ("id", "patient", "rule", "severity", "status", "first seen", "count", "message"):
            table.add_column(c)
        for a in session.scalars(query):
            table.add_row(
                str(a.id),
                a.patient_id,
                a.rule,
                a.severity,
                a.status,
                a.first_seen.isoformat(timespec="minutes"),
                str(a.count),
                a.message,
            )
    console.print(table)


@monitor_app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """Run the HTTP API (ingestion endpoints; OpenAPI docs at /docs)."""
    import uvicorn

    from cgtvigil.api import create_app

    uvicorn.run(create_app(Settings.from_env()), host=host, port=port)


@app.command("demo")
def demo_cmd(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: $CGTVIGIL_OUTPUT/demo).")] = None,
    samples: Annotated[Path, typer.Option(help="Folder of shipped real FAERS samples.")] = Path("data/samples/faers"),
    reports_per_quarter: Annotated[int, typer.Option(help="Synthetic reports per quarter.")] = 20_000,
) -> None:
    """Ingest the shipped real FAERS samples plus a SYNTHETIC CGT-calibrated set, screen every
    CGT product against PTs and CGT safety topics, and write an HTML signal report."""
    settings = Settings.from_env()
    out = out or settings.output_dir / "demo"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        products = load_products()
        real = sorted(p for p in samples.iterdir() if p.suffix == ".zip" or p.is_dir()) if samples.exists() else []
        with _progress("synthesise") as progress:
            synth = generate_faers(
                out / "synthetic", products, SynthConfig(reports_per_quarter=reports_per_quarter), progress=progress
            )
        with FaersStore(out / "demo.duckdb") as store:
            with _progress("ingest") as progress:
                report = ingest_faers([*real, *synth.zips], store, products, progress=progress)
            _print_import(report)
            with warnings.catch_warnings(record=True) as caught, _progress("screen") as progress:
                warnings.simplefilter("always", CgtVigilWarning)
                spec = SignalSpec(strata=("age_band", "sex", "report_year"))
                result = screen_store(store, spec, products, load_topics(), progress=progress)
            _show_warnings(caught)
        write_result(result, out / "cgt_screen.parquet")
        write_result(result, out / "cgt_screen.csv")
        (out / "import_report.json").write_text(report.to_json(), "utf-8")
        html = write_signal_report(
            out / "signal_report.html",
            result.table,
            result.metadata,
            title="cgtvigil demo: CGT signal screen",
            imports=[f.__dict__ for f in report.files],
            cases=report.cases,
            notices=[
                f"Demo data: {len(real)} real FAERS/AERS sample quarters (100 reports each) plus "
                f"{synth.reports:,} SYNTHETIC reports. {SYNTHETIC_NOTICE} Numbers illustrate the method only."
            ],
        )
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    _print_top(result, 15)
    console.print(f"\n[bold green]Signal report:[/] {html.resolve()}")


@app.callback(invoke_without_command=True)
def _root(version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False) -> None:
    if version:
        console.print(f"cgtvigil {__version__}")
        raise typer.Exit()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
