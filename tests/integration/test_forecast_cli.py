"""`cgtvigil synth trajectories` and `cgtvigil forecast evaluate|fit|predict` end to end."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import joblib
import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app

runner = CliRunner()


def _ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.stdout  # progress bars go to standard error


def _fails(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    return " ".join(r.output.split())


def _rewrite(
    src: Path,
    dst: Path,
    names: dict[str, str] | None = None,
    edit: Callable[[list[dict[str, str]]], None] | None = None,
    keep: list[str] | None = None,
) -> Path:
    """Copy a daily CSV with the columns in ``keep`` (default all), renamed and rows edited."""
    names = names or {}
    with src.open() as fh:
        reader = csv.DictReader(fh)
        fields = [c for c in reader.fieldnames or [] if keep is None or c in keep]
        rows = list(reader)
    if edit:
        edit(rows)
    with dst.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, [names.get(c, c) for c in fields])
        writer.writeheader()
        for row in rows:
            writer.writerow({names.get(k, k): row[k] for k in fields})
    return dst


@pytest.fixture(scope="module")
def daily(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    _ok(["synth", "trajectories", str(out), "--patients", "30", "--seed", "5"])
    return out / "daily.csv"


def test_synth_evaluate_fit_predict_with_mapped_columns_and_units(daily: Path, tmp_path: Path) -> None:
    def to_mg_dl(rows: list[dict[str, str]]) -> None:
        for row in rows:
            row["crp_mg_l"] = str(float(row["crp_mg_l"]) / 10)  # a centre's CRP in mg/dL

    renamed = _rewrite(
        daily, tmp_path / "centre.csv", {"patient_id": "pid", "day": "day_rel", "crp_mg_l": "crp"}, to_mg_dl
    )
    # --map repeated and comma-separated pairs together (issue 8 §3: before, the last --map won)
    args = [
        "--data",
        str(renamed),
        "--map",
        "patient_id=pid",
        "--map",
        "day=day_rel,crp_mg_l=crp",
        "--unit",
        "crp_mg_l=mg/dL",
    ]
    common = ["--target", "icans", "--model", "logistic", "--json"]
    mapped = json.loads(_ok(["forecast", "evaluate", *args, *common]))
    direct = json.loads(_ok(["forecast", "evaluate", "--data", str(daily), *common]))
    assert set(mapped) >= {"auroc", "auprc", "n_patients", "n_patient_days", "inputs", "features", "ignored_columns"}
    assert mapped["n_patients"] == direct["n_patients"] == 30
    assert abs(mapped["auroc"] - direct["auroc"]) < 1e-6  # same data after mapping and unit conversion
    assert mapped["inputs"] == direct["inputs"] and "crp_mg_l" in mapped["inputs"] and mapped["ignored_columns"] == []
    model = tmp_path / "m.joblib"
    out = _ok(["forecast", "fit", *args, "--output", str(model), "--target", "crs", "--min-grade", "2"])
    assert "Inputs used: day, max_temp_c, crp_mg_l" in " ".join(out.split())
    saved = joblib.load(model)
    assert saved["inputs"] == mapped["inputs"] and saved["feature_names"][:2] == ["day", "max_temp_c"]
    pred = tmp_path / "p.csv"
    _ok(["forecast", "predict", "--model", str(model), *args, "--output", str(pred)])
    with pred.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30 * 22 and 0 <= float(rows[0]["probability"]) <= 1


def test_only_id_day_and_target_grade_are_needed(daily: Path, tmp_path: Path) -> None:
    """Issue 8 §3: a table of patient_id, day and icans_grade is enough (before: 'missing
    required column(s) crs_grade'); the output says which inputs were used and which columns
    of the file were not read."""
    small = _rewrite(
        daily,
        tmp_path / "small.csv",
        {"il6_pg_ml": "IL6"},
        keep=["patient_id", "day", "il6_pg_ml", "icans_grade"],
    )
    result = json.loads(_ok(["forecast", "evaluate", "--data", str(small), "--model", "logistic", "--json"]))
    assert result["inputs"] == ["day", "icans_grade"] and result["ignored_columns"] == ["IL6"]
    text = " ".join(_ok(["forecast", "evaluate", "--data", str(small), "--model", "logistic"]).split())
    assert "Inputs used: day, icans_grade." in text
    assert (
        "Not in the table: crs_grade, max_temp_c" in text
        and "File columns not read (map them with --map): IL6." in text
    )
    out = _fails(["forecast", "evaluate", "--data", str(small), "--target", "crs"])
    assert (
        "missing required column(s) crs_grade (map them with --map canonical=column). "
        "The file has: patient_id, day, IL6, icans_grade."
    ) in out


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (
            ["--map", "crp=crp_mg_l"],
            "The '--map' parameter of cgtvigil forecast must be canonical=value pairs naming one of patient_id, "
            "day, crs_grade, icans_grade, max_temp_c, crp_mg_l, ferritin_ng_ml, il6_pg_ml, pct_ng_ml, wbc_1e9_l, "
            "plt_1e9_l, anc_1e9_l, hb_g_dl, ldh_u_l, creatinine_mg_dl, age, product, tocilizumab, steroids. "
            "Got 'crp=crp_mg_l'.",
        ),
        (["--map", "day=day", "--map", "day=d2"], "The '--map' option gives 'day' twice: 'day' and 'd2'."),
        (["--map", "patient_id"], "Got 'patient_id'."),
        (
            ["--unit", "crp=mg/dL"],
            "The '--unit' parameter of cgtvigil forecast must be canonical=value pairs naming one of "
            "max_temp_c, crp_mg_l,",
        ),
        (
            ["--unit", "crp_mg_l=furlong"],
            "The '--unit' parameter of cgtvigil forecast must be one of mg/dL, mg/L for crp_mg_l. Got 'furlong'.",
        ),
        (["--unit", "crp_mg_l=mg/dL", "--unit", "crp_mg_l=mg/L"], "The '--unit' option gives 'crp_mg_l' twice"),
    ],
)
def test_unknown_or_repeated_map_and_unit_are_errors(daily: Path, option: list[str], expected: str) -> None:
    """Issue 8 §3: a --map to an unknown canonical name dropped the column silently (a real
    cohort's AUROC went from 0.92 to 0.71); --unit the same; a repeated flag kept the last."""
    assert expected in _fails(["forecast", "evaluate", "--data", str(daily), *option])


def test_options_are_checked(daily: Path) -> None:
    """Reliability review D17: --target foo ran the ICANS model and printed 'FOO grade >= 1';
    --model foo, --horizon -3/0/100000, --min-grade 9 and --loo-max-patients -1 exited 0."""
    out = _fails(
        [
            "forecast",
            "evaluate",
            "--data",
            str(daily),
            "--target",
            "foo",
            "--model",
            "foo",
            "--horizon",
            "-3",
            "--min-grade",
            "9",
        ]
    )
    assert out.startswith("error: 4 problems:") and "Got 'foo'" in out and "Got 9." in out and "Got -3." in out
    for option in (["--horizon", "0"], ["--horizon", "100000"], ["--loo-max-patients", "-1"]):
        assert "parameter of" in _fails(["forecast", "evaluate", "--data", str(daily), *option])
    assert "Got 'sepsis'" in _fails(
        ["forecast", "fit", "--data", str(daily), "--output", "x.joblib", "--target", "sepsis"]
    )


def test_bad_values_are_listed_with_their_lines(daily: Path, tmp_path: Path) -> None:
    """Reliability review D17: NaN/inf CRP and temperature, 1e308 CRP, negative and fractional
    days, grades 7 and -1 and duplicate patient-days were all used silently (negative days
    took AUROC from 0.854 to 0.974)."""

    def spoil(rows: list[dict[str, str]]) -> None:
        rows[0]["crp_mg_l"], rows[1]["crp_mg_l"], rows[2]["max_temp_c"] = "NaN", "inf", "nan"
        rows[3]["crp_mg_l"], rows[4]["day"], rows[5]["day"] = "1e308", "-1", "2.5"
        rows[6]["crs_grade"], rows[7]["icans_grade"], rows[8]["crp_mg_l"] = "7", "-1", "ten"
        rows[31]["day"] = rows[30]["day"]

    out = _fails(["forecast", "evaluate", "--data", str(_rewrite(daily, tmp_path / "bad.csv", edit=spoil))])
    assert out.startswith("error: 9 problems:"), out
    for expected in (
        "column 'max_temp_c' holds NaN on line 4: leave the cell blank (or NA)",
        "column 'crp_mg_l' holds NaN on line 2",
        "column 'crp_mg_l' must hold numbers: line 10. Got 'ten'.",
        "column 'crp_mg_l' (mg/L) must hold plausible values, 0 to 1500 mg/L: line 5. Got 1e+308.",
        "column 'crp_mg_l' must hold finite numbers (blank: not measured): line 3. Got inf.",
        "column 'day' must hold whole days from 0 (infusion) to 10,000: lines 6, 7. Got -1, 2.5.",
        "column 'crs_grade' must hold whole grades 0-4 (blank: not assessed): line 8. Got 7.",
        "column 'icans_grade' must hold whole grades 0-4 (blank: not assessed): line 9. Got -1.",
        "one row per patient and day: a (patient_id, day) already on an earlier line comes again on line 33",
    ):
        assert f"bad.csv: {expected}" in out, expected


def test_unusable_files_get_a_message_saying_what_to_check(daily: Path, tmp_path: Path) -> None:
    """Reliability review D20: header only, every day an event, non-UTF-8 and one patient gave
    'zero-size array to reduction operation maximum', 'Found array with 0 sample(s)', "'ascii'
    codec can't decode" and sklearn's LeaveOneGroupOut text."""
    header = tmp_path / "header.csv"
    header.write_text("patient_id,day,crs_grade,icans_grade\n")
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"patient_id,day,icans_grade\nP\xe9,0,0\nB,1,0\n")

    def all_events(rows: list[dict[str, str]]) -> None:
        for row in rows:
            row["icans_grade"] = "1"

    def one_patient(rows: list[dict[str, str]]) -> None:
        rows[:] = [r for r in rows if r["patient_id"] == rows[0]["patient_id"]]
        for r in rows:
            r["icans_grade"] = "1" if int(r["day"]) >= 8 else "0"

    cases = {
        header: "header.csv: no data rows below the header; expected one row per patient and day.",
        latin: "latin.csv: column 'patient_id' is not UTF-8 text on line 2. Save the file as UTF-8.",
        _rewrite(daily, tmp_path / "all.csv", edit=all_events): (
            "none of the 660 patient-days can be scored for ICANS grade >= 1 within 5 days: "
            "every day is at or after an onset"
        ),
        _rewrite(daily, tmp_path / "one.csv", edit=one_patient): (
            "cross-validation by patient needs at least 2 patients with scorable days; the table has 1 "
            "('SYN-0000'). Check the patient_id column."
        ),
    }
    for path, expected in cases.items():
        out = _fails(["forecast", "evaluate", "--data", str(path)])
        assert expected in out, out
        assert "array" not in out and "codec" not in out and "Traceback" not in out
    model = tmp_path / "not-a-model.joblib"
    model.write_text("x")
    assert "not a model file written by 'cgtvigil forecast fit'" in _fails(
        ["forecast", "predict", "--model", str(model), "--data", str(daily), "--output", str(tmp_path / "p.csv")]
    )


def test_parquet_rows_are_named_and_booleans_are_not_numbers(daily: Path, tmp_path: Path) -> None:
    """D17 for Parquet input: problems name 1-based rows; a boolean column is not a grade
    (reliability review D11: booleans were taken as numbers elsewhere)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pacsv.read_csv(daily)
    days = table.column("day").to_pylist()
    days[2] = -4
    bad = table.set_column(table.schema.get_field_index("day"), "day", pa.array(days))
    pq.write_table(bad, tmp_path / "bad.parquet")
    out = _fails(["forecast", "evaluate", "--data", str(tmp_path / "bad.parquet")])
    assert "bad.parquet: column 'day' must hold whole days from 0 (infusion) to 10,000: row 3. Got -4." in out
    flags = table.set_column(
        table.schema.get_field_index("icans_grade"), "icans_grade", pa.array([False] * table.num_rows)
    )
    pq.write_table(flags, tmp_path / "flags.parquet")
    out = _fails(["forecast", "evaluate", "--data", str(tmp_path / "flags.parquet")])
    assert "column 'icans_grade' must hold numbers. Got a column of type bool." in out
    pq.write_table(table, tmp_path / "good.parquet")
    assert (
        json.loads(
            _ok(["forecast", "evaluate", "--data", str(tmp_path / "good.parquet"), "--model", "logistic", "--json"])
        )["n_patients"]
        == 30
    )


@pytest.mark.parametrize("family", ["hazard", "course"])
def test_fit_predict_and_evaluate_each_family(daily: Path, tmp_path: Path, family: str) -> None:
    """Issue 16: --family hazard|course through fit, predict (risk by day; P(grade >= g) and
    days to resolution) and evaluate (one task on patient folds, as JSON)."""
    model = tmp_path / f"{family}.joblib"
    out = " ".join(
        _ok(
            ["forecast", "fit", "--data", str(daily), "--family", family, "--horizon", "4", "--output", str(model)]
        ).split()
    )
    assert f"Model ({family}, 30 patients" in out
    assert joblib.load(model)["family"] == family
    pred = tmp_path / "p.csv"
    _ok(["forecast", "predict", "--model", str(model), "--data", str(daily), "--output", str(pred)])
    with pred.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30 * 22
    extra = (
        ["risk_day_1", "risk_day_4"] if family == "hazard" else ["p_grade_ge_1", "p_grade_ge_4", "days_to_resolution"]
    )
    assert set(extra) <= set(rows[0]) and all(0 <= float(r["probability"]) <= 1 for r in rows)
    if family == "hazard":
        assert all(float(r["risk_day_1"]) <= float(r["risk_day_4"]) == float(r["probability"]) for r in rows)
    else:
        assert all(float(r["p_grade_ge_4"]) <= float(r["p_grade_ge_1"]) + 1e-9 for r in rows)
    result = json.loads(
        _ok(
            [
                "forecast",
                "evaluate",
                "--data",
                str(daily),
                "--family",
                family,
                "--horizon",
                "4",
                "--loo-max-patients",
                "5",
                "--json",
            ]
        )
    )
    assert result["families"] == [family] and result["cross_validation"] == "grouped 10-fold"
    task = result["tasks"][0]
    assert (task["min_grade"], task["horizon_days"]) == (1, 4) and 0.5 < task["families"][family]["auroc"] <= 1


def test_family_and_report_options_are_checked(daily: Path, tmp_path: Path) -> None:
    out = _fails(["forecast", "evaluate", "--data", str(daily), "--family", "forest"])
    assert (
        "The '--family' parameter of cgtvigil forecast must be one of window, hazard, course, all. Got 'forest'." in out
    )
    out = _fails(["forecast", "evaluate", "--data", str(daily), "--report", str(tmp_path / "r.html")])
    assert "The '--report' option needs --family all" in out
    out = _fails(["forecast", "fit", "--data", str(daily), "--family", "all", "--output", str(tmp_path / "m.joblib")])
    assert "must be one of window, hazard, course. Got 'all'." in out


def test_comparison_report_has_its_tables_and_charts(daily: Path) -> None:
    """The HTML report of a comparison (two families, two tasks, severity) with its charts."""
    from cgtvigil.forecasting import DailyTable, compare_families
    from cgtvigil.reports import forecast_charts, render_forecast_report

    with daily.open() as fh:
        rows = list(csv.DictReader(fh))
    table = DailyTable.from_columns({k: [float(r[k]) if k != "patient_id" else r[k] for r in rows] for k in rows[0]})
    result = compare_families(
        table, "icans", families=("hazard", "course"), horizons=(2, 5), grades=(1,), folds=3, loo_max_patients=5
    )
    assert [t["horizon_days"] for t in result["tasks"]] == [2, 5] and result["severity"]["horizon_days"] == 5
    for task in result["tasks"]:
        assert task["winner"] in ("hazard", "course")
        for m in task["families"].values():
            assert {"auroc", "auprc", "brier", "calibration", "patient_level", "lead_time", "decision_curve"} <= set(m)
    charts = forecast_charts(result)
    assert len(charts) == 5 and charts[3]["title"].startswith("Reliability, grade >= 1 within 5 days")
    page = render_forecast_report(result, "<script>/* vega */</script>", title="ICANS <test>")
    assert "ICANS &lt;test&gt;" in page and page.count("vegaEmbed(") == 5 and "Severe (grade ≥ 3)" in page


def test_realistic_simulator_sites_report_their_own_units(tmp_path: Path) -> None:
    """`synth trajectories --realistic`: a site's file in its units (site C: CRP mg/dL, °F), read
    with --unit, forecasts what the canonical table forecasts for its patients; uneventful
    patients discharged early and labs left blank on days not measured."""
    out = tmp_path / "real"
    _ok(["synth", "trajectories", str(out), "--patients", "30", "--seed", "2", "--realistic"])
    with (out / "patients.csv").open() as fh:
        patients = list(csv.DictReader(fh))
    assert {p["site"] for p in patients} == {"A", "B", "C"} and min(int(p["discharge_day"]) for p in patients) < 11
    with (out / "daily.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert any(r["il6_pg_ml"] == "" for r in rows) and all(r["crp_mg_l"] != "" for r in rows if r["day"] == "0")
    model = tmp_path / "m.joblib"
    _ok(["forecast", "fit", "--data", str(out / "daily.csv"), "--model", "logistic", "--output", str(model)])
    site_c = [out / "daily_site_C.csv", tmp_path / "c.csv", tmp_path / "canonical_c.csv"]
    units = ["--unit", "crp_mg_l=mg/dL,max_temp_c=[degF]"]
    _ok(["forecast", "predict", "--model", str(model), "--data", str(site_c[0]), *units, "--output", str(site_c[1])])
    ids = {p["patient_id"] for p in patients if p["site"] == "C"}
    _rewrite(
        out / "daily.csv",
        site_c[2],
        edit=lambda rs: rs.__setitem__(slice(None), [r for r in rs if r["patient_id"] in ids]),
    )
    canonical = tmp_path / "pc.csv"
    _ok(["forecast", "predict", "--model", str(model), "--data", str(site_c[2]), "--output", str(canonical)])
    with site_c[1].open() as a, canonical.open() as b:
        got, expected = list(csv.DictReader(a)), list(csv.DictReader(b))
    assert len(got) == len(expected) > 0
    assert all(
        abs(float(x["probability"]) - float(y["probability"])) < 1e-3 for x, y in zip(got, expected, strict=True)
    )


def _stack(out: Path, target: Path, unit_columns: bool = False) -> list[dict[str, str]]:
    """Site A's daily file (CRP mg/L, °C) with site C's (mg/dL, °F) below it: two extractions
    stacked, as a cohort table put together from two hospitals is."""
    rows: list[dict[str, str]] = []
    for site in "AC":
        with (out / f"daily_site_{site}.csv").open() as fh:
            for r in csv.DictReader(fh):
                if unit_columns:
                    r["crp_unit"], r["temp_unit"] = ("mg/L", "Cel") if site == "A" else ("mg/dL", "[degF]")
                rows.append(r)
    with target.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def test_a_column_that_mixes_units_is_refused_with_the_rows_and_their_likely_unit(tmp_path: Path) -> None:
    """Stacked site files: temperature in °C above °F (each °F value is implausible in °C and
    plausible in °F) and CRP in mg/L above mg/dL (every value plausible in both: found by the
    tenfold lower level of the block of site C's patients). One message per column naming the
    file, the lines and the likely unit; with --unit-column (each row's unit) the table loads and
    forecasts what the canonical table forecasts."""
    out = tmp_path / "real"
    _ok(["synth", "trajectories", str(out), "--patients", "60", "--seed", "2", "--realistic"])
    stacked = tmp_path / "stacked.csv"
    rows = _stack(out, stacked)
    first_c = 2 + next(i for i, r in enumerate(rows) if r["patient_id"] in _site_ids(out, "C"))
    text = _fails(["forecast", "evaluate", "--data", str(stacked)])
    assert text.count(str(stacked)) == 2
    assert (
        f"column 'max_temp_c' is declared in Cel but mixes units (two extractions stacked?): lines {first_c:,}" in text
    )
    assert "look like [degF]" in text and "look like mg/dL" in text and "column 'crp_mg_l' is declared in mg/L" in text
    crp_c = [i + 2 for i, r in enumerate(rows) if i + 2 >= first_c and r["crp_mg_l"] != ""]
    assert f"lines {', '.join(f'{n:,}' for n in crp_c[:5])} (and {len(crp_c) - 5:,} more) look like mg/dL" in text
    assert "--unit-column crp_mg_l=<column of units>" in text and "Traceback" not in text
    model = tmp_path / "m.joblib"
    _ok(["forecast", "fit", "--data", str(out / "daily.csv"), "--model", "logistic", "--output", str(model)])
    declared = tmp_path / "declared.csv"
    _stack(out, declared, unit_columns=True)
    units = ["--unit-column", "crp_mg_l=crp_unit", "--unit-column", "max_temp_c=temp_unit"]
    got = tmp_path / "got.csv"
    _ok(["forecast", "predict", "--model", str(model), "--data", str(declared), *units, "--output", str(got)])
    canonical = tmp_path / "canonical.csv"
    ids = _site_ids(out, "A") | _site_ids(out, "C")
    _rewrite(
        out / "daily.csv",
        canonical,
        edit=lambda rs: rs.__setitem__(slice(None), [r for r in rs if r["patient_id"] in ids]),
    )
    expected = tmp_path / "expected.csv"
    _ok(["forecast", "predict", "--model", str(model), "--data", str(canonical), "--output", str(expected)])
    with got.open() as a, expected.open() as b:
        by_row = {(r["patient_id"], r["day"]): float(r["probability"]) for r in csv.DictReader(b)}
        pairs = [(float(r["probability"]), by_row[r["patient_id"], r["day"]]) for r in csv.DictReader(a)]
    assert len(pairs) == len(by_row) > 0 and all(abs(x - y) < 1e-3 for x, y in pairs)
    bad = tmp_path / "bad_units.csv"
    _rewrite(declared, bad, edit=lambda rs: rs[3].update(crp_unit="mmol/L", crp_mg_l="5"))
    text = _fails(["forecast", "predict", "--model", str(model), "--data", str(bad), *units, "--output", str(got)])
    assert "the unit column of 'crp_mg_l' holds unit(s) 'mmol/L' on line 5; expected one of mg/dL, mg/L." in text


def _site_ids(out: Path, site: str) -> set[str]:
    with (out / "patients.csv").open() as fh:
        return {p["patient_id"] for p in csv.DictReader(fh) if p["site"] == site}


def test_the_window_classifier_on_the_features_known_at_the_time(tmp_path: Path) -> None:
    """--features known: the window classifier on the hazard model's features (age, product
    class, platelets, treatment so far, ... when the table has them); --features core: the
    dozen of them that carry the signal (no platelets, slopes); a wrong name is refused."""
    out = tmp_path / "real"
    _ok(["synth", "trajectories", str(out), "--patients", "40", "--seed", "4", "--realistic"])
    data = ["--data", str(out / "daily.csv"), "--model", "logistic"]
    result = json.loads(_ok(["forecast", "evaluate", *data, "--features", "known", "--json"]))
    assert {"age", "product", "plt_1e9_l", "tocilizumab", "steroids"} <= set(result["inputs"])
    assert "product_class_cd19" in result["features"] and result["auroc"] > 0.6
    core = json.loads(_ok(["forecast", "evaluate", *data, "--features", "core", "--json"]))
    assert "il6_pg_ml_last" in core["features"] and not any("slope" in f for f in core["features"])
    assert "plt_1e9_l" not in core["inputs"] and core["auroc"] > 0.6
    text = _fails(["forecast", "evaluate", *data, "--features", "later"])
    assert "The 'features' parameter of ToxicityForecaster must be one of" in text and "Got 'later'" in text
    assert "core" in text
