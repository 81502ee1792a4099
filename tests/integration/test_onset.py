"""Time to onset from a FAERS store: real 2017Q2 sample, and a built CAR-T quarter with planted onsets.

The built quarter uses the real 2017Q2 headers; its onsets are planted with known dates, so the
expected intervals are computed here with Python's ``datetime`` (an independent date arithmetic).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from cgtvigil.errors import StaleStoreError, ValidationError
from cgtvigil.screening import (
    ONSET_STATUSES,
    class_onset_comparison,
    ingest_faers,
    onset_intervals,
    onset_summary,
)
from cgtvigil.store import FaersStore, load_products

HEADERS = ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI")
PRODUCTS = {"kymriah": ("KYMRIAH", "TISAGENLECLEUCEL"), "yescarta": ("YESCARTA", "AXICABTAGENE CILOLEUCEL"),
            "carvykti": ("CARVYKTI", "CILTACABTAGENE AUTOLEUCEL")}  # fmt: skip


def _write_quarter(folder: Path, sample: Path, reports: list[dict[str, str]]) -> None:
    folder.mkdir(parents=True)
    headers = {t: (sample / f"{t}17Q2.txt").read_text("utf-8").split("\n", 1)[0].rstrip("\r") for t in HEADERS}
    width = {t: headers[t].count("$") + 1 for t in HEADERS}
    lines: dict[str, list[str]] = {t: [] for t in HEADERS}
    for r in reports:
        pid, cid = r["pid"], r["pid"][:-1]
        demo = [pid, cid, "1", "I", r["event_dt"], "", "20240105", "20240110", "EXP"] + [""] * 7 + ["F"]
        lines["DEMO"].append("$".join(demo + [""] * (width["DEMO"] - len(demo))))
        name, ai = PRODUCTS[r["product"]]
        drug = [pid, cid, "1", "PS", name, ai]
        lines["DRUG"].append("$".join(drug + [""] * (width["DRUG"] - len(drug))))
        lines["REAC"].append("$".join([pid, cid, r["pt"], ""]))
        if r["start_dt"] is not None:
            lines["THER"].append("$".join([pid, cid, "1", r["start_dt"], "", "", ""]))
    for t in HEADERS:
        body = "".join(line + "\n" for line in lines[t])
        (folder / f"{t}24Q1.txt").write_text(headers[t] + "\n" + body, "utf-8")


def _ymd(d: dt.date) -> str:
    return d.strftime("%Y%m%d")


def _planted() -> list[dict[str, str]]:
    """Kymriah CRS early (Weibull shape 0.6), Yescarta CRS late (shape 3), Carvykti
    parkinsonism late, plus one report of each failure status."""
    rng = np.random.default_rng(14)
    start = dt.date(2023, 3, 1)
    out: list[dict[str, str]] = []
    pid = 1000

    def add(product: str, pt: str, event: str, start_dt: str | None) -> None:
        nonlocal pid
        pid += 10
        out.append({"pid": f"{pid}1", "product": product, "pt": pt, "event_dt": event, "start_dt": start_dt})

    for product, shape, scale, n in (("kymriah", 0.6, 6.0, 40), ("yescarta", 3.0, 12.0, 40)):
        for x in rng.weibull(shape, n) * scale:
            add(product, "Cytokine release syndrome", _ymd(start + dt.timedelta(days=int(x))), _ymd(start))
    for x in rng.weibull(2.5, 12) * 120:
        event = start + dt.timedelta(days=int(x))
        add("carvykti", "Parkinsonism", event.strftime("%Y%m"), _ymd(start))  # month precision
    add("carvykti", "Parkinsonism", "2024", "202303")  # year and month precision
    add("kymriah", "Neurotoxicity", "", _ymd(start))  # no event date
    add("kymriah", "Neurotoxicity", "20230310", None)  # no THER row
    add("kymriah", "Neurotoxicity", "20231341", _ymd(start))  # month 13: bad event date
    add("kymriah", "Neurotoxicity", "20230310", "2023AB")  # bad start date
    add("kymriah", "Neurotoxicity", "20230110", _ymd(start))  # event before start
    return out


@pytest.fixture(scope="module")
def cart_store(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> tuple[Path, list[dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("onset")
    reports = _planted()
    _write_quarter(tmp / "faers_ascii_2024q1", faers_samples / "faers_2017q2", reports)
    with FaersStore(tmp / "s.duckdb") as store:
        ingest_faers([tmp / "faers_ascii_2024q1"], store, load_products())
    return tmp / "s.duckdb", reports


def _expected_interval(start: str, event: str) -> tuple[float, float]:
    def bounds(s: str) -> tuple[dt.date, dt.date]:
        if len(s) == 8:
            d = dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
            return d, d
        if len(s) == 6:
            first = dt.date(int(s[:4]), int(s[4:]), 1)
            nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return first, nxt - dt.timedelta(days=1)
        return dt.date(int(s), 1, 1), dt.date(int(s), 12, 31)

    s0, s1 = bounds(start)
    e0, e1 = bounds(event)
    return float(max((e0 - s1).days, 0)), float((e1 - s0).days)


def test_planted_onsets_are_read_back_exactly(cart_store: tuple[Path, list[dict[str, str]]]) -> None:
    path, reports = cart_store
    with FaersStore(path, read_only=True) as store:
        got = onset_intervals(store)
    rows = {r["report_id"]: r for r in got.table.to_pylist()}
    assert len(rows) == len(reports) == got.attrition["pairs"]
    assert sum(got.attrition[s] for s in ONSET_STATUSES) == got.attrition["pairs"]  # counts reconcile
    assert got.attrition == {"ok": 93, "no_start_date": 1, "no_event_date": 1, "bad_start_date": 1,
                             "bad_event_date": 1, "event_before_start": 1, "pairs": 98}  # fmt: skip
    for r in reports:
        row = rows[r["pid"]]
        if row["status"] == "ok":
            assert (row["onset_lower"], row["onset_upper"]) == _expected_interval(r["start_dt"], r["event_dt"])
    year_row = next(r for r in got.table.to_pylist() if r["event_dt"] == "2024")
    # start 202303 is 1-31 March 2023, event 2024 is the whole of 2024: 2024-01-01 - 2023-03-31 = 276 days,
    # 2024-12-31 - 2023-03-01 = 671 days
    assert (year_row["precision"], year_row["onset_lower"], year_row["onset_upper"]) == ("year", 276.0, 671.0)


def test_onset_summary_reads_the_planted_hazards(cart_store: tuple[Path, list[dict[str, str]]]) -> None:
    path, _ = cart_store
    with FaersStore(path, read_only=True) as store:
        summary = onset_summary(onset_intervals(store, events=["cytokine release syndrome"]))
    by_drug = {r["drug"]: r for r in summary.to_pylist()}
    assert set(by_drug) == {"Kymriah", "Yescarta"}, by_drug
    assert by_drug["Kymriah"]["hazard"] == "early"
    assert by_drug["Yescarta"]["hazard"] == "late"
    assert by_drug["Yescarta"]["shape_lower"] > 1.5


def test_too_few_onsets_get_a_note_not_a_fit(cart_store: tuple[Path, list[dict[str, str]]]) -> None:
    path, _ = cart_store
    with FaersStore(path, read_only=True) as store:
        summary = onset_summary(onset_intervals(store, drugs=["kymriah"], events=["Neurotoxicity"]))
    (row,) = summary.to_pylist()
    assert (row["pairs"], row["onsets"], row["shape"], row["note"]) == (5, 0, None, "fewer than 3 usable onsets")


def test_class_comparison_separates_the_cd19_products(cart_store: tuple[Path, list[dict[str, str]]]) -> None:
    path, _ = cart_store
    with FaersStore(path, read_only=True) as store:
        intervals = onset_intervals(store)
    comparison, counts = class_onset_comparison(intervals, load_products(), "CD19 CAR-T", "Cytokine release syndrome")
    assert counts["Kymriah"] == 40 and counts["Yescarta"] == 40 and counts["Breyanzi"] == 0
    assert comparison.groups == ("Kymriah", "Yescarta") and comparison.p_value < 1e-6
    with pytest.raises(ValidationError, match="2 or more products"):
        class_onset_comparison(intervals, load_products(), "BCMA CAR-T", "Parkinsonism")
    with pytest.raises(ValidationError, match="'product_class'"):
        class_onset_comparison(intervals, load_products(), "CD20 CAR-T", "Parkinsonism")


def test_real_2017q2_sample(tmp_path: Path, faers_samples: Path) -> None:
    """FAERS 2017Q2 sample: report 115630624 (DEMO line 4, event_dt 201507; THER start_dt
    20150327 for XELJANZ, drug_seq 1) has the month-precision onset [96, 126] days."""
    with FaersStore(tmp_path / "s.duckdb") as store:
        ingest_faers([faers_samples / "faers_2017q2"], store, load_products())
        got = onset_intervals(store)
    assert sum(got.attrition[s] for s in ONSET_STATUSES) == got.attrition["pairs"] == got.table.num_rows
    xeljanz = [r for r in got.table.to_pylist() if r["report_id"] == "115630624"]
    assert {r["event"] for r in xeljanz} == {"LUNG INFECTION", "SKIN CANCER"}
    assert {(r["precision"], r["onset_lower"], r["onset_upper"], r["start_dt"]) for r in xeljanz} == {
        ("month", 96.0, 126.0, "20150327")
    }
    assert got.attrition["ok"] > 0 and got.attrition["no_start_date"] > 0


def test_real_legacy_2004q1_sample(tmp_path: Path, faers_samples: Path) -> None:
    """Legacy AERS 2004Q1 sample: ISR 4263742 (DEMO04Q1.TXT line 2, event_dt 20031115; THER04Q1.TXT
    lines 2-5, start_dt 20031115 for each of its four suspect drugs): onset 0 days, to the day."""
    with FaersStore(tmp_path / "s.duckdb") as store:
        ingest_faers([faers_samples / "aers_2004q1"], store, load_products())
        got = onset_intervals(store)
    assert sum(got.attrition[s] for s in ONSET_STATUSES) == got.attrition["pairs"] == got.table.num_rows
    rows = [r for r in got.table.to_pylist() if r["report_id"] == "L4263742"]
    assert len({r["drug"] for r in rows}) == 4
    assert {(r["status"], r["precision"], r["onset_lower"], r["onset_upper"]) for r in rows} == {
        ("ok", "day", 0.0, 0.0)
    }


def test_a_store_without_its_case_view_is_refused(tmp_path: Path) -> None:
    with FaersStore(tmp_path / "empty.duckdb") as store, pytest.raises(StaleStoreError):
        onset_intervals(store)


def test_cli_onset_table_class_comparison_and_chart(
    cart_store: tuple[Path, list[dict[str, str]]], tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from cgtvigil.cli import app

    path, _ = cart_store
    r = CliRunner().invoke(
        app,
        ["onset", "--db", str(path), "--event", "Cytokine release syndrome", "--class", "CD19 CAR-T",
         "--plot", str(tmp_path / "onset.json"), "--csv", str(tmp_path / "onset.csv")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    text = " ".join(r.stdout.split())
    assert "80 (report, product, PT) pairs: 80 with an onset" in text
    assert "early" in text and "late" in text and "LR test of one onset distribution across Kymriah, Yescarta" in text
    chart = json.loads((tmp_path / "onset.json").read_text("utf-8"))
    assert {p["pair"] for p in chart["vconcat"][1]["data"]["values"]} == {
        "Kymriah / CYTOKINE RELEASE SYNDROME", "Yescarta / CYTOKINE RELEASE SYNDROME"}  # fmt: skip
    assert (tmp_path / "onset.csv").read_text("utf-8").count("\n") == 81
    bad = CliRunner().invoke(app, ["onset", "--db", str(path), "--class", "CD19 CAR-T"])
    assert bad.exit_code == 2 and "exactly one '--event'" in bad.output
