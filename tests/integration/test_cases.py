"""Case processing end to end (issue 13): seriousness and expectedness against the shipped
reference safety information, the reporting clock (15 days; 7 for a fatal or life-threatening
study case; day 0 the first receipt of the minimum criteria; a follow-up restarts it; a
submission acknowledged CA stops it, CR does not), cross-source duplicate candidates stored and
decided (audited), and the case pages and JSON API with their export buttons."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.cases import (
    Reference,
    assess_case,
    decide_match,
    find_matches,
    match_record,
    record_ack,
    record_submissions,
    reporting_clock,
    store_matches,
    submissions_by_case,
)
from cgtvigil.config import Settings
from cgtvigil.errors import NotFoundError
from cgtvigil.ingest import AckMessage, AckReport, read_e2b, read_fhir_adverse_events
from cgtvigil.model import CaseHistory, Code, Drug, IcsrCase, Patient, PrimarySource, Quantity, Reaction
from cgtvigil.reports import write_fhir_adverse_events
from cgtvigil.store import (
    AuditRow,
    CaseMatchRow,
    CaseStore,
    Scope,
    StoredReport,
    load_products,
    load_safety_info,
    load_topics,
    operational_engine,
    session_factory,
)

from .test_web import PASSWORD, cheap_argon2, login  # noqa: F401  (fixture)

TODAY = date(2026, 12, 2)
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ADMIN = Scope(actor="adm", cases=frozenset())


@pytest.fixture(scope="module")
def reference() -> Reference:
    topics = load_topics()
    return Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics)


def _case(
    rid: str = "US-1", *, drug: str = "KYMRIAH", event: str = "Alopecia", study: bool = False, **flags: bool
) -> IcsrCase:
    return IcsrCase(
        safety_report_id=rid,
        report_type=Code(code="2" if study else "1"),
        first_received="20261101",
        most_recent="20261101",
        primary_sources=(PrimarySource(),),
        patient=Patient(age=Quantity(value="40", unit="a"), sex=Code(code="1")),
        drugs=(Drug(role=Code(code="1"), name=drug),),
        reactions=(Reaction(as_reported=event, start="20261028", **flags),),
    )


def _clock(reference: Reference, *versions: IcsrCase, subs=()):  # type: ignore[no-untyped-def]
    h = CaseHistory(case_id=versions[0].case_id)
    for v in versions:
        h = h.add(v)
    return reporting_clock(h, assess_case(h.current or versions[0], reference), list(subs), TODAY)


def test_expectedness_against_the_reference_safety_information(reference: Reference) -> None:
    crs = assess_case(_case(event="Cytokine release syndrome", hospitalisation=True), reference)
    assert crs.products == ["kymriah"] and crs.reactions[0].expected is True and not crs.unexpected_serious
    assert any("BW" in s for s in crs.reactions[0].expected_by)
    other = assess_case(_case(event="Alopecia", hospitalisation=True), reference)
    assert other.reactions[0].expected is False and other.unexpected_serious
    unknown = assess_case(_case(drug="ASPIRIN", event="Cytokine release syndrome", hospitalisation=True), reference)
    assert unknown.products == [] and unknown.reactions[0].expected is None and unknown.unexpected_serious
    # severity is not seriousness: a severe, non-serious reaction needs no expedited report
    severe = _case().model_copy(update={"reactions": (Reaction(as_reported="Alopecia", severity=Code(code="severe")),)})
    a = assess_case(severe, reference)
    assert a.reactions[0].severity == "severe" and not a.serious


def test_reporting_clock(reference: Reference) -> None:
    c = _clock(reference, _case(hospitalisation=True))
    assert (c.status, c.days, c.day0, c.due, c.days_left) == ("overdue", 15, date(2026, 11, 1), date(2026, 11, 16), -16)
    assert _clock(reference, _case(study=True, death=True)).days == 7
    assert _clock(reference, _case(study=False, death=True)).days == 15  # postmarketing: 15 even if fatal
    assert _clock(reference, _case(event="Cytokine release syndrome", hospitalisation=True)).status == "not expedited"
    no_reporter = _case(hospitalisation=True).model_copy(update={"primary_sources": ()})
    assert _clock(reference, no_reporter).status == "incomplete"
    # the minimum criteria arrive with a follow-up: day 0 is that follow-up's receipt
    complete = _case(hospitalisation=True).model_copy(update={"most_recent": "20261125"})
    late = _clock(reference, no_reporter, complete)
    assert late.day0 == date(2026, 11, 1) and not late.restarted  # C.1.4 of the first valid version
    # a follow-up with new information restarts the clock at its receipt (C.1.5)
    fu = _clock(reference, _case(hospitalisation=True), complete)
    assert (fu.day0, fu.due, fu.status, fu.restarted) == (date(2026, 11, 25), date(2026, 12, 10), "due", True)
    from cgtvigil.cases import Submission

    sent = Submission(version="20261125", receiver="ZZFDA", batch_id="B", submitted_at=NOW, ack_code="CA")
    done = _clock(reference, _case(hospitalisation=True), complete, subs=[sent])
    assert done.status == "submitted" and done.on_time is True
    rejected = _clock(
        reference, _case(hospitalisation=True), complete, subs=[sent.model_copy(update={"ack_code": "CR"})]
    )
    assert rejected.status == "due" and "rejected" in rejected.reason


@pytest.fixture
def session(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = operational_engine(f"sqlite:///{tmp_path / 'op.db'}")
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def test_submissions_tied_to_acknowledgements(session: Session) -> None:
    case = _case(hospitalisation=True)
    record_submissions(session, [case], receiver="ZZFDA", batch_id="B7", actor="adm", at=NOW)
    ack = AckMessage(
        "A1",
        "B7",
        "AE",
        None,
        "ZZFDA",
        "S",
        None,
        (AckReport("US-1", "M1", "CR", "bad"), AckReport("US-9", None, "CA", None)),
    )
    n, unmatched = record_ack(session, ack, actor="adm", at=NOW)
    session.commit()
    assert (n, unmatched) == (1, ["US-9"])
    assert submissions_by_case(session)["US-1"][0].ack_code == "CR"
    assert [a.action for a in session.scalars(select(AuditRow))] == ["case.submit", "case.acknowledgement"]


def test_cross_source_duplicates_stored_and_decided(shared: Path, session: Session) -> None:
    e2b = read_e2b(shared / "e2b_r3/instances/FAERS2022Scenario1.xml").cases[0]
    # the same case as a hospital sent it in FHIR, under its own identifier: a probabilistic match
    fhir = read_fhir_adverse_events(write_fhir_adverse_events([e2b]).to_json().encode()).cases[0]
    fhir = fhir.model_copy(
        update={"safety_report_id": "HOSP-77", "other_ids": (), "patient": e2b.patient, "drugs": e2b.drugs}
    )
    # an openFDA record naming the sponsor's number (companynumb): an identifier match
    ofda = IcsrCase(safety_report_id="10001", worldwide_id="10001", other_ids=(("company", e2b.case_id),))
    unrelated = _case("US-OTHER", drug="ASPIRIN")
    records = [match_record(c, s) for c, s in ((e2b, "e2b"), (fhir, "fhir"), (ofda, "openfda"), (unrelated, "fhir"))]
    found = find_matches(records)
    got = {(m.case_a, m.case_b): m for m in found}
    assert got[(e2b.case_id, "HOSP-77")].method == "probabilistic"
    assert got[(e2b.case_id, "HOSP-77")].fields["reactions"] == "agree"
    assert got[(e2b.case_id, "10001")].method == "identifier" and got[(e2b.case_id, "10001")].score == 1.0
    assert not any("US-OTHER" in k for k in got)
    assert store_matches(session, found, actor="adm", at=NOW) == 2
    assert store_matches(session, found, actor="adm", at=NOW) == 0  # stored once; decisions kept
    row = session.scalars(select(CaseMatchRow).where(CaseMatchRow.case_b == "HOSP-77")).one()
    decide_match(session, ADMIN, row.id, "confirmed", at=NOW, note="same patient and dates")
    session.commit()
    assert row.status == "confirmed" and row.decided_by == "adm"
    assert [a.action for a in session.scalars(select(AuditRow))][-1] == "case_match.confirm"
    for missing in (row.id + 1000, 10**20):  # past the INTEGER key: not found, not a database error
        with pytest.raises(NotFoundError, match=f"no duplicate candidate {missing}"):
            decide_match(session, ADMIN, missing, "rejected", at=NOW)


def test_case_pages_api_and_exports(shared: Path, tmp_path: Path, cheap_argon2: None) -> None:  # noqa: F811
    db = tmp_path / "cases.duckdb"
    with CaseStore(db) as store:
        for f in sorted((shared / "e2b_r3/instances").glob("FAERS2022Scenario5-*.xml")):
            store.add(
                [StoredReport(r.case, "e2b", r.file, r.sha256, r.xpath, r.importer) for r in read_e2b(f).loaded], []
            )
    app = create_app(Settings(db=db, operational_url=f"sqlite:///{tmp_path / 'op.db'}", secret_key="k"))
    with app.state.sessions() as s:
        create_user(s, username="adm.user", password=PASSWORD, role="administrator", at=NOW)
        create_user(s, username="reg.user", password=PASSWORD, role="regulator_reviewer", at=NOW)
        s.commit()
    with TestClient(app) as client:
        login(client, "adm")
        page = client.get("/cases")
        assert page.status_code == 200, page.text[:500]
        assert "US-APHARMA-234545656" in page.text and "overdue" in page.text, page.text[-3000:]
        api = client.get("/api/v1/cases").json()
        assert [r["case_id"] for r in api["rows"]] == ["US-APHARMA-234545656"]
        assert api["rows"][0]["clock"]["days"] == 15
        one = client.get("/cases/US-APHARMA-234545656")
        assert one.status_code == 200 and "Versions" in one.text and "follow-up" in one.text
        detail = client.get("/api/v1/cases/US-APHARMA-234545656").json()
        assert [v["kind"] for v in detail["versions"]] == ["initial", "follow-up", "follow-up"]
        assert detail["clock"] == api["rows"][0]["clock"] and detail["clock"]["restarted"]  # list and page agree
        xml = client.get("/cases/US-APHARMA-234545656/export?format=e2b")
        assert xml.status_code == 200 and read_e2b(xml.content).cases[0].case_id == "US-APHARMA-234545656"
        bundle = client.get("/api/v1/cases/US-APHARMA-234545656/export?format=fhir-r5")
        assert json.loads(bundle.content)["entry"][0]["resource"]["status"] == "completed"
        assert client.get("/cases/NOPE").status_code == 404
        login(client, "reg")  # an E2B case from a partner, not submitted: not the regulator's
        assert client.get("/api/v1/cases").json()["rows"] == []
        assert client.get("/cases/US-APHARMA-234545656").status_code == 404
    with app.state.sessions() as s:
        actions = [a.action for a in s.scalars(select(AuditRow))]
        exports = [a.detail for a in s.scalars(select(AuditRow).where(AuditRow.action == "cases.export"))]
    assert actions.count("cases.read") == 2 and actions.count("cases.list") == 3  # every read audited
    assert [d["format"] for d in exports] == ["e2b", "fhir-r5"]  # a whole ICSR leaving is told apart
    app.state.engine.dispose()


def test_a_case_id_with_a_slash_is_reachable(tmp_path: Path, cheap_argon2: None) -> None:  # noqa: F811
    """An E2B report id is free text: one holding '/', '?', '#' and a space is listed, linked,
    shown, exported and served by the API under its own id (it was not routable: '%2F' is
    decoded before routing, so the id spanned two path segments)."""
    rid = "GB-CO 12/3?x#y"
    db = tmp_path / "cases.duckdb"
    with CaseStore(db) as store:
        store.add([StoredReport(_case(rid), "e2b", "x.xml", "0" * 64, "/", "test")], [])
    app = create_app(Settings(db=db, operational_url=f"sqlite:///{tmp_path / 'op.db'}", secret_key="k"))
    with app.state.sessions() as s:
        create_user(s, username="adm.user", password=PASSWORD, role="administrator", at=NOW)
        s.commit()
    with TestClient(app) as client:
        login(client, "adm")
        links = re.findall(r'href="(/cases/[^"]+)"', client.get("/cases").text)
        assert links == ["/cases/GB-CO%2012%2F3%3Fx%23y"], links
        page = client.get(links[0])
        assert page.status_code == 200 and html.escape(f"Case {rid}") in page.text
        assert client.get("/api/v1/cases/GB-CO%2012%2F3%3Fx%23y").json()["case"]["safety_report_id"] == rid
        xml = client.get(links[0] + "/export?format=e2b")
        assert xml.status_code == 200 and read_e2b(xml.content).cases[0].safety_report_id == rid
        fhir = client.get("/api/v1/cases/GB-CO%2012%2F3%3Fx%23y/export?format=fhir-r5")
        assert fhir.status_code == 200 and fhir.headers["content-type"].startswith("application/fhir+json")
        assert client.get("/cases/GB-CO%2012%2F4").status_code == 404
    app.state.engine.dispose()


def test_cli_clock_submit_and_acknowledgement(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ingest e2b -> cases clock (overdue) -> export e2b --submit -> cases ack (CA) -> submitted."""
    from typer.testing import CliRunner

    from cgtvigil.cli import app
    from cgtvigil.reports import AckOutcome, write_ack

    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()
    db = str(tmp_path / "c.duckdb")
    src = str(shared / "e2b_r3/instances/FAERS2022Scenario1.xml")
    assert runner.invoke(app, ["ingest", "e2b", src, "--db", db]).exit_code == 0
    before = runner.invoke(app, ["cases", "clock", "--db", db, "--today", "2026-12-02"])
    assert before.exit_code == 0 and "overdue" in before.output, before.output
    out = tmp_path / "out.xml"
    sent = runner.invoke(
        app, ["export", "e2b", "--db", db, "--out", str(out), "--sender", "S", "--batch-id", "B-1", "--submit"]
    )
    assert "Recorded 1 submission(s) to ZZFDA in batch B-1" in sent.output, sent.output
    rid = read_e2b(out).cases[0].safety_report_id
    ack = tmp_path / "ack.xml"
    ack.write_bytes(write_ack([AckOutcome(rid)], batch_id="B-1", ack_id="A-1", sender="ZZFDA", receiver="S"))
    got = runner.invoke(app, ["cases", "ack", str(ack)])
    assert got.exit_code == 0 and "1 submission(s) updated" in got.output, got.output
    after = runner.invoke(app, ["cases", "clock", "--db", db, "--status", "submitted"])
    assert after.exit_code == 0 and rid in after.output and "submitted" in after.output, after.output
    bad = runner.invoke(app, ["cases", "clock", "--db", db, "--today", "2026-13-01"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
