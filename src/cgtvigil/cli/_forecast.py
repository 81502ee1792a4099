"""Forecast commands (evaluate, fit, predict)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import typer
from rich.table import Table

from cgtvigil import __version__
from cgtvigil._validation import Problems, param_message
from cgtvigil.cli._app import _fail, _progress, app, console, plain
from cgtvigil.errors import CgtVigilError, ValidationError
from cgtvigil.forecasting import (
    CANONICAL_COLUMNS,
    FAMILIES,
    FEATURE_SOURCES,
    GRADE_COLUMNS,
    REQUIRED_COLUMNS,
    TEXT_COLUMNS,
    CourseForecaster,
    DailyTable,
    HazardForecaster,
    ToxicityForecaster,
    bootstrap_refits,
    compare_families,
    evaluate_forecaster,
    where_rows,
)

forecast_app = typer.Typer(help="Forecast CRS/ICANS onset from a daily patient table.", no_args_is_help=True)
app.add_typer(forecast_app, name="forecast")

# canonical feature column -> clinical analyte (units and plausibility limits from cgtvigil.clinical)
_ANALYTE = {
    "max_temp_c": "temperature",
    "crp_mg_l": "crp",
    "ferritin_ng_ml": "ferritin",
    "il6_pg_ml": "il6",
    "pct_ng_ml": "pct",
    "wbc_1e9_l": "wbc",
    "plt_1e9_l": "plt",
    "anc_1e9_l": "anc",
    "hb_g_dl": "hb",
    "ldh_u_l": "ldh",
    "creatinine_mg_dl": "creatinine",
}
_NULLS = ["", "NA"]  # cells read as "not measured"
_MAX_HEADER = 1_000_000  # bytes of the header line
_MAP_HELP = (
    "canonical=column, repeatable or comma-separated (e.g. --map patient_id=pid --map day=day_rel). "
    f"Canonical names: {', '.join(CANONICAL_COLUMNS)}."
)
_UNIT_HELP = (
    "Unit of a feature column, canonical=unit, repeatable or comma-separated (e.g. --unit crp_mg_l=mg/dL). "
    f"Default units: {', '.join(f'{k} {u}' for k, u in FEATURE_SOURCES.items())}."
)
MapOption = Annotated[list[str] | None, typer.Option("--map", help=_MAP_HELP)]
_UNIT_COLUMN_HELP = (
    "A file column holding each row's unit of a feature column, canonical=column, repeatable (e.g. "
    "--unit-column crp_mg_l=crp_unit): for a table that stacks extractions in different units."
)
UnitColumnOption = Annotated[list[str] | None, typer.Option("--unit-column", help=_UNIT_COLUMN_HELP)]
FeaturesOption = Annotated[
    str,
    typer.Option(
        help="Features of the window classifier: daily (value, change, maximum so far) or known (the hazard "
        "model's features known at the time: slopes, ratios to baseline, fever burden, CRS so far, age, "
        "product class, treatment, EASIX, CAR-HEMATOTOX; best with --model logistic) or core (15 of those: "
        "day since infusion, last CRP/ferritin/IL-6, fever burden, each syndrome's course so far, CD19 class; "
        "for small cohorts, with --model logistic)."
    ),
]
_FAMILY_HELP = (
    "window (classifier of onset within the horizon, the default), hazard (discrete-time hazard: risk by "
    "each day ahead) or course (Markov model of the daily grade: P(grade >= g) by day and time to resolution)."
)
Forecaster = ToxicityForecaster | HazardForecaster | CourseForecaster
UnitOption = Annotated[list[str] | None, typer.Option("--unit", help=_UNIT_HELP)]


def _names(names: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(repr(n)[1:-1][:60] for n in names[:limit])
    return shown + (f" (and {len(names) - limit:,} more)" if len(names) > limit else "")


def _pairs(values: Sequence[str] | None, option: str, allowed: Sequence[str], problems: Problems) -> dict[str, str]:
    """canonical=value pairs of a repeatable option whose values may hold comma-separated pairs."""
    out: dict[str, str] = {}
    expected = f"canonical=value pairs naming one of {', '.join(allowed)}"
    for text in values or ():
        for item in (x.strip() for x in text.split(",") if x.strip()):
            key, sep, value = (s.strip() for s in item.partition("="))
            if not sep or not key or not value or key not in allowed:
                problems.add(param_message(option, "cgtvigil forecast", expected, item))
            elif out.get(key, value) != value:
                problems.add(f"The '{option}' option gives '{key}' twice: {out[key]!r} and {value!r}.")
            else:
                out[key] = value
    return out


def _read_table(path: Path) -> tuple[pa.Table, str, int]:
    """The file as an Arrow table (a CSV with every column as bytes, parsed below), the word
    for its rows and the number of its first data row."""
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() == ".parquet":
            return pq.read_table(path), "row", 1
        with path.open("rb") as fh:
            line = fh.readline(_MAX_HEADER + 1)
        if len(line) > _MAX_HEADER:
            raise CgtVigilError(f"{path}, line 1: the header is longer than {_MAX_HEADER:,} bytes; is this a table?")
        header = next(csv.reader([line.decode("utf-8-sig")]), None)
        if not header:
            raise CgtVigilError(f"{path}: the file is empty; expected a header line and one row per patient and day.")
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.binary()),
                null_values=_NULLS,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        return table, "line", 2
    except UnicodeDecodeError as exc:
        raise CgtVigilError(
            f"{path}, line 1: the header is not UTF-8 text ({exc.reason}). Save the file as UTF-8."
        ) from exc
    except (csv.Error, pa.ArrowInvalid) as exc:
        raise CgtVigilError(f"{path}: cannot be read as a {path.suffix.lstrip('.') or 'CSV'} table ({exc}).") from exc


def _texts(col: pa.ChunkedArray, name: str, rows: Any, problems: Problems) -> list[str | None] | None:
    """Text cells (None for blank), with the rows that are not UTF-8 named."""
    if pa.types.is_binary(col.type):
        try:
            return pc.cast(col, pa.string()).to_pylist()  # type: ignore[no-any-return]
        except pa.ArrowInvalid:
            pass  # find the rows below
        out: list[str | None] = []
        bad = []
        for i, b in enumerate(col.to_pylist()):
            try:
                out.append(None if b is None else b.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(None)
                bad.append(i)
        if bad:
            problems.add(f"column '{name}' is not UTF-8 text on {rows(bad)}. Save the file as UTF-8.")
            return None
        return out
    return [None if v is None else str(v) for v in col.to_pylist()]


def _float(text: str | None) -> float | None:
    """A number written as text (NaN for a blank cell), None if it is not one."""
    if text is None:
        return float("nan")
    try:
        return float(text) if "_" not in text else None  # Python reads '1_000'; a table does not
    except ValueError:
        return None


def _numbers(col: pa.ChunkedArray, name: str, rows: Any, problems: Problems) -> Any:
    """Float values (NaN for blank), with unreadable cells and written NaNs named."""
    if pa.types.is_boolean(col.type) or not (
        pa.types.is_integer(col.type)
        or pa.types.is_floating(col.type)
        or pa.types.is_decimal(col.type)
        or pa.types.is_binary(col.type)
        or pa.types.is_string(col.type)
        or pa.types.is_large_string(col.type)
        or pa.types.is_null(col.type)
    ):
        problems.add(f"column '{name}' must hold numbers. Got a column of type {col.type}.")
        return None
    if pa.types.is_null(col.type):
        return np.full(len(col), np.nan)
    if pa.types.is_binary(col.type) or pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        try:
            col = pc.cast(pc.utf8_trim_whitespace(pc.cast(col, pa.string())), pa.float64())
        except pa.ArrowInvalid:
            texts = _texts(col, name, rows, problems)
            if texts is None:
                return None
            parsed = [_float(t) for t in texts]
            bad = [i for i, v in enumerate(parsed) if v is None]
            if bad:  # named here, then left blank so that the other checks still run
                shown = ", ".join(repr(texts[i])[:40] for i in bad[:5])
                problems.add(f"column '{name}' must hold numbers: {rows(bad)}. Got {shown}.")
            col = pa.chunked_array([pa.array(parsed, pa.float64())])
    values = pc.cast(col, pa.float64())
    written_nan = np.flatnonzero(pc.fill_null(pc.is_nan(values), False).to_numpy(zero_copy_only=False))
    if len(written_nan):
        problems.add(
            f"column '{name}' holds NaN on {rows(written_nan)}: leave the cell blank (or NA) for a value not measured."
        )
    return values.to_numpy(zero_copy_only=False)


def _to_canonical(values: Any, canon: str, unit: str, rows: Any, problems: Problems) -> Any:
    """Convert a feature column from ``unit`` to its canonical unit, naming the rows whose
    values are outside the analyte's plausible range (cgtvigil.clinical limits)."""
    from cgtvigil.clinical import ANALYTES

    spec = ANALYTES[_ANALYTE[canon]]
    if unit not in spec.units:
        problems.add(param_message("--unit", "cgtvigil forecast", f"one of {', '.join(spec.units)} for {canon}", unit))
        return None
    clinical = spec.units[unit][0](values)
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(clinical) & ~((clinical >= spec.low) & (clinical <= spec.high))
    if bad.any():
        low, high = (spec.units[unit][1](x) for x in (spec.low, spec.high))
        got = ", ".join(f"{v:g}" for v in values[bad][:5])
        problems.add(
            f"column '{canon}' ({unit}) must hold plausible values, {low:g} to {high:g} {unit}: "
            f"{rows(np.flatnonzero(bad))}. Got {got}."
        )
    return spec.units[FEATURE_SOURCES[canon]][1](clinical)


def _mixed_units(values: Any, canon: str, unit: str, pids: Any, rows: Any, problems: Problems) -> bool:
    """Add the per-row report of a column whose values look like two units (True if so)."""
    from cgtvigil.clinical import ANALYTES, likely_units

    if unit not in ANALYTES[_ANALYTE[canon]].units:
        return False  # _to_canonical names the unknown unit
    mix = likely_units(_ANALYTE[canon], values, unit, pids)
    if not mix.mixed:
        return False
    why = {
        "implausible": "implausible in the declared unit, plausible in that one",
        "level shift": "a block of patients at a level one unit factor away from the rest of the file",
    }[mix.reason]
    found = "; ".join(f"{rows(mix.rows(u))} look like {u}" for u in mix.units())
    problems.add(
        f"column '{canon}' is declared in {unit} but mixes units (two extractions stacked?): {found} ({why}); "
        f"the other rows look like {unit}. Give each row's unit with --unit-column {canon}=<column of units>, "
        "or convert the rows before loading."
    )
    return True


def _rows_to_canonical(values: Any, canon: str, row_units: Sequence[str | None], rows: Any, problems: Problems) -> Any:
    """Convert each row from the unit its unit column gives (a value without a unit is named)."""
    from cgtvigil.clinical import ANALYTES

    spec = ANALYTES[_ANALYTE[canon]]
    unit_arr = np.array(["" if u is None else u.strip() for u in row_units], dtype=object)
    blank = np.isfinite(values) & (unit_arr == "")
    if blank.any():
        problems.add(f"column '{canon}' has values without a unit in its unit column: {rows(np.flatnonzero(blank))}.")
    unknown = sorted({u for u in unit_arr[np.isfinite(values)] if u and u not in spec.units})
    if unknown:
        bad = np.flatnonzero(np.isin(unit_arr, unknown) & np.isfinite(values))
        problems.add(
            f"the unit column of '{canon}' holds unit(s) {', '.join(repr(u)[:30] for u in unknown[:5])} on "
            f"{rows(bad)}; expected one of {', '.join(spec.units)}."
        )
    if blank.any() or unknown:
        return None
    out = np.full(len(values), np.nan)
    for u in sorted({u for u in unit_arr if u}):
        at = unit_arr == u
        out[at] = _to_canonical(values[at], canon, u, lambda i, at=at: rows(np.flatnonzero(at)[i]), problems)
    return out


def _read_daily(
    path: Path,
    maps: Sequence[str] | None,
    units: Sequence[str] | None,
    need: Sequence[str],
    unit_columns: Sequence[str] | None = None,
) -> tuple[DailyTable, list[str]]:
    """The daily table of a CSV/Parquet file (mapped columns renamed to canonical names, units
    converted, every problem of the options and the file in one message), and the file's
    columns that are not used. A feature column whose values look like two units (stacked
    extractions; ``cgtvigil.clinical.likely_units``) is refused with the rows and their likely
    unit, unless ``unit_columns`` names a file column with each row's unit."""
    problems = Problems()
    mapping = _pairs(maps, "--map", CANONICAL_COLUMNS, problems)
    unit_of = _pairs(units, "--unit", tuple(FEATURE_SOURCES), problems)
    unit_column = _pairs(unit_columns, "--unit-column", tuple(FEATURE_SOURCES), problems)
    for canon in sorted(set(unit_of) & set(unit_column)):
        problems.add(f"--unit and --unit-column both give the unit of '{canon}': use one.")
    problems.raise_if_any()
    table, label, first = _read_table(path)
    names = table.column_names
    twice = sorted(n for n, k in Counter(names).items() if k > 1)
    if twice:
        problems.add(f"column name(s) used twice in the header: {_names(twice)}")
    missing_src = [f"{c}={s}" for c, s in (*mapping.items(), *unit_column.items()) if s not in names]
    if missing_src:
        problems.add(f"mapped column(s) not in the file: {_names(missing_src)}")
    sources = dict(mapping)
    for name in names:
        if name in CANONICAL_COLUMNS and name not in sources and name not in mapping.values():
            sources[name] = name
    lacking = [c for c in need if c not in sources]
    if lacking:
        problems.add(f"missing required column(s) {', '.join(lacking)} (map them with --map canonical=column).")
    for canon, unit in (*unit_of.items(), *unit_column.items()):
        if canon not in sources:
            problems.add(f"--unit {canon}={unit}: the table has no '{canon}' column")
    if problems:
        problems.items[-1] = f"{problems.items[-1].rstrip('.')}. The file has: {_names(names)}."
    elif table.num_rows == 0:
        problems.add("no data rows below the header; expected one row per patient and day.")
    if problems:
        raise ValidationError([f"{path}: {p}" for p in problems.items])

    def rows(index: Any) -> str:
        return where_rows(np.asarray(index, dtype=np.intp), label, first)

    data: dict[str, Any] = {}
    pids = (
        _texts(table.column(sources["patient_id"]), "patient_id", rows, problems) if "patient_id" in sources else None
    )
    for canon, src in sources.items():
        col = table.column(src)
        if canon == "patient_id" or canon in TEXT_COLUMNS:
            data[canon] = pids if canon == "patient_id" else _texts(col, canon, rows, problems)
            continue
        values = _numbers(col, canon, rows, problems)
        if values is not None and canon in unit_column:
            row_units = _texts(table.column(unit_column[canon]), unit_column[canon], rows, problems)
            values = None if row_units is None else _rows_to_canonical(values, canon, row_units, rows, problems)
        elif values is not None and canon in FEATURE_SOURCES:
            unit = unit_of.get(canon, FEATURE_SOURCES[canon])
            if not _mixed_units(values, canon, unit, pids, rows, problems):
                values = _to_canonical(values, canon, unit, rows, problems)
        data[canon] = values
    daily = None
    if all(v is not None for v in data.values()):
        try:
            daily = DailyTable.from_columns(data, row_label=label, first_row=first)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems or daily is None:
        raise ValidationError([f"{path}: {p}" for p in problems.items])
    used = {*sources.values(), *unit_column.values()}
    return daily, [n for n in names if n not in used]


def _need(target: str) -> tuple[str, ...]:
    return (*REQUIRED_COLUMNS, GRADE_COLUMNS[target]) if target in GRADE_COLUMNS else REQUIRED_COLUMNS


def _print_inputs(inputs: Sequence[str], table: DailyTable, ignored: Sequence[str], unused_reason: str) -> None:
    """Which columns the model uses, which it does not and why."""
    unused = [c for c in table.columns if c not in inputs and c not in REQUIRED_COLUMNS]
    absent = [c for c in CANONICAL_COLUMNS if c not in table.columns]
    text = f"Inputs used: {', '.join(inputs)}."
    if unused:
        text += f" Not used ({unused_reason}): {', '.join(unused)}."
    if absent:
        text += f" Not in the table: {', '.join(absent)}."
    if ignored:
        text += f" File columns not read (map them with --map): {_names(ignored)}."
    console.print(plain(text))


@forecast_app.command("evaluate")
def forecast_evaluate_cmd(
    data: Annotated[Path, typer.Option(help="Daily table (CSV or Parquet): one row per patient and day.")],
    target: Annotated[str, typer.Option(help="crs or icans.")] = "icans",
    min_grade: Annotated[int, typer.Option(help="Minimum grade of the outcome (1-4).")] = 1,
    horizon: Annotated[int, typer.Option(help="Days ahead (1-30).")] = 5,
    model: Annotated[str, typer.Option(help="Learner of the window classifier: boosting or logistic.")] = "boosting",
    features: FeaturesOption = "daily",
    family: Annotated[
        str,
        typer.Option(
            help=_FAMILY_HELP + " 'all' compares the three on the same folds for grade >= 1 and >= 3, "
            "1-7 days ahead (--min-grade and --horizon are then not used)."
        ),
    ] = "window",
    report: Annotated[
        Path | None, typer.Option(help="With --family all: an HTML report with the tables and charts.")
    ] = None,
    map: MapOption = None,
    unit: UnitOption = None,
    unit_column: UnitColumnOption = None,
    loo_max_patients: Annotated[
        int, typer.Option(help="Leave-one-patient-out up to this cohort size; grouped 10-fold above.")
    ] = 60,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Cross-validated AUROC, AUPRC and calibration of the forecaster on your own cohort."""
    try:
        _check_family(family, allow_all=True)
        if report is not None and family != "all":
            raise ValidationError(["The '--report' option needs --family all (the comparison of the families)."])
        if report is not None and report.suffix.lower() not in (".html", ".htm"):
            raise ValidationError([f"The '--report' option must name a .html file. Got {str(report)!r}."])
        forecaster = ToxicityForecaster(
            target=target,  # type: ignore[arg-type]
            min_grade=min_grade,
            horizon=horizon,
            model=model,  # type: ignore[arg-type]
            features=features,  # type: ignore[arg-type]
        )
        forecaster.check_params()
        table, ignored = _read_daily(data, map, unit, _need(target), unit_column)
        if family != "window":
            _compare(table, ignored, family, forecaster, loo_max_patients, report, as_json)
            return
        with _progress("cross-validating") as progress:
            progress("fitting folds", 0, 1)
            result = evaluate_forecaster(table, forecaster, loo_max_patients=loo_max_patients)
            progress("done", 1, 1)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    result["ignored_columns"] = ignored
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(
        f"{result['target'].upper()} grade >= {result['min_grade']} within {result['horizon_days']} days "
        f"({result['model']}, {result['cross_validation']}): {result['n_patients']} patients, "
        f"{result['n_patient_days']} patient-days, {result['n_events']} onsets."
    )
    _print_inputs(result["inputs"], table, ignored, "no values")
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
    min_grade: Annotated[int, typer.Option(help="Minimum grade of the outcome (1-4).")] = 1,
    horizon: Annotated[int, typer.Option(help="Days ahead (1-30).")] = 5,
    model: Annotated[str, typer.Option(help="Learner of the window classifier: boosting or logistic.")] = "boosting",
    features: FeaturesOption = "daily",
    family: Annotated[str, typer.Option(help=_FAMILY_HELP)] = "window",
    map: MapOption = None,
    unit: UnitOption = None,
    unit_column: UnitColumnOption = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            help="Also fit this many refits on bootstrap resamples of the patients (saved with the model): the "
            "patient page draws its risk curve's 90 % band from them. 0: no band."
        ),
    ] = 0,
) -> None:
    """Fit the forecaster on a cohort and save it (load only model files you trust)."""
    import joblib

    try:
        _check_family(family, allow_all=False)
        forecaster: Forecaster
        if family == "hazard":
            forecaster = HazardForecaster(target=target, min_grade=min_grade, horizon=horizon)  # type: ignore[arg-type]
        elif family == "course":
            forecaster = CourseForecaster(target=target, min_grade=min_grade, horizon=horizon)  # type: ignore[arg-type]
        else:
            forecaster = ToxicityForecaster(
                target=target,  # type: ignore[arg-type]
                min_grade=min_grade,
                horizon=horizon,
                model=model,  # type: ignore[arg-type]
                features=features,  # type: ignore[arg-type]
            )
        forecaster.check_params()
        if not 0 <= bootstrap <= 1000:
            raise ValidationError(
                [param_message("--bootstrap", "cgtvigil forecast fit", "an integer from 0 to 1000", bootstrap)]
            )
        table, ignored = _read_daily(data, map, unit, _need(target), unit_column)
        forecaster.fit(table)
        refits = bootstrap_refits(forecaster, table, n=bootstrap) if bootstrap else []
        saved = {
            "software": __version__,
            "family": family,
            "forecaster": forecaster,
            "inputs": forecaster.inputs_,
            "feature_names": forecaster.feature_names_,
            "bootstrap": refits,
        }
        joblib.dump(saved, output)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    days = forecaster.n_transitions_ if isinstance(forecaster, CourseForecaster) else forecaster.n_patient_days_
    console.print(
        plain(
            f"Model ({family}, {forecaster.n_patients_} patients, {days} patient-days"
            + (f", {len(refits)} bootstrap refits" if refits else "")
            + f"): {output}"
        )
    )
    _print_inputs(forecaster.inputs_, table, ignored, "no values")


@forecast_app.command("predict")
def forecast_predict_cmd(
    model: Annotated[Path, typer.Option(help="Model file written by 'cgtvigil forecast fit'.")],
    data: Annotated[Path, typer.Option(help="Daily table (CSV or Parquet).")],
    output: Annotated[
        Path,
        typer.Option(
            help="CSV of patient_id, day, probability (of onset within the horizon); a hazard model adds "
            "risk_day_1.. (risk of onset by each day ahead), a course model p_grade_ge_1..4 (reached within "
            "the horizon) and days_to_resolution."
        ),
    ],
    map: MapOption = None,
    unit: UnitOption = None,
    unit_column: UnitColumnOption = None,
) -> None:
    """Predict onset probabilities for every patient-day."""
    import pickle

    import joblib

    try:
        try:
            saved = joblib.load(model)
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError, AttributeError, ImportError) as exc:
            raise CgtVigilError(f"{model}: not a model file written by 'cgtvigil forecast fit'.") from exc
        forecaster = saved.get("forecaster") if isinstance(saved, dict) else None
        if not isinstance(forecaster, ToxicityForecaster | HazardForecaster | CourseForecaster) or not hasattr(
            forecaster, "estimator_"
        ):
            raise CgtVigilError(f"{model}: not a model file written by 'cgtvigil forecast fit'.")
        table, ignored = _read_daily(
            data,
            map,
            unit,
            (*REQUIRED_COLUMNS, *(c for c in forecaster.inputs_ if c not in REQUIRED_COLUMNS)),
            unit_column,
        )
        columns: dict[str, Any] = {"patient_id": table.patient_id, "day": table.day}
        if isinstance(forecaster, CourseForecaster):
            course = forecaster.predict_course(table)
            prob = course.reached[forecaster.min_grade][:, -1]
            columns["probability"] = prob
            columns |= {f"p_grade_ge_{g}": course.reached[g][:, -1] for g in (1, 2, 3, 4)}
            columns["days_to_resolution"] = course.days_to_resolution
        elif isinstance(forecaster, HazardForecaster):
            risk = forecaster.predict_risk(table)
            prob = risk[:, -1]
            columns["probability"] = prob
            columns |= {f"risk_day_{k + 1}": risk[:, k] for k in range(risk.shape[1])}
        else:
            prob = forecaster.predict_proba(table)
            columns["probability"] = prob
        pacsv.write_csv(pa.table(columns), output)
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    console.print(
        plain(
            f"{len(prob):,} predictions of {forecaster.target.upper()} grade >= {forecaster.min_grade} within "
            f"{forecaster.horizon} days: {output}"
        )
    )
    _print_inputs(forecaster.inputs_, table, ignored, "not in the model")


def _check_family(family: str, *, allow_all: bool) -> None:
    allowed = (*FAMILIES, "all") if allow_all else FAMILIES
    if family not in allowed:
        raise ValidationError([param_message("--family", "cgtvigil forecast", f"one of {', '.join(allowed)}", family)])


def _write_report(path: Path, result: dict[str, Any]) -> None:
    """The comparison as a self-contained HTML page (the vendored vega libraries inlined)."""
    from importlib import resources

    from cgtvigil.reports import render_forecast_report

    vendor = resources.files("cgtvigil.web") / "static" / "vendor"
    names = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")
    if not all((vendor / n).is_file() for n in names):
        raise CgtVigilError("The '--report' page needs the vendored vega libraries (built by `make setup`).")
    scripts = "\n".join(f"<script>{(vendor / n).read_text('utf-8')}</script>" for n in names)
    title = f"{result['target'].upper()} forecasts compared (cgtvigil {__version__})"
    path.write_text(render_forecast_report(result, scripts, title=title), "utf-8")


def _compare(
    table: DailyTable,
    ignored: list[str],
    family: str,
    window: ToxicityForecaster,
    loo_max_patients: int,
    report: Path | None,
    as_json: bool,
) -> None:
    """`forecast evaluate --family hazard|course|all`: compare_families on the table."""
    families = FAMILIES if family == "all" else (family,)
    tasks: dict[str, Any] = (
        {"grades": (1, 3), "horizons": tuple(range(1, 8))}
        if family == "all"
        else {"grades": (window.min_grade,), "horizons": (window.horizon,)}
    )
    with _progress("cross-validating") as progress:
        result = compare_families(
            table,
            window.target,
            families=families,
            window_model=window.model,
            window_features=window.features,
            loo_max_patients=loo_max_patients,
            progress=lambda done, total: progress("fitting folds", done, total),
            **tasks,
        )
    result["ignored_columns"] = ignored
    if report is not None:
        _write_report(report, result)
    if as_json:
        console.print_json(json.dumps(result))
        return
    console.print(
        f"{result['target'].upper()} ({result['cross_validation']}, the same folds for every family): "
        f"{result['n_patients']} patients, {result['n_patient_days']} patient-days."
    )
    out = Table(title="Per patient-day forecasts of onset within the horizon (* kept for the task)")
    for c in ("grade", "days", "family", "AUROC", "AUPRC", "patient AUROC", "Brier", "slope", "alerted", "lead"):
        out.add_column(c, justify="right", no_wrap=True, min_width=8 if c == "family" else None)

    def f3(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}"

    for t in result["tasks"]:
        for name, m in t["families"].items():
            cal, lead = m.get("calibration") or {}, m.get("lead_time") or {}
            out.add_row(
                f">= {t['min_grade']}",
                str(t["horizon_days"]),
                name + (" *" if name == t["winner"] else ""),
                f3(m.get("auroc")),
                f3(m.get("auprc")),
                f3((m.get("patient_level") or {}).get("auroc")),
                f3(m.get("brier")),
                f3(cal.get("slope")),
                f3(lead.get("detected")),
                f3(lead.get("median_lead_days")),
            )
    console.print(out)
    sev = result.get("severity")
    if sev:
        text = ", ".join(f"{f} {f3(m['auroc'])}" for f, m in sev["families"].items())
        console.print(
            plain(
                f"Severe (grade >= 3) against non-severe {sev['horizon_days']} days ahead, among the "
                f"{sev['n_patients']} patients who develop it ({sev['n_severe']} severe): AUROC {text}."
            )
        )
    console.print(plain(f"Alert rate for the lead time: {result['alert_rate']:.0%} of scored patient-days."))
    if report is not None:
        console.print(plain(f"Report: {report}"))
