"""E2B(R3) exchange end to end: the CLI loads FDA's examples into a DuckDB store, writes
acknowledgements that validate, exports a batch that validates; versions of a case follow the
follow-up / amendment / nullification rules; acknowledgements are read back."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.ingest import read_ack, read_e2b
from cgtvigil.model import CaseHistory, Code
from cgtvigil.reports import AckOutcome, validate_e2b, write_ack
from cgtvigil.store import CaseStore, StoredReport

runner = CliRunner()


def test_cli_ingest_export_and_acks(shared: Path, tmp_path: Path) -> None:
    files = sorted(str(p) for p in (shared / "e2b_r3/instances").glob("FAERS2022Scenario*.xml"))
    db, report, acks = tmp_path / "s.duckdb", tmp_path / "r.json", tmp_path / "acks"
    res = runner.invoke(
        app, ["ingest", "e2b", *files, "--db", str(db), "--report-json", str(report), "--ack-dir", str(acks)]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(report.read_text())["files"]
    assert sum(r["read"] for r in rows) == sum(r["loaded"] for r in rows) == 9
    for ack_file in acks.iterdir():
        xml = ack_file.read_bytes()
        assert validate_e2b(xml, shared / "e2b_r3/schemas", ack=True) == []
        ack = read_ack(xml)
        assert ack.code == "AA" and [r.code for r in ack.reports] == ["CA"]
    again = runner.invoke(app, ["ingest", "e2b", files[0], "--db", str(db)])
    assert again.exit_code == 0
    with CaseStore(db, read_only=True) as store:
        assert sum(store.counts().get(k, 0) for k in ("current", "superseded", "nullified")) == 9  # re-run: no-op
    out = tmp_path / "out.xml"
    res = runner.invoke(
        app,
        [
            "export",
            "e2b",
            "--db",
            str(db),
            "--out",
            str(out),
            "--sender",
            "4567AB89012",
            "--receiver",
            "ZZFDA_PREMKT",
            "--case",
            "US-APHARMA-8744554B",
            "--schemas",
            str(shared / "e2b_r3/schemas"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert validate_e2b(out.read_bytes(), shared / "e2b_r3/schemas") == []
    assert [c.case_id for c in read_e2b(out).cases] == ["US-APHARMA-8744554B"]


def test_a_refused_file_gets_an_ar_ack_and_exit_1(tmp_path: Path, shared: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b'<!DOCTYPE x [<!ENTITY e "e">]><MCCI_IN200100UV01 xmlns="urn:hl7-org:v3"/>')
    res = runner.invoke(
        app, ["ingest", "e2b", str(bad), "--db", str(tmp_path / "s.duckdb"), "--ack-dir", str(tmp_path / "acks")]
    )
    assert res.exit_code == 1 and "XML_DTD_REFUSED" in res.output
    ack = (tmp_path / "acks/bad.ack.xml").read_bytes()
    assert validate_e2b(ack, shared / "e2b_r3/schemas", ack=True) == []
    assert read_ack(ack).code == "AR"


def test_ingest_lists_fda_rule_findings(shared: Path, tmp_path: Path) -> None:
    from lxml import etree

    ns = "{urn:hl7-org:v3}"
    root = etree.parse(str(shared / "e2b_r3/instances/FAERS2022Scenario1.xml")).getroot()
    root.find(f"{ns}receiver/{ns}device/{ns}id").set("extension", "ZZFDA_PREMKT")  # postmarket report, premarket route
    path, report = tmp_path / "routed.xml", tmp_path / "r.json"
    path.write_bytes(etree.tostring(root))
    res = runner.invoke(
        app,
        ["ingest", "e2b", str(path), "--db", str(tmp_path / "s.duckdb"), "--fda-rules", "--report-json", str(report)],
    )
    assert res.exit_code == 0, res.output
    found = {f["rule_id"] for f in json.loads(report.read_text())["files"][0]["fda_rules"]}
    assert {"R0004", "R0007"} <= found  # CDER belongs to ZZFDA; ZZFDA_PREMKT needs an IND receiver


def test_negative_fda_ack_is_read(shared: Path) -> None:
    ack = read_ack(shared / "e2b_r3/instances/R3ack-negative.ack")
    assert (ack.code, ack.batch_id) == ("AE", "FAERS2022Scenario2-4069-a2dd-08002b30309d")
    assert [(r.safety_report_id, r.code) for r in ack.reports] == [("US-APHARMA-7644554", "CR")]
    assert ack.reports[0].detail is not None and "FDA.C.1.7.1" in ack.reports[0].detail
    pos = read_ack(shared / "e2b_r3/instances/R3ack-positive.ack")
    assert pos.code == "AA" and all(r.code == "CA" for r in pos.reports)


def test_ack_ae_with_per_report_codes(shared: Path) -> None:
    xml = write_ack(
        [AckOutcome("US-X-1"), AckOutcome("US-X-2", ["R0021: no primary source"])],
        batch_id="B1",
        ack_id="A1",
        sender="CGTVIGIL",
        receiver="PARTNER",
    )
    assert validate_e2b(xml, shared / "e2b_r3/schemas", ack=True) == []
    ack = read_ack(xml)
    assert ack.code == "AE" and [(r.safety_report_id, r.code) for r in ack.reports] == [
        ("US-X-1", "CA"),
        ("US-X-2", "CR"),
    ]


def test_versions_follow_up_amendment_nullification(shared: Path, tmp_path: Path) -> None:
    base = read_e2b(shared / "e2b_r3/instances/FAERS2022Scenario1.xml").loaded[0]
    v1 = base.case
    v2 = v1.model_copy(update={"most_recent": "20220701", "narrative": "follow-up"})
    v3 = v1.model_copy(
        update={"most_recent": "20220801", "nullification": Code(code="2", system="x"), "nullification_reason": "typo"}
    )
    v4 = v1.model_copy(update={"most_recent": "20220901", "nullification": Code(code="1", system="x")})
    h = CaseHistory(case_id=v1.case_id).add(v3).add(v1).add(v2)  # arrival order does not matter
    assert [v.kind for v in h.versions] == ["initial", "follow-up", "amendment"]
    assert [v.status for v in h.versions] == ["superseded", "superseded", "current"] and h.current == v3
    h = h.add(v4)
    assert h.nullified and all(v.status == "nullified" for v in h.versions) and len(h.versions) == 4
    with CaseStore(tmp_path / "s.duckdb") as store:
        for i, c in enumerate((v1, v2, v4)):
            store.add([StoredReport(c, "e2b", "f", f"sha{i}", "/x", "t")], [])
        assert store.current_cases() == [] and store.counts()["nullified"] == 3


def test_partial_batch_loads_the_good_report_and_acks_ae(shared: Path, tmp_path: Path) -> None:
    from lxml import etree

    ns = "{urn:hl7-org:v3}"
    root = etree.parse(str(shared / "e2b_r3/instances/FAERS2022Scenario1.xml")).getroot()
    msg = root.find(ns + "PORR_IN049016UV")
    bad = etree.fromstring(etree.tostring(msg))
    ie = bad.find(f"{ns}controlActProcess/{ns}subject/{ns}investigationEvent")
    ie.find(ns + "availabilityTime").set("value", "yesterday")
    msg.addnext(bad)
    path = tmp_path / "partial.xml"
    path.write_bytes(etree.tostring(root))
    db, report = tmp_path / "s.duckdb", tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "ingest",
            "e2b",
            str(path),
            "--db",
            str(db),
            "--report-json",
            str(report),
            "--ack-dir",
            str(tmp_path / "acks"),
        ],
    )
    assert res.exit_code == 0, res.output
    row = json.loads(report.read_text())["files"][0]
    assert (row["read"], row["loaded"], row["quarantined"], row["status"]) == (2, 1, 1, "partial")
    assert row["quarantine"][0]["reason"] == "INVALID_VALUE" and row["quarantine"][0]["xpath"] == "/*/*[7]"
    ack = read_ack(tmp_path / "acks/partial.ack.xml")
    assert ack.code == "AE" and sorted(r.code for r in ack.reports) == ["CA", "CR"]
    assert "INVALID_VALUE" in (next(r for r in ack.reports if r.code == "CR").detail or "")
    with CaseStore(db, read_only=True) as store:
        assert store.counts()["quarantined"] == 1
