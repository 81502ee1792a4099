"""`cgtvigil synth trajectories` and `cgtvigil forecast evaluate|fit|predict` end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from cgtvigil.cli import app

runner = CliRunner()


def _ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.stdout  # progress bars go to standard error


def test_synth_evaluate_fit_predict_with_mapped_columns_and_units(tmp_path: Path) -> None:
    _ok(["synth", "trajectories", str(tmp_path / "t"), "--patients", "80", "--seed", "5"])
    daily = tmp_path / "t" / "daily.csv"
    # A centre's own layout: other column names, CRP in mg/dL.
    renamed = tmp_path / "centre.csv"
    with daily.open() as src, renamed.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        names = {"patient_id": "pid", "day": "day_rel", "crp_mg_l": "crp"}
        writer = csv.DictWriter(dst, [names.get(c, c) for c in reader.fieldnames or []])
        writer.writeheader()
        for row in reader:
            row["crp_mg_l"] = str(float(row["crp_mg_l"]) / 10)  # mg/L -> mg/dL
            writer.writerow({names.get(k, k): v for k, v in row.items()})
    args = ["--data", str(renamed), "--map", "patient_id=pid,day=day_rel,crp_mg_l=crp", "--unit", "crp_mg_l=mg/dL"]
    common = ["--target", "icans", "--model", "logistic", "--json"]
    mapped = json.loads(_ok(["forecast", "evaluate", *args, *common]))
    direct = json.loads(_ok(["forecast", "evaluate", "--data", str(daily), *common]))
    assert set(mapped) >= {"auroc", "auprc", "n_patients", "n_patient_days"}
    assert mapped["n_patients"] == direct["n_patients"] == 80
    assert abs(mapped["auroc"] - direct["auroc"]) < 1e-6  # same data after mapping and unit conversion
    model = tmp_path / "m.joblib"
    _ok(["forecast", "fit", *args, "--output", str(model), "--target", "crs", "--min-grade", "2"])
    out = tmp_path / "p.csv"
    _ok(["forecast", "predict", "--model", str(model), *args, "--output", str(out)])
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 80 * 22 and 0 <= float(rows[0]["probability"]) <= 1


def test_clear_error_for_missing_columns(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("pid,day\nA,0\n")
    r = runner.invoke(app, ["forecast", "evaluate", "--data", str(bad)])
    assert r.exit_code == 2 and "missing required column(s) patient_id, crs_grade, icans_grade" in r.output
