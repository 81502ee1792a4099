"""The FAERS store's own DuckDB connection works under the deployment's memory limit and spill
folder (CGTVIGIL_DUCKDB_MEMORY_LIMIT, CGTVIGIL_DUCKDB_TEMP_DIR; a store opened without them
works under 2GB), for the ingest (its case rebuild) and a screen of the store; and the store keeps each
DEMO row's case key (schema version 2), back-filled in a store written by version 1 (issue 17
target 3: all of FAERS on one machine)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import cgtvigil.screening._ingest as ingest_module
from cgtvigil.cli import app
from cgtvigil.engine import DuckDBEngine
from cgtvigil.errors import StoreError, ValidationError
from cgtvigil.model import SignalSpec
from cgtvigil.screening import ingest_faers, open_screen_store, screen_store
from cgtvigil.store import FaersStore, check_derived_tables, load_products, load_topics
from cgtvigil.store._faers_store import CASE_KEY_SQL, SCHEMA_VERSION, STORE_MEMORY_LIMIT


def _as_duckdb_shows(size: str) -> str:
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [size])
    shown: str = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    return shown


def _setting(store: FaersStore, name: str) -> str:
    value: str = store.con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0]
    return value


def _ingest(db: Path, paths: list[Path], **kwargs: Any) -> None:
    with FaersStore(db, **kwargs) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_faers(paths, store, load_products())


def test_a_store_opens_under_its_default_or_the_given_limit(tmp_path: Path, faers_samples: Path) -> None:
    db = tmp_path / "faers.duckdb"
    with FaersStore(db) as store:
        assert _setting(store, "memory_limit") == _as_duckdb_shows(STORE_MEMORY_LIMIT) == _as_duckdb_shows("2GB")
        assert _setting(store, "temp_directory") == str(db) + ".tmp"  # DuckDB's, beside the store
    spill = tmp_path / "spill"
    with FaersStore(db, memory_limit="256MB", temp_directory=spill) as store:
        assert (_setting(store, "memory_limit"), _setting(store, "temp_directory")) == (
            _as_duckdb_shows("256MB"),
            str(spill),
        )
    with FaersStore(db, read_only=True, memory_limit="300MiB") as store:
        assert _setting(store, "memory_limit") == _as_duckdb_shows("300MiB")
    with FaersStore(db, memory_limit=None) as store:  # DuckDB's own default
        assert (
            _setting(store, "memory_limit")
            == duckdb.connect().execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        )
    with open_screen_store(db) as store:  # a screen's reader: the same default
        assert _setting(store, "memory_limit") == _as_duckdb_shows(STORE_MEMORY_LIMIT)
    with open_screen_store(db, memory_limit="384MB", temp_directory=spill) as store:
        assert (_setting(store, "memory_limit"), _setting(store, "temp_directory")) == (
            _as_duckdb_shows("384MB"),
            str(spill),
        )
    with FaersStore(db, read_only=True) as store:  # an open store's limit can be changed
        store.limit_memory("320MB")
        assert _setting(store, "memory_limit") == _as_duckdb_shows("320MB")
    with pytest.raises(ValidationError, match=r"'memory_limit' parameter of FaersStore.*'lots'"):
        FaersStore(db, memory_limit="lots")


def test_ingest_and_screen_work_under_a_small_limit(tmp_path: Path, faers_samples: Path) -> None:
    """256MB on the shared samples: the same store and the same screen as without a limit."""
    paths = [faers_samples / "aers_ascii_2004q1.zip", faers_samples / "faers_ascii_2017q2.zip"]
    results = {}
    for name, limit in (("small", "256MB"), ("unlimited", None)):
        db = tmp_path / f"{name}.duckdb"
        _ingest(db, paths, memory_limit=limit, temp_directory=tmp_path / "spill")
        with FaersStore(db, read_only=True, memory_limit=limit) as store, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = screen_store(store, SignalSpec(products_only=False), load_products(), load_topics())
            report = store.query("SELECT * FROM report ORDER BY ALL").to_pylist()
        pairs = result.table.select(["drug", "event", "event_type", "n"]).to_pylist()
        results[name] = (report, sorted(pairs, key=lambda r: (r["drug"], r["event"], r["event_type"])))
    assert results["small"] == results["unlimited"]
    assert len(results["small"][0]) == 200 and results["small"][1]


def test_the_commands_open_the_store_under_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, faers_samples: Path
) -> None:
    """`ingest faers` rebuilds the cases and `signals --db` counts under CGTVIGIL_DUCKDB_MEMORY_LIMIT,
    spilling to CGTVIGIL_DUCKDB_TEMP_DIR."""
    seen: dict[str, tuple[str, str]] = {}
    rebuild = ingest_module.rebuild_cases

    def rebuild_spy(store: FaersStore, **kwargs: Any) -> dict[str, int]:
        seen["case rebuild"] = (_setting(store, "memory_limit"), _setting(store, "temp_directory"))
        return rebuild(store, **kwargs)

    count_pairs = DuckDBEngine.count_pairs

    def count_spy(self: DuckDBEngine, *args: Any, **kwargs: Any) -> pa.Table:
        row = self.con.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory')").fetchall()
        seen["screen"] = (row[0][0], row[0][1])
        return count_pairs(self, *args, **kwargs)

    monkeypatch.setattr(ingest_module, "rebuild_cases", rebuild_spy)
    monkeypatch.setattr(DuckDBEngine, "count_pairs", count_spy)
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setenv("CGTVIGIL_DUCKDB_MEMORY_LIMIT", "256MB")
    monkeypatch.setenv("CGTVIGIL_DUCKDB_TEMP_DIR", str(spill))
    db = tmp_path / "faers.duckdb"
    runner = CliRunner()
    result = runner.invoke(app, ["ingest", "faers", str(faers_samples / "faers_ascii_2017q2.zip"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "screen.csv"
    result = runner.invoke(app, ["signals", "--db", str(db), "--all-drugs", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert seen == {"case rebuild": (_as_duckdb_shows("256MB"), str(spill)), "screen": seen["case rebuild"]}


def _as_version_1(db: Path) -> None:
    """Make a store look as schema version 1 wrote it: DEMO without its case key."""
    with duckdb.connect(str(db)) as con:
        con.execute("ALTER TABLE demo DROP COLUMN case_key")
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")


def test_a_version_1_store_gets_its_case_keys_back_filled(tmp_path: Path, faers_samples: Path) -> None:
    legacy, current = faers_samples / "aers_ascii_2004q1.zip", faers_samples / "faers_ascii_2017q2.zip"
    whole = tmp_path / "whole.duckdb"
    _ingest(whole, [legacy, current])
    old = tmp_path / "old.duckdb"
    _ingest(old, [legacy])
    _as_version_1(old)
    with FaersStore(old, read_only=True) as store:  # a reader needs no case key
        check_derived_tables(store)
    with FaersStore(old) as store:
        assert store.query("SELECT value FROM meta WHERE key = 'schema_version'").to_pylist() == [
            {"value": str(SCHEMA_VERSION)}
        ]
        wrong = store.query(f"SELECT count(*) AS n FROM demo WHERE case_key IS DISTINCT FROM {CASE_KEY_SQL}")
        assert wrong.to_pylist() == [{"n": 0}]
        assert store.query("SELECT count(*) AS n FROM demo").to_pylist() == [{"n": 100}]
        check_derived_tables(store)  # the back-fill changes no derived table
    _ingest(old, [current])  # the incremental update reads the back-filled keys
    tables = {}
    for db in (whole, old):
        with FaersStore(db, read_only=True) as store:
            tables[db.name] = [
                store.query(f"SELECT * FROM {t} ORDER BY ALL").to_pylist() for t in ("report", "drug_map", "demo")
            ]
    assert tables["old.duckdb"] == tables["whole.duckdb"]


def test_a_store_of_a_newer_schema_is_not_written(tmp_path: Path, faers_samples: Path) -> None:
    db = tmp_path / "faers.duckdb"
    _ingest(db, [faers_samples / "faers_ascii_2017q2.zip"])
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    with pytest.raises(StoreError, match=r"schema version 3, written by a newer cgtvigil"):
        FaersStore(db)
    with FaersStore(db, read_only=True) as store:  # it may still be read
        check_derived_tables(store)


def test_a_second_demo_file_of_a_loaded_quarter_updates_the_cases_it_shares_rows_with(
    tmp_path: Path, faers_samples: Path
) -> None:
    """A folder of 2017Q2 whose DEMO differs from the zip's: a new version of one case on the
    primaryid of another, and a row without caseid on the primaryid of a third. The incremental
    update must re-choose the cases whose rows share a primaryid and quarter with the new rows
    (their ``dup_primaryid``), and give the case view of a single ingest."""
    zipped = faers_samples / "faers_ascii_2017q2.zip"
    folder = tmp_path / "faers_2017q2_again"
    shutil.copytree(faers_samples / "faers_2017q2", folder)
    lines = (folder / "DEMO17Q2.txt").read_text("latin-1").splitlines()
    header, rows = lines[0], [r.split("$") for r in lines[1:4]]
    rows[1][1], rows[1][2] = rows[0][1], str(int(rows[0][2]) + 1)  # case 1, version up, primaryid of case 2
    rows[2][1] = ""  # no caseid: a case of its own, keyed by the primaryid of case 3
    (folder / "DEMO17Q2.txt").write_text("\n".join([header, *("$".join(r) for r in rows[1:])]) + "\n", "latin-1")
    whole, steps = tmp_path / "whole.duckdb", tmp_path / "steps.duckdb"
    _ingest(whole, [zipped, folder])
    _ingest(steps, [zipped])
    _ingest(steps, [folder])
    tables = {}
    for db in (whole, steps):
        with FaersStore(db, read_only=True) as store:
            tables[db.name] = store.query("SELECT * FROM report ORDER BY ALL").to_pylist()
    assert tables["steps.duckdb"] == tables["whole.duckdb"]
    by_case = {r["caseid"]: r for r in tables["whole.duckdb"]}
    assert by_case[rows[0][1]]["caseversion"] == int(rows[1][2]) and by_case[rows[0][1]]["dup_primaryid"]
    assert by_case[rows[2][0]]["dup_primaryid"] and by_case[rows[2][0]]["n_versions_loaded"] == 1
    assert sum(r["dup_primaryid"] for r in tables["whole.duckdb"]) == 4  # and the cases of primaryids 2 and 3
