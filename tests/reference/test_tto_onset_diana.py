"""Onset days against DiAna's ``time_to_onset`` on its cleaned FAERS sample.

DiAna (Fusaroli and Giunchi, v2.1.0; ``shared/data/faers/diana_1000_reports/sample_Ther.csv``)
stores, per THER row, ``time_to_onset`` = event_dt - start_dt + 1 (the start day counts as day 1)
when both dates are complete (YYYYMMDD); it leaves partial dates without an onset. Every THER
row with a DiAna onset and the only THER row of its drug is written as a FAERS quarter (the
2017Q2 headers), ingested, and our onset must be DiAna's minus one day; DiAna's onsets below 1
are events before the start, which we keep with the status ``event_before_start``.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from cgtvigil.screening import ingest_faers, onset_intervals
from cgtvigil.store import FaersStore, load_products

TABLES = ("DEMO", "DRUG", "REAC", "OUTC", "RPSR", "THER", "INDI")


def _diana_rows(shared: Path) -> list[dict[str, str]]:
    with (shared / "faers" / "diana_1000_reports" / "sample_Ther.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    per_drug = Counter((r["primaryid"], r["drug_seq"]) for r in rows)
    return [r for r in rows if r["time_to_onset"] and per_drug[(r["primaryid"], r["drug_seq"])] == 1]


def test_onset_days_match_diana_time_to_onset(tmp_path: Path, shared: Path, faers_samples: Path) -> None:
    rows = _diana_rows(shared)
    assert len(rows) == 498  # 502 rows with an onset, less those of drugs with several THER rows
    sample = faers_samples / "faers_2017q2"
    headers = {t: (sample / f"{t}17Q2.txt").read_text("utf-8").split("\n", 1)[0].rstrip("\r") for t in TABLES}
    width = {t: headers[t].count("$") + 1 for t in TABLES}
    lines: dict[str, list[str]] = {t: [] for t in TABLES}
    events = {}
    for r in rows:
        events.setdefault(r["primaryid"], r["event_dt"])
        assert events[r["primaryid"]] == r["event_dt"]  # DiAna's event date is the report's
        name = f"DIANA{r['drug_seq']}"
        drug = [r["primaryid"], r["primaryid"], r["drug_seq"], "PS", name, name]
        lines["DRUG"].append("$".join(drug + [""] * (width["DRUG"] - len(drug))))
        lines["THER"].append("$".join([r["primaryid"], r["primaryid"], r["drug_seq"], r["start_dt"], "", "", ""]))
    for pid, event_dt in events.items():
        demo = [pid, pid, "1", "I", event_dt, "", "20200101", "20200101", "EXP"]
        lines["DEMO"].append("$".join(demo + [""] * (width["DEMO"] - len(demo))))
        lines["REAC"].append("$".join([pid, pid, "Adverse event", ""]))
    folder = tmp_path / "faers_ascii_2020q1"
    folder.mkdir()
    for t in TABLES:
        (folder / f"{t}20Q1.txt").write_text(headers[t] + "\n" + "".join(x + "\n" for x in lines[t]), "utf-8")
    with FaersStore(tmp_path / "s.duckdb") as store:
        ingest_faers([folder], store, load_products())
        got = onset_intervals(store).table.to_pylist()
    ours = {(g["report_id"], g["drug"].upper()): g for g in got}
    assert len(ours) == len(rows)
    before = 0
    for r in rows:
        g = ours[(r["primaryid"], f"DIANA{r['drug_seq']}")]
        tto = int(r["time_to_onset"])
        if tto >= 1:
            assert (g["status"], g["precision"], g["onset_lower"], g["onset_upper"]) == ("ok", "day", tto - 1, tto - 1)
        else:
            before += 1
            assert g["status"] == "event_before_start", (r, g)
    assert before > 0  # DiAna's sample holds negative onsets (its minimum is -264 days)
