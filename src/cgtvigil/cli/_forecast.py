"""Forecast commands (evaluate, fit, predict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pyarrow.csv as pacsv
import typer
from rich.table import Table

from cgtvigil import __version__
from cgtvigil.cli._app import _fail, _progress, app, console
from cgtvigil.errors import CgtVigilError
from cgtvigil.forecasting import REQUIRED_COLUMNS, DailyTable, ToxicityForecaster, evaluate_forecaster

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
