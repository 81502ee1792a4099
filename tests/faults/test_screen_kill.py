"""kill -9 between loading a quarter and rebuilding the derived tables, then screen without a
re-run (reliability review 2026-12, D14, matrix row 1.7): the screen must refuse the stale case
view or drug map, and the same ingest run again must repair the store to equal a clean one.

Real FDA samples from ``shared/data/faers``: 2017Q2 (FAERS, 100 reports) is loaded first, the
legacy AERS 2004Q1 quarter (100 reports) is added by the killed run: the real ``cgtvigil``
command, made to SIGKILL itself by ``CGTVIGIL_FAULT_AFTER`` right before the case view
(``dedup``) or the drug map (``drugmap``) is rebuilt."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.errors import StaleStoreError
from cgtvigil.model import SignalSpec
from cgtvigil.screening import ingest_faers, screen_store
from cgtvigil.store import FaersStore, load_products, load_topics
from faults.conftest import cli

pytestmark = pytest.mark.faults

runner = CliRunner()


def _pairs(db: Path) -> dict[tuple[str, str, str], int]:
    spec_args = ["--all-drugs", "--method", "prr", "--strata", ""]
    out = db.with_suffix(".csv")
    r = runner.invoke(app, ["signals", "--db", str(db), "--output", str(out), *spec_args])
    assert r.exit_code == 0, r.output
    t = pacsv.read_csv(out).to_pylist()
    return {(row["drug"], row["event"], row["event_type"]): row["n"] for row in t}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> dict[tuple[str, str, str], int]:
    db = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    with FaersStore(db) as store:
        ingest_faers([faers_samples / "faers_2017q2", faers_samples / "aers_ascii_2004q1.zip"], store, load_products())
    return _pairs(db)


@pytest.mark.parametrize(("step", "what"), [("dedup", "case view"), ("drugmap", "drug map")])
def test_a_kill_before_the_derived_tables_are_rebuilt_is_refused_then_repaired(
    tmp_path: Path, faers_samples: Path, clean: dict[tuple[str, str, str], int], step: str, what: str
) -> None:
    db = tmp_path / "k.duckdb"
    with FaersStore(db) as store:
        ingest_faers([faers_samples / "faers_2017q2"], store, load_products())
    added = faers_samples / "aers_ascii_2004q1.zip"
    run = cli("ingest", "faers", added, "--db", db, env={"CGTVIGIL_FAULT_AFTER": step})
    assert run.returncode == -9, run.stdout + run.stderr
    with FaersStore(db, read_only=True) as store:  # the quarter itself committed before the kill
        assert store.query("SELECT count(*) AS n FROM demo").to_pylist()[0]["n"] == 200
    r = runner.invoke(app, ["signals", "--db", str(db), "--output", str(tmp_path / "stale.csv")])
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "Traceback" not in out, out
    assert f"the {what} is stale" in out and "re-run `cgtvigil ingest faers" in out
    assert not (tmp_path / "stale.csv").exists()
    with FaersStore(db, read_only=True) as store, pytest.raises(StaleStoreError, match="built from 7 loaded files"):
        screen_store(store, SignalSpec(), load_products(), load_topics())  # the library refuses, not only the CLI
    # the same command again repairs the store: the screen equals a clean ingest's
    with FaersStore(db) as store:
        ingest_faers([added], store, load_products())
    assert _pairs(db) == clean
