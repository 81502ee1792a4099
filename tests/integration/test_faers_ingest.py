"""FAERS / legacy AERS ingestion on real FDA files from ``shared/data/faers``.

Expected counts are the row counts stated in the samples' README (Yunuuuu/faers
``faers_sample()``: 100 reports, DEMO 100, DRUG 328, ... for 2017Q2; DEMO 100, DRUG 386, ...
for 2004Q1; the 2012Q4 extract has 9 DEMO rows and 10 in each other table), and values
read by hand from the files (first data lines quoted in the tests)."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest

from cgtvigil.errors import IngestError, ParseError
from cgtvigil.screening import ingest_faers
from cgtvigil.store import FaersStore, load_products

README_2017Q2 = {"demo": 100, "drug": 328, "indi": 232, "outc": 75, "reac": 286, "rpsr": 2, "ther": 142}
README_2004Q1 = {"demo": 100, "drug": 386, "indi": 124, "outc": 93, "reac": 416, "rpsr": 119, "ther": 145}


def _ingest(tmp_path: Path, *paths: Path, name: str = "s.duckdb", **kw: bool) -> tuple[FaersStore, object]:
    store = FaersStore(tmp_path / name)
    report = ingest_faers(list(paths), store, load_products(), **kw)
    return store, report


def test_faers_2017q2_zip(tmp_path: Path, faers_samples: Path) -> None:
    store, report = _ingest(tmp_path, faers_samples / "faers_ascii_2017q2.zip")
    by_table = {f.table: f for f in report.files}
    for table, rows in README_2017Q2.items():
        f = by_table[table]
        assert (f.read, f.loaded, f.quarantined) == (rows, rows, 0), table
        assert len(f.sha256) == 64
    assert report.cases["cases"] == 100 and report.cases["cases_after_dedup"] == 100
    # DEMO17Q2.txt line 2: 109792364$10979236$4$F$2003$20170224$20150402$20170406$PER$...$M$...
    row = store.query("SELECT * FROM demo WHERE primaryid = '109792364'").to_pylist()[0]
    assert (row["caseid"], row["caseversion"], row["event_dt"], row["sex"], row["line"]) == (
        "10979236",
        "4",
        "2003",
        "M",
        2,
    )
    drug = store.query(
        "SELECT drugname, prod_ai, role_cod, nda_num FROM drug WHERE primaryid = '109792364' AND drug_seq = '1'"
    ).to_pylist()
    assert drug == [{"drugname": "RISPERDAL", "prod_ai": "RISPERIDONE", "role_cod": "PS", "nda_num": "020272"}]


def test_unpacked_folder_equals_zip_and_reimport_is_noop(tmp_path: Path, faers_samples: Path) -> None:
    store, first = _ingest(tmp_path, faers_samples / "faers_2017q2")
    assert [f.status for f in first.files] == ["loaded"] * 7
    again = ingest_faers(
        [faers_samples / "faers_2017q2", faers_samples / "faers_ascii_2017q2.zip"], store, load_products()
    )
    assert all(f.status.startswith("skipped") for f in again.files)
    assert store.query("SELECT count(*) AS n FROM demo").to_pylist()[0]["n"] == 100
    assert store.query("SELECT count(*) AS n FROM source_file").to_pylist()[0]["n"] == 7


def test_legacy_aers_2004q1(tmp_path: Path, faers_samples: Path) -> None:
    store, report = _ingest(tmp_path, faers_samples / "aers_ascii_2004q1.zip")
    for f in report.files:
        assert (f.read, f.loaded, f.quarantined) == (README_2004Q1[f.table],) * 2 + (0,), f.table
    # DEMO04Q1.TXT line 2: 4263742$4061110$I$$4263742-7$20031115$...$42$YR$F$...
    row = store.query("SELECT * FROM demo WHERE primaryid = 'L4263742'").to_pylist()[0]
    assert (row["caseid"], row["caseversion"], row["age"], row["sex"], row["legacy"]) == (
        "4061110",
        "0",
        "42",
        "F",
        True,
    )
    # The re-serialised header's trailing 'v23' is kept as an unknown column (always empty here).
    assert report.files[0].warnings == {"UNKNOWN_COLUMN": 1}
    assert store.query("SELECT count(*) AS n FROM demo WHERE extra IS NOT NULL").to_pylist()[0]["n"] == 0
    assert report.cases["cases_after_dedup"] == 100


def test_2012q4_header_quirks(tmp_path: Path, shared: Path) -> None:
    """gndr_cod -> sex, ' rept_dt' (leading space), a UTF-8 BOM on DRUG, lot_nbr -> lot_num,
    outc_code -> outc_cod and trailing '$' on every line."""
    store, report = _ingest(tmp_path, shared / "faers" / "faers_2012q4_header_quirks")
    counts = {f.table: (f.read, f.loaded, f.quarantined) for f in report.files}
    assert counts == {"demo": (9, 9, 0), **{t: (10, 10, 0) for t in ("drug", "reac", "outc", "rpsr", "ther", "indi")}}
    # demo12q4.txt line 2: 34483284$3448328$4$F$$20121116$20000321$20121128$EXP$...$F$Y$2$KG$20121128$$CN$US$US$
    row = store.query("SELECT sex, rept_dt, wt, occr_country FROM demo WHERE primaryid = '34483284'").to_pylist()[0]
    assert row == {"sex": "F", "rept_dt": "20121128", "wt": "2", "occr_country": "US"}
    assert store.query("SELECT primaryid FROM drug ORDER BY line LIMIT 1").to_pylist()[0]["primaryid"] == "34483284"
    assert store.query("SELECT outc_cod FROM outc WHERE primaryid = '34483284'").to_pylist()[0]["outc_cod"] == "OT"


def _corrupted_quarter(src: Path, dst: Path) -> Path:
    """A copy of the 2017Q2 folder with one problem of each kind added to DEMO and REAC."""
    shutil.copytree(src, dst)
    demo = dst / "DEMO17Q2.txt"
    lines = demo.read_bytes().split(b"\n")
    good = lines[1].decode().split("$")
    too_many = "$".join([*good[:11], "NAME$WITH$DOLLARS", *good[12:]]).encode()
    bad_key = "$".join(["ABC123", *good[1:]]).encode()
    # A record broken by an embedded line break inside mfr_sndr (field 12), with a cp1252 byte.
    broken = (
        "$".join([f"999{good[0][3:]}", f"999{good[1][3:]}", *good[2:11], "LINE ONE"]).encode()
        + b"\n"
        + ("CONTINU\xe9D$" + "$".join(good[12:])).encode("cp1252")
    )
    extra = [too_many, bad_key, b"", broken]
    demo.write_bytes(b"\n".join(lines[:-1] + extra) + b"\n")
    return dst


def test_every_line_is_loaded_or_quarantined(tmp_path: Path, faers_samples: Path) -> None:
    folder = _corrupted_quarter(faers_samples / "faers_2017q2", tmp_path / "q")
    store, report = _ingest(tmp_path, folder)
    demo = next(f for f in report.files if f.table == "demo")
    assert demo.read == 100 + 5
    assert demo.loaded == 100 + 2  # the repaired record spans two physical lines
    assert demo.quarantined == 3
    assert demo.quarantine_reasons == {"TOO_MANY_FIELDS": 1, "BAD_KEY": 1, "BLANK_LINE": 1}
    assert demo.encodings == {"utf-8": 104, "cp1252": 1}
    q = store.query("SELECT line, reason, raw FROM quarantine ORDER BY line").to_pylist()
    assert [r["line"] for r in q] == [102, 103, 104]
    assert q[1]["raw"].startswith("ABC123$")
    repaired = store.query("SELECT mfr_sndr, n_lines, line FROM demo WHERE primaryid LIKE '999%'").to_pylist()
    assert repaired == [{"mfr_sndr": "LINE ONE\nCONTINUéD", "n_lines": 2, "line": 105}]


def test_missing_required_column_names_file_and_column(tmp_path: Path, faers_samples: Path) -> None:
    folder = tmp_path / "q"
    shutil.copytree(faers_samples / "faers_2017q2", folder)
    reac = folder / "REAC17Q2.txt"
    text = reac.read_text().replace("primaryid$caseid$pt$drug_rec_act", "primaryid$caseid$term$drug_rec_act", 1)
    reac.write_text(text)
    with pytest.raises(ParseError) as info:
        _ingest(tmp_path, folder)
    msg = str(info.value)
    assert "REAC17Q2.txt" in msg and "line 1" in msg and "missing required column(s) pt" in msg


def test_missing_data_file_and_quarter_mismatch(tmp_path: Path, faers_samples: Path) -> None:
    folder = tmp_path / "q"
    shutil.copytree(faers_samples / "faers_2017q2", folder)
    (folder / "THER17Q2.txt").unlink()
    with pytest.raises(IngestError, match="lacks the data file\\(s\\) THER"):
        _ingest(tmp_path, folder)
    renamed = tmp_path / "faers_ascii_2018q1.zip"
    shutil.copy(faers_samples / "faers_ascii_2017q2.zip", renamed)
    with pytest.raises(IngestError, match="named for 2018Q1 but its files are for 2017Q2"):
        _ingest(tmp_path, renamed, name="t.duckdb")


def test_versions_and_deleted_cases_across_quarters(tmp_path: Path, faers_samples: Path) -> None:
    """Two hand-made quarters from real 2017Q2 rows: case 10979236 gets version 5 in 2017Q3
    (supersedes version 4), and 2017Q3's Deleted list removes case 11144077."""
    q3 = tmp_path / "faers_ascii_2017q3.zip"
    src = faers_samples / "faers_2017q2"
    with zipfile.ZipFile(q3, "w") as zf:
        for table in ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI"):
            lines = (src / f"{table}17Q2.txt").read_text().split("\n")
            keep = [lines[0]] + [
                ln.replace("109792364$10979236$4$", "109792365$10979236$5$").replace("109792364$", "109792365$")
                for ln in lines[1:]
                if ln.startswith("109792364$")
            ]
            zf.writestr(f"ascii/{table}17Q3.txt", "\n".join(keep) + "\n")
        zf.writestr("Deleted/DELETE17Q3.txt", "11144077\n")
    store, report = _ingest(tmp_path, q3, faers_samples / "faers_ascii_2017q2.zip")
    assert report.cases == {
        "demo_rows": 101,
        "cases": 100,
        "cases_after_dedup": 99,
        "deleted_cases": 1,
        "probable_duplicates": 0,
        "dup_primaryid": 0,
    }
    current = store.query("SELECT primaryid, caseversion, quarter FROM report WHERE caseid = '10979236'").to_pylist()
    assert current == [{"primaryid": "109792365", "caseversion": 5, "quarter": "2017Q3"}]
    assert store.query("SELECT deleted FROM report WHERE caseid = '11144077'").to_pylist() == [{"deleted": True}]
    deleted_file = next(f for f in report.files if f.table == "deleted")
    assert (deleted_file.read, deleted_file.loaded, deleted_file.quarantined) == (1, 1, 0)


def test_probable_duplicates_are_flagged_not_deleted(tmp_path: Path, faers_samples: Path) -> None:
    """A copy of a real case under a new caseid (same event date, age, sex, country, suspect
    drugs and reactions) is flagged; the case with the higher caseid is kept unflagged."""
    folder = tmp_path / "q"
    shutil.copytree(faers_samples / "faers_2017q2", folder)
    for table in ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI"):
        path = folder / f"{table}17Q2.txt"
        lines = path.read_text().split("\n")
        # DEMO line of 115630624 (event_dt 201507, age 55, F, US) has event_dt, age, sex and country (checked by hand).
        copies = [
            ln.replace("115630624$11563062$", "999999991$99999999$", 1) for ln in lines if ln.startswith("115630624$")
        ]
        path.write_text("\n".join([ln for ln in lines if ln] + copies) + "\n")
    store, report = _ingest(tmp_path, folder, flag_duplicates=True)
    flagged = store.query("SELECT caseid FROM report WHERE probable_duplicate").to_pylist()
    assert flagged == [{"caseid": "11563062"}]
    assert report.cases["cases_after_dedup"] == 101


def test_identical_member_content_in_two_quarters_is_recorded_for_each(tmp_path: Path, faers_samples: Path) -> None:
    """A header-only RPSR is byte-identical in every quarter without report sources; it used
    to be 'skipped (already loaded)' in the second quarter because its SHA-256 was stored for
    the first. Idempotency is per quarter now: both quarters record their RPSR."""
    src = faers_samples / "faers_2017q2"
    zips = []
    for q in ("2", "3"):
        path = tmp_path / f"faers_ascii_2017q{q}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            for table in ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI"):
                lines = (src / f"{table}17Q2.txt").read_text().split("\n")
                keep = lines if table != "RPSR" else lines[:1]
                if q == "3":  # a different version of every case, so the other files differ
                    keep = [keep[0]] + [ln.replace("$", "9$", 1) for ln in keep[1:] if ln]
                zf.writestr(f"ascii/{table}17Q{q}.txt", "\n".join(keep) + "\n")
        zips.append(path)
    store, report = _ingest(tmp_path, *zips)
    rpsr = [(f.quarter, f.status, f.read) for f in report.files if f.table == "rpsr"]
    assert rpsr == [("2017Q2", "loaded", 0), ("2017Q3", "loaded", 0)]
    assert store.query("SELECT count(*) AS n FROM source_file WHERE table_name = 'rpsr'").to_pylist() == [{"n": 2}]


def test_progress_shows_the_ingest_rate_in_reports_per_second(tmp_path: Path, faers_samples: Path) -> None:
    """Issue 17: the progress labels carry the reports loaded so far (DEMO rows) and the rate."""
    seen: list[tuple[str, int, int]] = []
    with FaersStore(tmp_path / "s.duckdb") as store:
        ingest_faers(
            [faers_samples / "faers_ascii_2017q2.zip"],
            store,
            load_products(),
            progress=lambda label, done, total: seen.append((label, done, total)),
        )
    rate = r"\((\d[\d,]*) reports, (\d[\d,]*) reports/s\)"
    assert all(re.search(rate, label) for label, _, _ in seen), seen
    last = re.search(rate, seen[-1][0])
    assert seen[-1][0].startswith("done") and last is not None
    assert int(last.group(1).replace(",", "")) == README_2017Q2["demo"]  # the 100 reports of the sample
    assert int(last.group(2).replace(",", "")) > 0
    assert seen[-1][1:] == (7, 7)
