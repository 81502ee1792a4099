"""`cgtvigil rank fit | evaluate | predict` end to end on SYNTHETIC quarters (Typer's runner,
real files, real DuckDB)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app

runner = CliRunner()
QUARTERS = "2023Q1,2023Q2,2023Q3,2023Q4,2024Q1,2024Q2,2024Q3,2024Q4"


def _run(args: list[str], code: int = 0) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("rank_cli")
    _run(["synth", "faers", str(tmp / "zips"), "--reports-per-quarter", "3000", "--quarters", QUARTERS, "--seed", "5"])
    _run(["ingest", "faers", *map(str, sorted((tmp / "zips").glob("*.zip"))), "--db", str(tmp / "s.duckdb")])
    return tmp / "s.duckdb", tmp / "zips" / "synthetic_manifest.json"


def test_evaluate_prints_the_figures_with_their_source_and_writes_the_curves(store: tuple, tmp_path: Path) -> None:
    db, manifest = store
    out = _run(["rank", "evaluate", "--db", str(db), "--reference", str(manifest), "--bootstrap", "100",
                "--json", str(tmp_path / "e.json"), "--plot", str(tmp_path / "e.json.vl.json"),
                "--csv", str(tmp_path / "pairs.csv")])  # fmt: skip
    text = " ".join(out.split())
    for word in ("AUROC", "AUPRC", "EB05", "IC025", "ROR025", "margin over", "grouped by drug", "cluster-bootstrap"):
        assert word in text
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["settings"]["grouped_by"] == "drug" and doc["mapping"]["mapped"] == doc["pairs"]
    spec = json.loads((tmp_path / "e.json.vl.json").read_text())
    curves = {(v["method"], v["curve"]) for v in spec["data"]["values"]}
    assert {("ranker", "roc"), ("ranker", "pr"), ("EB05", "roc")} <= curves
    assert (tmp_path / "pairs.csv").read_text().startswith('"drug","event","label"')


def test_fit_then_predict_adds_priority_to_a_screen_result(store: tuple, tmp_path: Path) -> None:
    db, manifest = store
    model = tmp_path / "model.json"
    _run(["rank", "fit", "--db", str(db), "--reference", str(manifest), "--out", str(model)])
    doc = json.loads(model.read_text())
    assert doc["kind"] == "cgtvigil ranking model" and doc["training"]["features"]["data"]["snapshot_sha256"]
    _run(["signals", "--db", str(db), "--output", str(tmp_path / "screen.parquet"), "--all-drugs"])
    out = _run(["rank", "predict", str(tmp_path / "screen.parquet"), "--db", str(db), "--model", str(model),
                "--out", str(tmp_path / "ranked.parquet")])  # fmt: skip
    assert "Review first" in out
    table = pq.read_table(tmp_path / "ranked.parquet")
    assert {"priority", "priority_score", "priority_explanation"} <= set(table.column_names)
    meta = json.loads((tmp_path / "ranked.parquet.meta.json").read_text())
    assert meta["ranking"]["model"]["coef"] == doc["model"]["coef"]


def test_bad_inputs_are_one_clear_message(store: tuple, tmp_path: Path) -> None:
    db, manifest = store
    bad = tmp_path / "bad.csv"
    bad.write_text("drug,event,label\nx,y,maybe\n")
    out = _run(["rank", "evaluate", "--db", str(db), "--reference", str(bad)], code=2)
    assert "is not a label (1 or 0)" in out and "Traceback" not in out
    (tmp_path / "m.json").write_text("{}")
    out = _run(["rank", "predict", str(tmp_path / "none.parquet"), "--db", str(db), "--model", str(tmp_path / "m.json"),
                "--out", str(tmp_path / "o.parquet")], code=2)  # fmt: skip
    assert "not a ranking model" in out
    out = _run(["rank", "evaluate", "--db", str(db), "--reference", str(manifest), "--folds", "1"], code=2)
    assert "'n_splits'" in out
