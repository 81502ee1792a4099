"""Periodic reports through the pages and the JSON API (TestClient), on a real analytic store
(SYNTHETIC FAERS quarters from `cgtvigil synth faers`): a sponsor's safety scientist generates a
PBRER for their product (stored with its spec and inputs; the same request again answers the
same stored document, byte for byte), downloads its HTML and PDF, and shares it with one
regulator reviewer; another sponsor and the other reviewer do not see it; a sponsor may not
generate for another sponsor's product; a dossier of a signal through the JSON API; every
generation and download is in the audit trail, and the trail and seals verify."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from cgtvigil.access import create_user, scope_for
from cgtvigil.api import create_app
from cgtvigil.audit import verify_audit
from cgtvigil.cli import app as cli
from cgtvigil.config import Settings
from cgtvigil.signal_management import SignalDraft, create_signal, load_timelines
from cgtvigil.store import AuditRow, UserRow

from .test_web import PASSWORD, _csrf, cheap_argon2, login  # noqa: F401  (fixture)

USERS = {
    "sci": ("safety_scientist", {"sponsor_products": ("kymriah",)}),
    "yes": ("safety_scientist", {"sponsor_products": ("yescarta",)}),
    "reg": ("regulator_reviewer", {}),
    "reg2": ("regulator_reviewer", {}),
    "adm": ("administrator", {}),
}
PBRER = {"kind": "pbrer", "product": "kymriah", "interval_start": "2024-04-01", "data_lock_point": "2024-06-30"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("reports-web")
    runner = CliRunner()
    r = runner.invoke(
        cli, ["synth", "faers", str(tmp / "zips"), "--reports-per-quarter", "400", "--quarters", "2024Q1,2024Q2"]
    )
    assert r.exit_code == 0, r.output
    db = tmp / "analytic.duckdb"
    r = runner.invoke(cli, ["ingest", "faers", *map(str, sorted((tmp / "zips").glob("*.zip"))), "--db", str(db)])
    assert r.exit_code == 0, r.output
    return db


@pytest.fixture
def client(store: Path, operational_url: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    request.getfixturevalue("cheap_argon2")
    app = create_app(
        Settings(db=store, screen_result=tmp_path / "none.parquet", operational_url=operational_url, secret_key="k")
    )
    with app.state.sessions() as s:
        for name, (role, extra) in USERS.items():
            create_user(s, username=f"{name}.user", password=PASSWORD, role=role, at=datetime.now(UTC), **extra)  # type: ignore[arg-type]
        s.commit()
        scope = scope_for(s.get(UserRow, "sci.user"))  # type: ignore[arg-type]
        draft = SignalDraft(
            title="CRS cluster",
            product_id="kymriah",
            event_type="topic",
            event="crs",
            source_kind="case_series",
            source_ref="test",
        )
        create_signal(s, scope, draft, at=datetime(2024, 5, 2, tzinfo=UTC), timelines=load_timelines())
        s.commit()
    with TestClient(app) as c:
        c.app_state = app.state  # type: ignore[attr-defined]
        yield c
    app.state.engine.dispose()


def _post(client: TestClient, path: str, page: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf": _csrf(client.get(page).text), **form}, follow_redirects=False)


def test_generate_list_download_and_share(client: TestClient) -> None:
    login(client, "reg")
    page = client.get("/reports")
    assert page.status_code == 200 and 'action="/reports"' not in page.text  # a reviewer generates nothing
    login(client, "sci")
    page = client.get("/reports").text
    assert 'id="generate"' in page and "Kymriah" in page and "Yescarta" not in page  # own products only
    made = _post(client, "/reports", "/reports", **PBRER, pdf="1")
    assert (made.status_code, made.headers["location"]) == (303, "/reports/1"), made.text
    detail = client.get("/reports/1").text
    assert "faers-store" in detail and "risk-register" in detail and "signal workflow" in detail
    html = client.get("/reports/1/download?format=html")
    assert html.status_code == 200 and html.headers["content-disposition"].endswith('.html"')
    assert hashlib.sha256(html.content).hexdigest() == html.headers["x-content-sha256"]
    assert "CRS cluster" in html.text and "Detection" in html.text  # the signal table at the lock
    pdf = client.get("/reports/1/download?format=pdf")
    assert (
        pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
    )
    # the same spec and inputs: the same stored document, nothing new stored
    again = _post(client, "/reports", "/reports", **PBRER, pdf="1")
    assert again.headers["location"] == "/reports/1"
    assert client.get("/reports/1/download?format=html").content == html.content
    # another sponsor's product: refused; a bad interval: the form again with the reason
    assert _post(client, "/reports", "/reports", **(PBRER | {"product": "yescarta"})).status_code == 403
    bad = _post(client, "/reports", "/reports", **(PBRER | {"interval_start": "2024-07-01"}))
    assert bad.status_code == 400 and "after the data lock point" in bad.text and 'value="2024-07-01"' in bad.text

    login(client, "yes")
    assert client.get("/reports/1").status_code == 404  # another sponsor: as if it did not exist
    assert client.get("/reports/1/download?format=pdf").status_code == 404
    assert client.get("/api/v1/reports").json() == []
    login(client, "reg")
    assert client.get("/reports/1").status_code == 404  # not shared yet
    login(client, "sci")
    assert _post(client, "/reports/1/share", "/reports/1", reviewer="reg.user").status_code == 303
    assert "Stop sharing" in client.get("/reports/1").text
    login(client, "reg")
    assert client.get("/reports/1").status_code == 200 and "Stop sharing" not in client.get("/reports/1").text
    assert [r["id"] for r in client.get("/api/v1/reports").json()] == [1]
    assert client.get("/api/v1/reports/1/document?format=html").content == html.content
    login(client, "reg2")
    assert client.get("/api/v1/reports/1").status_code == 404

    # the JSON API: a dossier of the signal, a write with the page's CSRF token in the header
    login(client, "sci")
    token = _csrf(client.get("/reports").text)
    body = {"kind": "dossier", "signal": 1, "data_lock_point": "2024-06-30", "pdf": False}
    dossier = client.post("/api/v1/reports", json=body, headers={"X-CSRF-Token": token})
    assert dossier.status_code == 201, dossier.text
    found = dossier.json()
    assert found["kind"] == "dossier" and found["products"] == ["kymriah"] and found["pdf_sha256"] == ""
    assert found["spec"]["signal"] == 1 and {i["kind"] for i in found["inputs"]} >= {"faers-store", "signals"}
    assert client.get(f"/api/v1/reports/{found['id']}/document?format=pdf").status_code == 404  # none made
    text = client.get(f"/api/v1/reports/{found['id']}/document?format=html").text
    assert "CRS cluster" in text
    # asked again with the PDF: a document with it is stored once, then answered
    with_pdf = client.post("/api/v1/reports", json=body | {"pdf": True}, headers={"X-CSRF-Token": token}).json()
    assert with_pdf["id"] != found["id"] and with_pdf["pdf_sha256"] and with_pdf["html_sha256"] == found["html_sha256"]
    same = client.post("/api/v1/reports", json=body | {"pdf": True}, headers={"X-CSRF-Token": token}).json()
    assert (same["id"], same["reused"]) == (with_pdf["id"], True)
    missing = client.post("/api/v1/reports", json=body | {"signal": None}, headers={"X-CSRF-Token": token})
    assert missing.status_code == 422 and "needs a signal" in missing.text

    with client.app_state.sessions() as s:  # type: ignore[attr-defined]
        actions = [(a.action, a.actor, a.detail.get("format")) for a in s.scalars(select(AuditRow))]
        generated = [a for a in actions if a[0] == "report.generate"]
        downloads = [a for a in actions if a[0] == "report.download"]
        assert len(generated) == 5  # PBRER, the same again (reused), the dossier, with its PDF, again
        assert ("report.download", "reg.user", "html") in downloads and (
            "report.download",
            "sci.user",
            "pdf",
        ) in downloads
        assert ("report.share", "sci.user", None) in actions
        reused = [a.detail["reused"] for a in s.scalars(select(AuditRow).where(AuditRow.action == "report.generate"))]
        assert reused == [False, True, False, False, True]
        assert verify_audit(s).ok
        # a stored document edited with SQL: the seal says so, and the download refuses it
        from sqlalchemy import text as sql

        s.execute(sql("UPDATE periodic_report SET html = replace(html, 'CRS cluster', 'nothing') WHERE id = 1"))
        s.commit()
        report = verify_audit(s)
        assert not report.ok and any(p.startswith("periodic_report 1:") for p in report.problems)
    login(client, "sci")
    assert client.get("/reports/1/download?format=html").status_code == 400
    assert re.search(r"does not match its digest", client.get("/reports/1/download?format=html").text)


def test_out_of_range_ids_and_the_last_day_are_answered_not_a_server_error(client: TestClient) -> None:
    """Review (session 4): a report or signal id past the database's integer (PostgreSQL: integer
    out of range) and a data lock point on the last day a date can name (no day after it) were
    answered with a 500."""
    login(client, "sci")
    huge = "99999999999999999999"
    for path in (f"/reports/{huge}", f"/api/v1/reports/{huge}", "/reports/3000000000/download?format=html"):
        assert client.get(path).status_code == 404, path
    assert _post(client, f"/reports/{huge}/share", "/reports", reviewer="reg.user").status_code == 404
    token = _csrf(client.get("/reports").text)
    dossier = {"kind": "dossier", "signal": 3_000_000_000, "data_lock_point": "2024-06-30"}
    assert client.post("/api/v1/reports", json=dossier, headers={"X-CSRF-Token": token}).status_code == 404
    last = _post(client, "/reports", "/reports", **(PBRER | {"data_lock_point": "9999-12-31"}))
    assert last.status_code == 303, last.text[-300:]


def test_a_product_name_is_bounded(client: TestClient) -> None:
    """Review (session 4): each product name of a request was unbounded (50 of them up to the body
    limit), and an unknown one was echoed whole into the page's problems."""
    login(client, "sci")
    token = _csrf(client.get("/reports").text)
    body = {
        "kind": "pbrer",
        "products": ["x" * 10_000],
        "interval_start": "2024-04-01",
        "data_lock_point": "2024-06-30",
    }
    r = client.post("/api/v1/reports", json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 422 and "at most 128 characters" in r.text
    page = _post(client, "/reports", "/reports", **(PBRER | {"product": "x" * 10_000}))
    assert page.status_code == 400 and "at most 128 characters" in page.text
