"""Every option of `signals`, `report`, `grade` and `demo` either does what it says or is
refused with a message naming it (issue 8 §3, the option audit; reliability review 2026-12,
D16 for paths printed as markup).

The defects pinned here: a repeated multi-value option kept only its last value
(`--method prr --method ror` screened ROR only); a value naming something unknown was
dropped (`--roles PS,XX` screened PS alone, `--meddra /nonexistent` was not read); an option
that has no effect in the command given was accepted silently (`--levels` with `--input`,
`--term` for a JSON input); paths and file text were printed as Rich markup. Real DuckDB
store from the FDA's FAERS 2017Q2 sample (``shared/data/faers``, 100 reports), the shipped
grading examples, and the CLI through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "grading"
runner = CliRunner()


def _ok(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    return r.output


def _flat(text: str) -> str:
    """Text without whitespace: the console wraps long lines (and folds long paths) at 80."""
    return "".join(text.split())


def _fails(args: list[str]) -> str:
    """The one-line-per-problem message of a refused command, whitespace made single."""
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert "Traceback" not in r.output
    return " ".join(r.output.split())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> Path:
    db = tmp_path_factory.mktemp("options") / "faers.duckdb"
    _ok(["ingest", "faers", str(faers_samples / "faers_ascii_2017q2.zip"), "--db", str(db)])
    return db


@pytest.fixture
def counts(tmp_path: Path) -> Path:
    path = tmp_path / "counts.csv"
    path.write_text("drug,event,a,b,c,d\nX,Y,3,10,20,400\nX,Z,1,12,22,398\n")
    return path


# signals ---------------------------------------------------------------------------------


def test_repeated_signal_options_add_up(store: Path, tmp_path: Path) -> None:
    """`--method prr --method ror` screened ROR only, and so on for --strata, --roles and
    --levels: the last one won. Each is now repeatable and each value comma-separated."""
    out = tmp_path / "s.csv"
    args = ["signals", "--db", str(store), "--all-drugs", "--output", str(out)]
    args += ["--method", "prr", "--method", "ror,ic", "--strata", "age_band", "--strata", "sex"]
    args += ["--roles", "PS", "--roles", "ss,c", "--levels", "pt", "--levels", "topic"]
    _ok(args)
    spec = json.loads((tmp_path / "s.csv.meta.json").read_text())["spec"]
    assert spec["methods"] == ["prr", "ror", "ic"]
    assert spec["strata"] == ["age_band", "sex"]
    assert spec["roles"] == ["PS", "SS", "C"]
    assert spec["event_levels"] == ["pt", "topic"]
    table = pacsv.read_csv(out)
    assert {"prr", "ror", "ic"} <= set(table.column_names) and "ebgm" not in table.column_names
    assert set(table.column("event_type").to_pylist()) == {"pt", "topic"}


def test_unknown_roles_and_store_strata_are_named(store: Path, tmp_path: Path) -> None:
    """`--roles PS,XX` silently screened PS alone, `--roles XX` said "no pairs", and
    `--strata nosuch` with --db printed a DuckDB binder error. FAERS role_cod values are PS,
    SS, C and I (FDA, FAERS ASCII README); the store's stratum columns are those of its
    analysis relation."""
    args = ["signals", "--db", str(store), "--output", str(tmp_path / "o.csv")]
    text = _fails([*args, "--roles", "PS,XX", "--strata", "age_band,nosuch"])
    assert "The '--roles' parameter of cgtvigil signals must be FAERS role codes (PS, SS, C, I). Got 'XX'." in text
    assert (
        "The '--strata' parameter of cgtvigil signals must be stratum columns of the FAERS store "
        "(age_band, sex, report_year). Got 'nosuch'." in text
    )
    assert "Binder" not in text and "LINE 1" not in text
    alone = _fails([*args, "--roles", "XX"])
    assert "must be FAERS role codes (PS, SS, C, I). Got 'XX'." in alone and "no (drug" not in alone
    assert not (tmp_path / "o.csv").exists()


def test_signal_options_without_effect_are_refused(store: Path, counts: Path, tmp_path: Path) -> None:
    """Options that changed nothing were accepted silently: --format with --db; --all-drugs,
    --levels, --roles, --topics and --meddra with --input; --strata with a counts file (each
    row is one 2x2 table); --squash and --prior without EBGM, --yates
    without PRR, --ic-approx without IC; --meddra when no topic lists meddra_groups (a path
    that does not exist was never even read); '--top -1' printed "Top -1 of 2 pairs"."""
    out = ["--output", str(tmp_path / "o.csv")]
    text = _fails(["signals", "--db", str(store), "--format", "long", *out])
    assert "The '--format' option has no effect with --db (the store's layout is known); leave it out." in text
    topics = tmp_path / "t.json"
    topics.write_text("{}")
    args = ["signals", "--input", str(counts), "--format", "counts", *out, "--all-drugs", "--levels", "pt"]
    args += ["--roles", "PS", "--topics", str(topics), "--meddra", str(tmp_path), "--strata", "s"]
    args += ["--method", "prr,ror", "--squash", "on", "--prior", "1,1,1,1,0.5", "--ic-approx"]
    text = _fails(args)
    for option in ("--all-drugs", "--levels", "--roles", "--topics", "--meddra"):
        assert f"The '{option}' option has no effect with --input (it applies to the FAERS store, --db)" in text
    assert "The '--strata' option has no effect with --format counts (each row is one 2x2 table)" in text
    for option in ("--squash", "--prior"):
        assert f"The '{option}' option has no effect without ebgm in --method" in text
    assert "The '--ic-approx' option has no effect without ic in --method" in text
    assert "9 problems" in text
    text = _fails(["signals", "--input", str(counts), "--format", "counts", "--method", "ror", "--yates", *out])
    assert "The '--yates' option has no effect without prr in --method" in text
    text = _fails(
        ["signals", "--input", str(counts), "--format", "counts", "--prior", "1,1,1,1,0.5", "--squash", "on", *out]
    )
    assert "The '--squash' option has no effect with a fixed --prior (no prior is fitted)" in text
    assert "Invalid value for '--top'" in _fails(["signals", "--input", str(counts), "--top", "-1", *out])
    text = _fails(["signals", "--input", str(counts), "--format", "wide", *out])
    assert "The '--format' parameter of cgtvigil signals must be 'long' or 'counts'. Got 'wide'." in text
    text = _fails(["signals", "--db", str(store), "--meddra", str(tmp_path / "nonexistent"), *out])
    assert "The '--meddra' option has no effect: no safety topic (shipped or from --topics) lists meddra_groups" in text


def test_min_count_applies_to_a_counts_file(counts: Path, tmp_path: Path) -> None:
    """--min-count was ignored for a counts file (screen_counts_file never applied it, while
    the store and long-file screens did): the pair X/Z with a = 1 stayed in the result."""
    out = tmp_path / "o.csv"
    _ok(
        [
            "signals",
            "--input",
            str(counts),
            "--format",
            "counts",
            "--min-count",
            "2",
            "--method",
            "prr",
            "--output",
            str(out),
        ]
    )
    assert pacsv.read_csv(out).column("event").to_pylist() == ["Y"]


def test_a_topics_file_is_named_in_its_errors(store: Path, tmp_path: Path) -> None:
    """A --topics file missing its fields was reported as 'cgtvigil:topics.json' (the shipped
    file); one that is not JSON gave "Expecting value: line 1 column 1 (char 0)" alone."""
    out = ["--output", str(tmp_path / "o.csv")]
    empty = tmp_path / "mine.json"
    empty.write_text("{}")
    text = _fails(["signals", "--db", str(store), "--topics", str(empty), *out])
    assert f"{empty}: field 'version': Field required" in text and "cgtvigil:topics.json" not in text
    junk = tmp_path / "junk.json"
    junk.write_text("nope")
    assert f"{junk}: not a UTF-8 JSON topic file (Expecting value" in _fails(
        ["signals", "--db", str(store), "--topics", str(junk), *out]
    )


def test_signal_and_report_paths_are_printed_as_given(counts: Path, tmp_path: Path) -> None:
    """D16: the result, metadata and HTML report paths were printed as markup after the
    files were written ('[/]' raised MarkupError, exit 1; '[bold]' vanished)."""
    folder = tmp_path / "r[/]x[bold]"
    folder.mkdir(parents=True)
    result, html = folder / "s.json", folder / "s.html"
    args = ["signals", "--input", str(counts), "--format", "counts", "--method", "prr", "--output", str(result)]
    out = _flat(_ok([*args, "--html", str(html)]))
    assert _flat(f"Results: {result} (metadata: {result}.meta.json)") in out and _flat(f"HTML report: {html}") in out
    again = folder / "again.html"
    assert _flat(f"HTML report: {again}") in _flat(_ok(["report", str(result), "--output", str(again)]))


# grade -----------------------------------------------------------------------------------


def test_grade_options_a_json_input_or_scheme_does_not_use_are_refused(tmp_path: Path) -> None:
    """--term, --ctcae-version, --infusion, --censor and --name only shape a CSV input of one
    scheme; for a JSON input (which holds those fields) or another scheme they were ignored."""
    crs = str(EXAMPLES / "crs.json")
    text = _fails(["grade", "crs", "--input", crs, "--term", "x", "--infusion", "2026-01-01", "--name", "easix"])
    assert "The '--term' option has no effect for grade crs (it is for grade ctcae with a CSV input)" in text
    assert "The '--infusion' option has no effect for grade crs (it is for grade icaht with a CSV input)" in text
    assert "The '--name' option has no effect for grade crs (it is for grade score with a CSV input)" in text
    text = _fails(["grade", "icaht", "--input", str(EXAMPLES / "icaht.json"), "--censor", "2026-02-01"])
    assert "The '--censor' option has no effect with a JSON input (the JSON gives its 'censor' field)" in text
    text = _fails(["grade", "score", "--input", str(EXAMPLES / "iec_hs.json"), "--name", "hscore"])
    assert "The '--name' option has no effect with a JSON input (the JSON gives its 'name' field)" in text
    text = _fails(["grade", "ctcae", "--schema", "--input", crs, "--ctcae-version", "6.0"])
    assert "The '--input' option has no effect with --schema" in text and "'--ctcae-version' option" in text
    csv_in = str(EXAMPLES / "ctcae.csv")
    text = _fails(["grade", "ctcae", "--input", csv_in, "--term", "neutrophil_count_decreased", "--ctcae-version", "7"])
    assert "The '--ctcae-version' parameter of cgtvigil grade must be '5.0' or '6.0'. Got '7'." in text
    assert "a CTCAE CSV needs --term" in _fails(["grade", "ctcae", "--input", csv_in])


def test_grade_csv_rows_are_never_dropped_or_overwritten(tmp_path: Path) -> None:
    """An ICAHT CSV row whose analyte was not exactly 'anc' or 'plt' was dropped; in a score
    CSV a second row of one analyte replaced the first and a row without one was dropped; a
    header naming a column twice, or a row longer than the header, lost values; a field over
    the csv module's 128 kB limit raised a traceback."""
    icaht = tmp_path / "icaht.csv"
    icaht.write_text(
        "analyte,value,unit,time\nneutrophils,0.1,10^9/L,2026-01-05T07:00\nANC,0.3,10^9/L,2026-01-06T07:00\n"
    )
    text = _fails(["grade", "icaht", "--input", str(icaht), "--infusion", "2026-01-01T00:00"])
    assert f"{icaht}, line 2: the analyte must be 'anc' or 'plt'. Got 'neutrophils'." in text
    assert "line 3" not in text  # 'ANC' is anc
    score = tmp_path / "score.csv"
    score.write_text("analyte,value,unit\nldh,300,U/L\nldh,900,U/L\ncrp,5,mg/dL\n,4,mg/dL\n")
    text = _fails(["grade", "score", "--input", str(score), "--name", "easix"])
    assert f"{score}, line 3: the analyte 'ldh' is given again (first on line 2)." in text
    assert f"{score}, line 5: the analyte is blank" in text
    assert text.count(str(score)) == 2  # named once per problem, not again in front
    twice = tmp_path / "twice.csv"
    twice.write_text("analyte,value,unit,value\nanc,1,10^9/L,2\n")
    assert f"{twice}, line 1: column name(s) used twice: 'value'" in _fails(
        ["grade", "ctcae", "--input", str(twice), "--term", "neutrophil_count_decreased"]
    )
    huge = tmp_path / "huge.csv"
    huge.write_text("analyte,value\nanc," + "9" * 200_000 + "\n")
    assert f"{huge}, line 2: not a readable CSV row (field larger than field limit" in _fails(
        ["grade", "ctcae", "--input", str(huge), "--term", "neutrophil_count_decreased"]
    )
    wide = tmp_path / "wide.csv"
    wide.write_text("analyte,value,unit\nanc,1,10^9/L,2026-01-02\n")
    assert f"{wide}, line 2: 4 fields, the header names 3." in _fails(
        ["grade", "ctcae", "--input", str(wide), "--term", "neutrophil_count_decreased"]
    )


def test_grade_explanations_are_printed_as_given(tmp_path: Path) -> None:
    """D16: the explanation was printed as markup; a vasopressor named '[/]x:x:' (kept and
    counted as its own agent) raised MarkupError."""
    path = tmp_path / "crs.json"
    path.write_text(
        json.dumps(
            {
                "time": "2026-01-02T08:00",
                "temperature": 38.5,
                "sbp_mmhg": 84,
                "vasopressors": ["[/]x:x:"],
                "o2_device": "none",
            }
        )
    )
    out = _flat(_ok(["grade", "crs", "--input", str(path)]))
    assert _flat("2026-01-02T08:00:00 CRS (ASTCT-CRS-2019): grade 3 — one vasopressor ([/]x:x:)") in out


# demo ------------------------------------------------------------------------------------


def test_demo_refuses_missing_samples_and_a_folder_of_yours(tmp_path: Path) -> None:
    """A --samples folder that does not exist meant a demo without real samples, said
    nowhere; --out naming a folder with files of one's own deleted it (shutil.rmtree);
    --port with --no-serve was ignored."""
    text = _fails(["demo", "--out", str(tmp_path / "d"), "--samples", str(tmp_path / "none"), "--no-serve"])
    assert f"The '--samples' option must name a folder of real FAERS sample quarters. Got '{tmp_path / 'none'}'" in text
    assert not (tmp_path / "d").exists()
    (tmp_path / "empty").mkdir()
    assert "holds no FAERS quarter" in _fails(
        ["demo", "--samples", str(tmp_path / "empty"), "--out", str(tmp_path / "d")]
    )
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    text = _fails(["demo", "--out", str(mine), "--samples", str(ROOT / "data/samples/faers"), "--no-serve"])
    assert "holds files that are not an earlier demo's" in text
    assert (mine / "thesis.tex").read_text() == "keep me"
    text = _fails(["demo", "--reports-per-quarter", "0", "--port", "70000", "--samples", str(tmp_path / "empty")])
    assert "'--reports-per-quarter' parameter of cgtvigil demo must be an integer >= 1. Got 0." in text
    assert "'--port' parameter of cgtvigil demo must be a port number in 1..65535. Got 70000." in text
    text = _fails(["demo", "--no-serve", "--port", "9000", "--samples", str(ROOT / "data/samples/faers")])
    assert "The '--port' option has no effect with --no-serve (no web application is started)" in text


def test_demo_replaces_its_own_folder_and_prints_paths_as_given(tmp_path: Path) -> None:
    """D16: the signal report path was printed as markup after the demo's files were
    written. An earlier demo's folder (it holds the marker) is replaced."""
    out = tmp_path / "demo[/]x"
    out.mkdir(parents=True)
    (out / ".cgtvigil-demo").write_text("")
    (out / "stale.txt").write_text("from an earlier run")
    args = ["demo", "--out", str(out), "--samples", str(ROOT / "data/samples/faers"), "--no-serve"]
    text = _ok([*args, "--reports-per-quarter", "30"])
    assert _flat(f"Signal report: {(out / 'signal_report.html').resolve()}") in _flat(text)
    assert not (out / "stale.txt").exists() and (out / ".cgtvigil-demo").exists()
