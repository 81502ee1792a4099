"""The read side of screening under bad input and odd stores (reliability review 2026-12:
D3, D12, D13, D14, D15, D19; matrix rows 2.8, 4.2-4.9, 4.17, 5.2, 5.3).

Real DuckDB files, the real FDA sample quarter (``shared/data/faers``: FAERS 2017Q2, 100
reports; its first DEMO line is primaryid 109792364, caseid 10979236, version 4, suspect drug
RISPERDAL) and the CLI through Typer's runner. The second quarter is written here: one case of
2017Q2 again under the *same primaryid* with version 5, a CAR-T drug and CRS, as in the
review's case "e". Expected values follow from those files by construction."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.errors import (
    DataQualityWarning,
    StaleStoreError,
    StatisticalCaveatWarning,
    StoreError,
    ValidationError,
)
from cgtvigil.model import SignalSpec
from cgtvigil.screening import ingest_faers, open_screen_store, screen_counts_file, screen_long_file, screen_store
from cgtvigil.store import FaersStore, analysis_relation_sql, load_products, load_topics

runner = CliRunner()
PID = "109792364"  # DEMO17Q2.txt line 2


def _fails(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    return " ".join(r.output.split())  # the error console wraps long lines


def _ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def _quarter_2017q3(folder: Path, sample: Path) -> Path:
    """A 2017Q3 folder holding one report: primaryid 109792364 again, caseversion 5."""
    folder.mkdir(parents=True)
    rows = {
        "DEMO": [PID, "10979236", "5", "F", "2003", "", "20150402", "20170801", "EXP"] + [""] * 7 + ["F"] + [""] * 8,
        "DRUG": [PID, "10979236", "1", "PS", "KYMRIAH", "TISAGENLECLEUCEL"] + [""] * 14,
        "REAC": [PID, "10979236", "Cytokine release syndrome", ""],
    }
    for table in ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI"):
        header = (sample / f"{table}17Q2.txt").read_text("utf-8").split("\n", 1)[0].rstrip("\r")
        body = "$".join(rows[table]) + "\n" if table in rows else ""
        assert table not in rows or len(rows[table]) == header.count("$") + 1
        (folder / f"{table}17Q3.txt").write_text(header + "\n" + body, "utf-8")
    return folder


@pytest.fixture(scope="module")
def two_quarters(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> Path:
    tmp = tmp_path_factory.mktemp("twoq")
    q3 = _quarter_2017q3(tmp / "faers_ascii_2017q3", faers_samples / "faers_2017q2")
    with FaersStore(tmp / "s.duckdb") as store:
        ingest_faers([faers_samples / "faers_2017q2", q3], store, load_products())
    return tmp / "s.duckdb"


# -- D15: versions never mix -------------------------------------------------------------------


def test_a_case_joins_only_the_drugs_and_reactions_of_its_chosen_version(two_quarters: Path) -> None:
    """D15 / row 2.8: the chosen version is 2017Q3's; RISPERDAL and the 2017Q2 PTs of the same
    primaryid must not join it (before: 2017Q2's drugs x 2017Q3's CRS and the reverse)."""
    with open_screen_store(two_quarters) as store:
        chosen = store.query(f"SELECT quarter, caseversion FROM report WHERE primaryid = '{PID}'").to_pylist()
        assert chosen == [{"quarter": "2017Q3", "caseversion": 5}]
        pairs = store.query(
            f"SELECT DISTINCT drug, event FROM ({analysis_relation_sql(('PS', 'SS'))}) WHERE report_id = '{PID}'"
        ).to_pylist()
        assert [p["event"] for p in pairs] == ["CYTOKINE RELEASE SYNDROME"]
        assert len(pairs) == 1 and "RISPERDAL" not in pairs[0]["drug"].upper()
        spec = SignalSpec(products_only=False, strata=(), event_levels=("pt",), methods=("prr",))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = screen_store(store, spec, load_products(), load_topics())
    rows = result.table.to_pylist()
    crs = [r for r in rows if r["event"] == "CYTOKINE RELEASE SYNDROME"]
    assert len(crs) == 1 and crs[0]["n"] == 1
    assert not [r for r in rows if "RISPERDAL" in r["drug"].upper() and r["event"] == "CYTOKINE RELEASE SYNDROME"]
    # the attrition counts the case once, on its 2017Q3 rows
    analysed = result.metadata["attrition"][-1]
    assert analysed["reports_in"] == 100 and analysed["reports_out"] <= 100


def test_the_web_drill_down_does_not_mix_versions_either(two_quarters: Path) -> None:
    """D15 in the web's by-quarter trend (the one other query joining drugs and reactions to
    ``report``): RISPERDAL (2017Q2 copy) never met CRS (2017Q3 copy) in one version."""
    from cgtvigil.screening import statistic_by_quarter as _statistic_by_quarter

    con = duckdb.connect(str(two_quarters), read_only=True)
    try:
        (risperdal,) = con.execute("SELECT drug FROM drug_map WHERE drugname = 'RISPERDAL'").fetchone() or ("",)
        (kymriah,) = con.execute("SELECT drug FROM drug_map WHERE drugname = 'KYMRIAH'").fetchone() or ("",)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert _statistic_by_quarter(con, risperdal, "Cytokine release syndrome") == []
            trend = _statistic_by_quarter(con, kymriah, "Cytokine release syndrome")
    finally:
        con.close()
    assert {(t.quarter, t.n) for t in trend} == {("2017Q3", 1)}


# -- D14: the case view belongs to the loaded files --------------------------------------------


def test_a_store_without_a_case_view_is_refused(tmp_path: Path) -> None:
    """Row 2.16 / D12: a store holding tables but no ``report`` (an ingest that stopped) gave
    a CatalogException traceback."""
    FaersStore(tmp_path / "empty.duckdb").close()
    out = _fails(["signals", "--db", str(tmp_path / "empty.duckdb"), "--output", str(tmp_path / "o.csv")])
    assert "no case view" in out and "re-run `cgtvigil ingest faers" in out
    assert not (tmp_path / "o.csv").exists()


def test_a_duckdb_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    duckdb.connect(str(tmp_path / "other.duckdb")).execute("CREATE TABLE t (x INTEGER)").close()
    with (
        pytest.raises(StoreError, match="not a cgtvigil FAERS store"),
        open_screen_store(tmp_path / "other.duckdb") as s,
    ):
        screen_store(s, SignalSpec(), load_products(), load_topics())


def test_a_case_view_older_than_the_loaded_files_is_refused(tmp_path: Path, faers_samples: Path) -> None:
    """D14: ``source_file`` gains a quarter whose cases were never folded into ``report`` (the
    state a kill at the start of de-duplication leaves; the kill itself is in
    tests/faults/test_screen_kill.py). Here the newer quarter is copied in by SQL from a second
    store, as a crash would have committed it, and the case view is not rebuilt."""
    with FaersStore(tmp_path / "a.duckdb") as store:
        ingest_faers([faers_samples / "faers_2017q2"], store, load_products())
    q3 = _quarter_2017q3(tmp_path / "faers_ascii_2017q3", faers_samples / "faers_2017q2")
    with FaersStore(tmp_path / "b.duckdb") as other:
        ingest_faers([q3], other, load_products())
    with FaersStore(tmp_path / "a.duckdb") as store:
        store.execute(f"ATTACH '{tmp_path / 'b.duckdb'}' AS b (READ_ONLY)")
        for t in ("source_file", "demo", "drug", "reac"):  # file ids moved past the store's own
            store.execute(f"INSERT INTO {t} SELECT * REPLACE (file_id + 1000 AS file_id) FROM b.{t}")
        store.execute("DETACH b")
    out = _fails(["signals", "--db", str(tmp_path / "a.duckdb"), "--output", str(tmp_path / "o.csv")])
    assert "the case view is stale (built from 7 loaded files, 14 loaded now" in out
    with open_screen_store(tmp_path / "a.duckdb") as store, pytest.raises(StaleStoreError):
        screen_store(store, SignalSpec(), load_products(), load_topics())


def test_a_drug_map_made_with_another_product_dictionary_is_noted(two_quarters: Path, tmp_path: Path) -> None:
    """The drug map can also be stale against the shipped product dictionary (a newer
    cgtvigil): the screen runs, and says so on screen and in its metadata."""
    db = tmp_path / "old.duckdb"
    shutil.copy(two_quarters, db)
    with FaersStore(db) as store:
        store.execute("UPDATE meta SET value = 'products-0.0' WHERE key = 'product_dictionary_version'")
    spec = SignalSpec(strata=(), event_levels=("pt",), methods=("prr",))
    with open_screen_store(db) as store, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = screen_store(store, spec, load_products(), load_topics())
    notes = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
    assert len(notes) == 1 and "mapped with product dictionary products-0.0" in notes[0]
    assert notes[0] in result.metadata["notes"]


# -- D13: read-only, and one message under a writer's lock ----------------------------------------


def _hold(db: Path, *, read_only: bool) -> subprocess.Popen[str]:
    code = (
        "import duckdb, sys, time\n"
        f"c = duckdb.connect(sys.argv[1], read_only={read_only})\n"
        "print('open', flush=True)\n"
        "time.sleep(60)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "open"
    return p


def _stop(p: subprocess.Popen[str]) -> None:
    p.kill()
    p.wait()
    assert p.stdout is not None
    p.stdout.close()


def test_signals_reads_beside_another_reader_and_names_a_writer_lock(two_quarters: Path, tmp_path: Path) -> None:
    """D13 / rows 5.2, 5.3: a read-write open failed beside any other process; under a
    writer's lock the screen printed an IOException traceback."""
    reader = _hold(two_quarters, read_only=True)
    try:
        _ok(["signals", "--db", str(two_quarters), "--output", str(tmp_path / "o.csv"), "--levels", "pt"])
    finally:
        _stop(reader)
    writer = _hold(two_quarters, read_only=False)
    try:
        out = _fails(["signals", "--db", str(two_quarters), "--output", str(tmp_path / "p.csv")])
    finally:
        _stop(writer)
    assert f"locked by process {writer.pid}" in out and "wait until it finishes" in out


def test_a_directory_or_a_missing_store_is_one_message(tmp_path: Path) -> None:
    assert "is a directory" in _fails(["signals", "--db", str(tmp_path), "--output", str(tmp_path / "o.csv")])
    assert "no such store" in _fails(
        ["signals", "--db", str(tmp_path / "no.duckdb"), "--output", str(tmp_path / "o.csv")]
    )


# -- D3: counts are exact ---------------------------------------------------------------------------


def _counts(tmp_path: Path, text: str, name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_counts_beyond_2_53_or_with_fractions_are_refused_with_their_lines(tmp_path: Path) -> None:
    """D3 / rows 4.6, 4.7: 10^30 was written as -9223372036854775808; 1.5 and 90.2 became 1 and 90."""
    big = _counts(
        tmp_path,
        "drug,event,a,b,c,d\nD1,E1,1000000000000000000000000000000,90,100,9800\n"
        "D2,E1,3,200,107,99999999999999999999999999\nD3,E1,9007199254740992,0,0,0\n",
    )
    with pytest.raises(ValidationError) as e:
        screen_counts_file(big, SignalSpec())
    assert e.value.problems == [
        f"{big}, line 2, column 'a': 1000000000000000000000000000000 is above 2^53 = 9,007,199,254,740,992, "
        "the largest count the statistics hold exactly.",
        f"{big}, line 3, column 'd': 99999999999999999999999999 is above 2^53 = 9,007,199,254,740,992, "
        "the largest count the statistics hold exactly.",
    ]
    frac = _counts(tmp_path, "drug,event,a,b,c,d\nD1,E1,1.5,90.2,100,9800\nD2,E1,3,200,107,9690\nD3,E1,ten,1,1,1\n")
    out = _fails(["signals", "--input", str(frac), "--format", "counts", "--output", str(tmp_path / "o.csv")])
    assert "3 problems" in out
    assert f"{frac}, line 2, column 'a': '1.5' is not a count" in out
    assert f"{frac}, line 2, column 'b': '90.2' is not a count" in out
    assert f"{frac}, line 4, column 'a': 'ten' is not a count" in out
    assert not (tmp_path / "o.csv").exists()


def test_exact_counts_are_scored_exactly(tmp_path: Path) -> None:
    """Whole numbers written as 7, ' 7 ' or 7.0 are the same count; 2^53 itself is accepted."""
    path = _counts(tmp_path, "drug,event,a,b,c,d\nD1,E1, 7 ,93,100.0,9800\nD2,E1,3,197,104,9696\n")
    table = screen_counts_file(path, SignalSpec(methods=("prr",))).table.to_pylist()
    got = {r["drug"]: (r["a"], r["b"], r["c"], r["d"]) for r in table}
    assert got == {"D1": (7, 93, 100, 9800), "D2": (3, 197, 104, 9696)}


def test_header_only_counts_and_repeated_pairs_are_one_message(tmp_path: Path) -> None:
    """D19 / rows 4.4, 4.8: a header-only file raised IndexError in the prior fit; a pair given
    twice was scored twice without a word (refused now: two tables for one pair are ambiguous)."""
    head = _counts(tmp_path, "drug,event,a,b,c,d\n", "h.csv")
    out = _fails(["signals", "--input", str(head), "--format", "counts", "--output", str(tmp_path / "o.csv")])
    assert "has a header but no rows" in out
    twice = _counts(tmp_path, "drug,event,a,b,c,d\nD1,E1,3,97,10,890\nD2,E1,1,99,12,888\nD1,E1,4,96,9,891\n", "t.csv")
    out = _fails(["signals", "--input", str(twice), "--format", "counts", "--output", str(tmp_path / "o.csv")])
    assert "the pair ('D1', 'E1') is given on line 2, line 4; give each pair once." in out


def test_counts_with_disagreeing_margins_are_scored_with_a_note(tmp_path: Path) -> None:
    """NOTE 4.8: two database sizes in one file are scored as given, and said so."""
    path = _counts(tmp_path, "drug,event,a,b,c,d\nD1,E1,3,97,10,890\nD2,E1,1,99,12,5000\n")
    with pytest.warns(DataQualityWarning, match="2 different database sizes") as w:
        result = screen_counts_file(path, SignalSpec(methods=("prr",)))
    assert str(w[0].message) in result.metadata["notes"]


# -- D19: long-format rows left out are counted ------------------------------------------------------


def test_long_rows_with_a_blank_field_are_counted_and_shown(tmp_path: Path) -> None:
    """D19 / row 4.2: rows with a blank id or drug were dropped with no note (the review: 67 of 100;
    here every third row lacks an id and every third a drug: 66 of 100)."""
    lines = ["report_id,drug,event"]
    for i in range(100):
        rid = "" if i % 3 == 1 else f"r{i}"
        drug = " " if i % 3 == 2 else f"D{i % 5}"
        lines.append(f"{rid},{drug},E{i % 4}")
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n")
    spec = SignalSpec(methods=("prr",), strata=())
    with pytest.warns(DataQualityWarning, match="66 of 100 rows left out"):
        result = screen_long_file(path, spec)
    step = result.metadata["attrition"][0]
    assert (step["reports_in"], step["reports_out"], step["unit"]) == (100, 34, "rows")
    assert "33 with a blank report id; 33 with a blank drug; 0 with a blank event" in step["reason"]
    out = _ok(["signals", "--input", str(path), "--method", "prr", "--output", str(tmp_path / "o.json")])
    assert "66 of 100 rows left out" in out and "100 -> 34 rows" in out
    meta = json.loads((tmp_path / "o.json.meta.json").read_text())
    assert meta["attrition"][0]["reports_out"] == 34


def test_a_long_screen_closes_only_its_own_engine(tmp_path: Path) -> None:
    """The screen closes the DuckDB connection it opened once the pairs are counted (its memory
    goes back before the scoring); a caller's engine stays open and gives the same result."""
    from cgtvigil.engine import DuckDBEngine

    path = tmp_path / "long.csv"
    path.write_text("report_id,drug,event\n" + "".join(f"r{i},D{i % 7},E{i % 5}\n" for i in range(300)))
    spec = SignalSpec(methods=("prr", "ror", "ic"), strata=())
    engine = DuckDBEngine()
    given = screen_long_file(path, spec, engine=engine)
    assert engine.con.execute("SELECT 1").fetchall() == [(1,)]

    def rows(t: object) -> list[dict]:  # tied pairs may come in either order
        return sorted(t.table.to_pylist(), key=lambda r: (r["drug"], r["event"]))  # type: ignore[attr-defined]

    assert rows(screen_long_file(path, spec)) == rows(given)


def test_an_engine_memory_limit_spills_to_its_own_folder_and_leaves_a_given_connection_alone() -> None:
    from cgtvigil.engine import DuckDBEngine

    def setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
        return str(con.execute(f"SELECT current_setting('{name}')").fetchall()[0][0])

    own = DuckDBEngine(memory_limit="1GB")
    folder = Path(setting(own.con, "temp_directory"))
    assert folder.name.startswith("cgtvigil-duckdb-") and folder.is_dir()
    assert setting(own.con, "memory_limit") == "953.6 MiB"
    own.close()
    assert not folder.exists()
    con = duckdb.connect()
    before = setting(con, "memory_limit")
    DuckDBEngine(con, memory_limit="1GB")
    assert setting(con, "memory_limit") == before  # a given connection (a store's) keeps its own limit


def test_long_header_naming_a_used_column_twice_is_refused(tmp_path: Path) -> None:
    """NOTE 4.3: with two 'drug' columns the first was used silently. A repeated column that
    the screen does not use is harmless and allowed."""
    path = tmp_path / "dup.csv"
    path.write_text("id,drug,drug,event\n1,A,B,E\n")
    out = _fails(["signals", "--input", str(path), "--output", str(tmp_path / "o.csv")])
    assert "line 1: the header names the column(s) drug more than once" in out
    ok = tmp_path / "ok.csv"
    ok.write_text("id,drug,event,note,note\n1,A,E,x,y\n2,B,E,x,y\n")
    _ok(["signals", "--input", str(ok), "--method", "prr", "--output", str(tmp_path / "o.csv")])


def test_long_unbalanced_quote_is_noted(tmp_path: Path) -> None:
    """NOTE 4.3: an unbalanced quote ends up inside the drug name ('"D1'); it is kept (the
    reader cannot know the intended split) and said so."""
    path = tmp_path / "q.csv"
    path.write_text('id,drug,event\n1,"D1,E\n2,D2,E\n3,D2,F\n')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StatisticalCaveatWarning)  # zero cells in this tiny table
        with pytest.warns(DataQualityWarning, match="1 rows have a drug or event that starts with a double quote"):
            screen_long_file(path, SignalSpec(methods=("prr",), strata=()))


# -- D12: unwritable outputs are refused before the work -----------------------------------------------


def test_unwritable_outputs_are_refused_before_the_screen_runs(tmp_path: Path) -> None:
    """Row 4.17: --html under a regular file raised FileExistsError after the results were
    written. Now neither file is written and one message names the path."""
    counts = _counts(tmp_path, "drug,event,a,b,c,d\nX,Y,3,10,20,400\n")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    out_csv = tmp_path / "o.csv"
    args = ["signals", "--input", str(counts), "--format", "counts", "--method", "prr", "--output"]
    out = _fails([*args, str(out_csv), "--html", str(blocker / "r.html")])
    assert f"The HTML report {blocker / 'r.html'} cannot be written: {blocker} is a file, not a folder." in out
    assert not out_csv.exists()
    out = _fails([*args, str(blocker / "sub" / "o.csv")])
    assert f"{blocker} is a file, not a folder" in out
    (tmp_path / "dir.csv").mkdir()
    assert "it is a folder" in _fails([*args, str(tmp_path / "dir.csv")])


def test_report_command_gives_one_message(tmp_path: Path) -> None:
    counts = _counts(tmp_path, "drug,event,a,b,c,d\nX,Y,3,10,20,400\nZ,Y,5,30,18,380\n")
    _ok(["signals", "--input", str(counts), "--format", "counts", "--output", str(tmp_path / "o.csv")])
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert "is a file, not a folder" in _fails(["report", str(tmp_path / "o.csv"), "--output", str(blocker / "r.html")])
    assert "no such file" in _fails(["report", str(tmp_path / "none.csv"), "--output", str(tmp_path / "r.html")])
    (tmp_path / "o.json").write_text("{}")
    (tmp_path / "o.json.meta.json").write_text("{}")
    assert "not a result file" in _fails(["report", str(tmp_path / "o.json"), "--output", str(tmp_path / "r.html")])
    _ok(["report", str(tmp_path / "o.csv"), "--output", str(tmp_path / "r.html")])
    assert os.path.getsize(tmp_path / "r.html") > 0


def test_a_quote_in_a_file_name_is_part_of_the_name(tmp_path: Path) -> None:
    """The file name is an SQL string literal inside the reader: a quote must not end it."""
    counts = _counts(tmp_path, "drug,event,a,b,c,d\nX,Y,3,10,20,400\n", "o'brien counts.csv")
    long = tmp_path / "o'brien long.csv"
    long.write_text("id,drug,event\n1,A,E\n2,B,E\n3,A,F\n")
    for path, fmt in ((counts, "counts"), (long, "long")):
        _ok(["signals", "--input", str(path), "--format", fmt, "--method", "prr", "--output", str(tmp_path / "o.csv")])


def test_the_library_refuses_unknown_roles_and_store_strata(two_quarters: Path) -> None:
    """The option audit (issue 8 §3): ``SignalSpec(roles=("XX",))`` matched nothing and an
    unknown stratum failed inside DuckDB; both are refused by name, as the CLI refuses them."""
    from pydantic import ValidationError as SpecError

    with pytest.raises(SpecError, match=r"FAERS role codes \(PS, SS, C, I\).*XX"):
        SignalSpec(roles=("PS", "XX"))
    assert SignalSpec(roles=("ps", " ss ")).roles == ("PS", "SS")
    with open_screen_store(two_quarters) as store, pytest.raises(ValidationError, match="nosuch"):
        screen_store(store, SignalSpec(strata=("nosuch",)), load_products(), load_topics())
