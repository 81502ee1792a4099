"""The command line end to end (Typer's runner, real files, real DuckDB)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    db = tmp / "faers.duckdb"
    report = tmp / "import.json"
    _ok(
        [
            "ingest",
            "faers",
            str(faers_samples / "faers_ascii_2017q2.zip"),
            str(faers_samples / "aers_ascii_2004q1.zip"),
            "--db",
            str(db),
            "--report-json",
            str(report),
        ]
    )
    data = json.loads(report.read_text())
    assert {f["file"].rsplit("/", 1)[-1] for f in data["files"]} == {"faers_ascii_2017q2.zip", "aers_ascii_2004q1.zip"}
    for f in data["files"]:
        assert set(f) >= {"file", "sha256", "read", "loaded", "quarantined"}
        assert f["read"] == f["loaded"] + f["quarantined"]
    assert data["cases"]["cases"] == 200 and data["cases"]["cases_after_dedup"] == 200
    return db


def test_help_on_every_command() -> None:
    for cmd in (
        [],
        ["ingest"],
        ["ingest", "faers"],
        ["signals"],
        ["synth"],
        ["synth", "faers"],
        ["synth", "long"],
        ["report"],
        ["demo"],
        ["dictionary"],
        ["dictionary", "products"],
        ["dictionary", "topics"],
    ):
        out = _ok([*cmd, "--help"])
        assert "Usage" in out


def test_signals_from_store_all_drugs(store: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "screen.parquet"
    _ok(["signals", "--db", str(store), "--all-drugs", "--strata", "age_band,sex", "--output", str(out_file)])
    table = pq.read_table(out_file)
    required = {
        "drug",
        "event",
        "event_type",
        "n",
        "expected",
        "prr",
        "prr_lower",
        "prr_upper",
        "chi2",
        "ror",
        "ror_lower",
        "ror_upper",
        "ic",
        "ic025",
        "ic975",
        "ebgm",
        "eb05",
        "eb95",
    }
    assert required <= set(table.column_names)
    meta = json.loads(table.schema.metadata[b"cgtvigil"])
    assert meta["spec"]["strata"] == ["age_band", "sex"] and len(meta["spec_hash"]) == 64
    assert set(meta["priors"]["pt"]) >= {"alpha1", "beta1", "alpha2", "beta2", "p", "convergence"}
    assert meta["data"]["quarters"] == ["2004Q1", "2017Q2"]
    sidecar = json.loads((tmp_path / "screen.parquet.meta.json").read_text())
    assert sidecar["spec_hash"] == meta["spec_hash"]
    # Hand check from DRUG17Q2/REAC17Q2: risperidone (prod_ai RISPERIDONE) is PS in report
    # 109792364, which has 'Abnormal weight gain'.
    rows = [r for r in table.to_pylist() if r["drug"] == "risperidone" and r["event"] == "ABNORMAL WEIGHT GAIN"]
    assert len(rows) == 1
    r = rows[0]
    assert r["n"] == r["a"] >= 1
    totals = {x["a"] + x["b"] + x["c"] + x["d"] for x in table.to_pylist() if x["event_type"] == "pt"}
    assert len(totals) == 1 and 100 < totals.pop() <= 200  # one N: de-duplicated reports with a suspect drug and a PT


def test_signals_long_and_counts_formats(shared: Path, tmp_path: Path) -> None:
    long_out = tmp_path / "long.csv"
    _ok(
        [
            "signals",
            "--input",
            str(shared / "disproportionality/openebgm_synth_20k/reports_long.csv"),
            "--format",
            "long",
            "--output",
            str(long_out),
        ]
    )
    header = long_out.read_text().split("\n", 1)[0]
    assert header.startswith('"drug","event","event_type","n"')
    counts = tmp_path / "amnesia.csv"
    with (
        (shared / "disproportionality/mhra_amnesia/amnesia.csv").open(newline="") as fh,
        counts.open("w", newline="") as out,
    ):
        writer = csv.writer(out)
        writer.writerow(["drug", "event", "a", "b", "c", "d"])
        for r in csv.DictReader(fh):
            a, b = int(r["AmnesiaCases"]), int(r["OtherAdverseCases"])
            writer.writerow([r["DrugName"], "AMNESIA", a, b, 2044 - a, 682648 - b])
    json_out = tmp_path / "amnesia.json"
    _ok(["signals", "--input", str(counts), "--format", "counts", "--method", "prr,ror,ic", "--output", str(json_out)])
    data = json.loads(json_out.read_text())
    assert len(data["rows"]) == 2446 and data["metadata"]["data"]["source"] == "counts_file"
    assert "ebgm" not in data["rows"][0]


def test_clear_errors(tmp_path: Path, store: Path) -> None:
    result = runner.invoke(app, ["signals", "--output", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "exactly one of --db" in result.output
    result = runner.invoke(app, ["signals", "--db", str(store), "--output", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2 and "must end in .csv, .parquet or .json" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("report,drugname,pt\n1,a,b\n")
    result = runner.invoke(app, ["signals", "--input", str(bad), "--output", str(tmp_path / "y.csv")])
    assert result.exit_code == 2
    assert "bad.csv, line 1" in result.output and "missing a 'report_id' (or 'id') column" in result.output
    result = runner.invoke(app, ["ingest", "faers", str(tmp_path / "nothing.zip"), "--db", str(tmp_path / "z.duckdb")])
    assert result.exit_code == 2 and "no such file or folder" in result.output


def test_dictionary_and_report(store: Path, tmp_path: Path) -> None:
    assert "Kymriah" in _ok(["dictionary", "products"])
    assert "Cytokine release syndrome" in _ok(["dictionary", "topics"])
    out_file = tmp_path / "s.json"
    _ok(["signals", "--db", str(store), "--all-drugs", "--output", str(out_file)])
    html = tmp_path / "r.html"
    _ok(["report", str(out_file), "--output", str(html)])
    text = html.read_text()
    assert "<svg" in text and "EB05" in text and "NOT VERIFIED" in text
