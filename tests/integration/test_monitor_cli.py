"""`cgtvigil monitor` commands on a real SQLite operational store (path from the environment,
as a user would set it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app

runner = CliRunner()


def test_gateway_ingest_and_alerts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    r = runner.invoke(app, ["monitor", "gateway-add", "hub-1", "--site", "site-A"])
    assert r.exit_code == 0 and "Token" in r.stdout
    assert runner.invoke(app, ["monitor", "gateway-add", "hub-1", "--site", "site-A"]).exit_code == 2
    patient = ["monitor", "patient-add", "P-7", "--site", "site-A", "--product", "kymriah", "--infusion-date"]
    assert runner.invoke(app, [*patient, datetime.now(UTC).date().isoformat()]).exit_code == 0
    now = datetime.now(UTC).replace(microsecond=0)
    qr = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": (now - timedelta(minutes=5)).isoformat(),
        "subject": {"reference": "Patient/P-7"},
        "item": [
            {"linkId": "cgt_seizure", "answer": [{"valueBoolean": True}]},
            {"linkId": "whatever", "answer": [{"valueInteger": 1}]},
        ],
    }
    f = tmp_path / "qr.json"
    f.write_text(json.dumps(qr))
    r = runner.invoke(app, ["monitor", "ingest", str(f), "--format", "epro"])
    assert r.exit_code == 0, r.output
    assert "UNKNOWN_CODE" in r.stdout and "epro_cgt_seizure (critical, open)" in r.stdout
    listing = runner.invoke(app, ["monitor", "alerts"])
    assert listing.exit_code == 0 and "P-7" in listing.stdout and "critical" in listing.stdout
    bad = runner.invoke(app, ["monitor", "ingest", str(f), "--format", "hl7v2"])
    assert bad.exit_code == 2 and "must be omh, fhir, epro, assessment or csv" in bad.output


def test_patient_add_and_plan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    today = datetime.now(UTC).date()
    r = runner.invoke(
        app,
        [
            "monitor",
            "patient-add",
            "P-21",
            "--site",
            "A",
            "--product",
            "Tecartus",
            "--infusion-date",
            (today - timedelta(days=3)).isoformat(),
            "--birth-date",
            "1950-06-01",
        ],
    )
    assert r.exit_code == 0, r.output
    plan = runner.invoke(app, ["monitor", "plan", "P-21"])
    assert plan.exit_code == 0, plan.output
    assert "tier high" in plan.stdout and "age" in plan.stdout and "day 3" in plan.stdout
    assert "daily monitoring until day 7" in plan.stdout and "temperature: every 0.5 h" in plan.stdout
    bad = runner.invoke(
        app, ["monitor", "patient-add", "John Smith", "--site", "A", "--product", "x", "--infusion-date", "2026-01-01"]
    )
    assert bad.exit_code == 2 and "2 problems" in bad.output
    assert runner.invoke(app, ["monitor", "plan", "P-99"]).exit_code == 2


def test_assessment_file_from_the_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    example = Path(__file__).resolve().parents[2] / "examples" / "monitoring" / "assessment.json"
    assert (
        runner.invoke(
            app,
            [
                "monitor",
                "patient-add",
                "P-0001",
                "--site",
                "site-A",
                "--product",
                "Yescarta",
                "--infusion-date",
                "2026-11-20",
            ],
        ).exit_code
        == 0
    )
    r = runner.invoke(app, ["monitor", "ingest", str(example), "--format", "assessment"])
    assert r.exit_code == 0, r.output
    assert "'loaded': 4" in r.stdout  # two CRS grades, one masking event, one ICANS grade
    assert (
        "crs_grade_change (high, open)" in r.stdout and "icans_grade_change (high, open)" in r.stdout
    )  # CRS 2, ICANS 1


def test_audit_anchor_and_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    runner.invoke(app, ["monitor", "gateway-add", "hub-1", "--site", "A"])
    runner.invoke(
        app, ["monitor", "patient-add", "P-1", "--site", "A", "--product", "kymriah", "--infusion-date", "2026-01-01"]
    )
    from cgtvigil.access import create_user
    from cgtvigil.store import operational_engine, session_factory

    engine = operational_engine(url)
    with session_factory(engine)() as s:
        for k in range(3):
            create_user(
                s, username=f"user{k}", password="correct horse battery", role="administrator", at=datetime.now(UTC)
            )
        s.commit()
    anchor = tmp_path / "anchor.json"
    assert runner.invoke(app, ["audit", "anchor", "--output", str(anchor)]).exit_code == 0
    ok = runner.invoke(app, ["audit", "verify", "--anchor", str(anchor)])
    assert ok.exit_code == 0 and "intact" in ok.stdout
    with create_engine(url).begin() as con:
        con.execute(text("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)"))  # cut the tail
    bad = runner.invoke(app, ["audit", "verify", "--anchor", str(anchor)])
    assert bad.exit_code == 1 and "truncated" in bad.stdout
    engine.dispose()


def test_monitor_ingest_quarantines_bad_shapes_and_times_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reliability review D9 (`monitor ingest y1.json --format omh` gave an OverflowError
    traceback) and D10 (`--format fhir` on a bundle with `entry: [1]` gave a traceback)."""
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    add = ["monitor", "patient-add", "P-0001", "--site", "site-A", "--product", "yescarta", "--infusion-date"]
    assert runner.invoke(app, [*add, "2026-11-20"]).exit_code == 0

    def point(when: str) -> dict:
        return {
            "header": {"user_id": "P-0001", "schema_id": {"name": "body-temperature", "version": "4.0"}},
            "body": {"body_temperature": {"value": 38.2, "unit": "C"}, "effective_time_frame": {"date_time": when}},
        }

    y1 = tmp_path / "y1.json"
    y1.write_text(json.dumps([point("2026-11-21T08:00:00+00:00"), point("0001-01-01T00:00:00+14:00")]))
    r = runner.invoke(app, ["monitor", "ingest", str(y1), "--format", "omh"])
    assert r.exit_code == 0 and r.exception is None, r.output
    assert "'loaded': 1" in r.stdout and "IMPLAUSIBLE_TIME" in r.stdout
    fb = tmp_path / "fb.json"
    for bundle in ({"resourceType": "Bundle", "entry": [1]}, [[1]], "abc"):
        fb.write_text(json.dumps(bundle))
        r = runner.invoke(app, ["monitor", "ingest", str(fb), "--format", "fhir"])
        assert r.exit_code == 0 and r.exception is None and "INVALID" in r.stdout, r.output
    fb.write_text("[" * 100_000)
    deep = runner.invoke(app, ["monitor", "ingest", str(fb), "--format", "fhir"])
    assert deep.exit_code == 2 and "nested too deeply" in deep.output


def test_patient_add_on_an_existing_patient(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reliability review D23 (§1.3 row 3.25): `patient-add P-0001 --site site-B --product
    Kymriah` on a site-A patient exited 0, kept site-A, added a second treatment and audited
    site-B. Now it is refused; the same command again changes and audits nothing."""
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    first = ["monitor", "patient-add", "P-0001", "--site", "site-A", "--product", "Yescarta"]
    assert runner.invoke(app, [*first, "--infusion-date", "2026-11-20"]).exit_code == 0
    moved = runner.invoke(
        app,
        [
            "monitor",
            "patient-add",
            "P-0001",
            "--site",
            "site-B",
            "--product",
            "Kymriah",
            "--infusion-date",
            "2026-11-20",
        ],
    )
    assert moved.exit_code == 2 and "registered at site 'site-A', not 'site-B'" in moved.output
    same = runner.invoke(app, [*first, "--infusion-date", "2026-11-20"])
    assert same.exit_code == 0 and "nothing changed" in same.stdout
    later = runner.invoke(app, [*first, "--infusion-date", "2026-12-01"])
    assert later.exit_code == 0 and "added a treatment yescarta, day 0 = 2026-12-01" in later.stdout
    with create_engine(url).connect() as con:
        audit = con.execute(text("SELECT action, detail FROM audit_log WHERE target = 'patient:P-0001'")).all()
        treatments = con.execute(text("SELECT count(*) FROM treatment")).scalar_one()
    assert [a for a, _ in audit] == ["patient.create", "patient.update"] and treatments == 2
    assert json.loads(audit[1][1]) == {
        "patient_created": False,
        "treatment": {"product": "yescarta", "infusion_date": "2026-12-01", "lot": None},
    }


def test_serve_is_the_top_level_command() -> None:
    """Issue 8 §3: the web application (pages and the gateway API) starts with `cgtvigil serve`;
    `monitor serve` is a hidden alias of it."""
    r = runner.invoke(app, ["serve", "--help"])
    assert r.exit_code == 0 and "--workers" in r.stdout and "device-gateway" in r.stdout
    listed = runner.invoke(app, ["monitor", "--help"]).stdout.splitlines()
    assert not any(line.strip("│ ").startswith("serve ") for line in listed)  # hidden
    assert runner.invoke(app, ["monitor", "serve", "--help"]).exit_code == 0


def test_monitor_ingest_reads_a_long_list_in_committed_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reliability review D4 via the CLI: a long OMH list (the review's 6,000,000 integers) is
    read, stored and committed CGTVIGIL_MAX_BATCH_ELEMENTS points at a time, so memory stays
    bounded; locations keep the index in the file and the totals add up."""
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    monkeypatch.setenv("CGTVIGIL_MAX_BATCH_ELEMENTS", "3")
    add = ["monitor", "patient-add", "P-0001", "--site", "site-A", "--product", "yescarta", "--infusion-date"]
    assert runner.invoke(app, [*add, "2026-11-20"]).exit_code == 0
    points = [
        {
            "header": {"user_id": "P-0001", "schema_id": {"name": "heart-rate", "version": "2.0"}},
            "body": {
                "heart_rate": {"value": 80 + m, "unit": "beats/min"},
                "effective_time_frame": {"date_time": f"2026-11-21T08:{m:02d}:00Z"},
            },
        }
        for m in range(7)
    ]
    points[5] = 5  # type: ignore[call-overload]
    f = tmp_path / "long.json"
    f.write_text(json.dumps(points))
    r = runner.invoke(app, ["monitor", "ingest", str(f), "--format", "omh"])
    assert r.exit_code == 0, r.output
    assert "'loaded': 6" in r.stdout and "'quarantined': 1" in r.stdout and "long.json[5]:" in r.stdout
    with create_engine(url).connect() as con:
        slices = con.execute(text("SELECT count(*) FROM audit_log WHERE action = 'observations.ingest'")).scalar_one()
    assert slices == 3
    again = runner.invoke(app, ["monitor", "ingest", str(f), "--format", "omh"])
    assert "'loaded': 0" in again.stdout and "'duplicates': 6" in again.stdout
