"""The genotoxicity page and JSON API on the real SCID-X1 sites: pP7 registered at site A shows
its CCND2 clone (11.6 % of T cells at 155 months) in the clonal-abundance chart, the expansion
table and its high alert; a site-B investigator gets 404; every read is audited."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.genotox import read_long_sites, read_vector, store_sites, store_vector
from cgtvigil.monitoring import register_patient
from cgtvigil.store import AuditRow, load_products, load_watchlist

PASSWORD = "correct horse battery staple"


@pytest.fixture
def client(operational_url: str, shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from cgtvigil.access import _passwords

    monkeypatch.setattr(_passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _passwords._dummy_hash.cache_clear()
    app = create_app(Settings(db=tmp_path / "none.duckdb", operational_url=operational_url, secret_key="test-key"))
    now = datetime.now(UTC)
    vcn = tmp_path / "vcn.csv"
    vcn.write_text("patient,kind,months,value,unit\npP7,vcn,12,0.9,copies/cell\npP7,vcn,155,0.4,copies/cell\n")
    with app.state.sessions() as s:
        register_patient(s, load_products(), patient="pP7", site="A", product="skysona", infusion_date=date(2010, 1, 1))
        create_user(s, username="inv.user", password=PASSWORD, role="site_investigator", at=now, site="A")
        register_patient(
            s, load_products(), patient="P-B1", site="B", product="kymriah", infusion_date=date(2026, 1, 1)
        )
        create_user(s, username="invb.user", password=PASSWORD, role="site_investigator", at=now, site="B")
        create_user(s, username="pat7.user", password=PASSWORD, role="patient", at=now, patient_id="pP7")
        batch = read_long_sites(shared / "genotoxicity" / "clarke2018_scidx1_intsites.csv", genome="hg38")
        store_sites(s, batch, now, watchlist=load_watchlist("hg38")[1])
        store_vector(s, read_vector(vcn), now)
        s.commit()
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()
    _passwords._dummy_hash.cache_clear()


def _login(client: TestClient, name: str) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303


def test_page_api_scope_and_audit(client: TestClient) -> None:
    _login(client, "inv.user")
    page = client.get("/patients/pP7/genotox")
    assert page.status_code == 200, page.text[:300]
    assert "chr12:4271331:-" in page.text and "CCND2" in page.text and "11.6 %" in page.text
    specs = [
        json.loads(s.replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&"))
        for s in re.findall(r"data-vega='([^']+)'", page.text)
    ]
    bars = [s for s in specs if s.get("mark") == "bar"]
    tcells = next(
        s for s in bars if any(v["clone"] == "chr12:4271331:-" and v["percent"] > 11.6 for v in s["data"]["values"])
    )
    assert tcells["encoding"]["y"]["stack"] == "zero"
    assert any(s.get("mark", {}).get("type") == "line" for s in specs if isinstance(s.get("mark"), dict))  # VCN trend
    api = client.get("/api/v1/genotox/patients/pP7").json()
    assert [(e["clone"], e["severity"]) for e in api["expansions"]] == [("chr12:4271331:-", "high")]
    assert {s["patient_id"] for s in client.get("/api/v1/genotox/samples").json()} == {"pP7"}
    (alert,) = client.get("/api/v1/genotox/alerts").json()
    assert alert["patient_id"] == "pP7" and alert["severity"] == "high"
    assert client.get("/patients/pP6/genotox").status_code == 404  # not registered: administrators only
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        reads = s.scalars(
            select(AuditRow).where(AuditRow.target == "patient:pP7", AuditRow.action == "patient.read")
        ).all()
        assert len(reads) >= 2
    client.post(
        "/logout",
        data={"csrf": re.search(r'name="csrf" value="([^"]+)"', client.get("/account/password").text).group(1)},
    )  # type: ignore[union-attr]
    _login(client, "invb.user")
    assert client.get("/patients/pP7/genotox").status_code == 404
    assert client.get("/api/v1/genotox/patients/pP7").status_code == 404
    assert client.get("/api/v1/genotox/samples").json() == []


def test_patient_reads_a_simplified_view_of_their_own_record(client: TestClient) -> None:
    """A patient sees their own genotoxicity record (the scope admits only it): a plain-language
    summary first (the CCND2 clone is one finding their care team reviews), the technical tables
    folded; another patient's record does not exist for them, nor do the cohort-wide lists."""
    _login(client, "pat7.user")
    page = client.get("/patients/pP7/genotox")
    assert page.status_code == 200
    assert 'id="summary"' in page.text and "1 finding(s) of a growing or large clone" in page.text
    assert '<details id="details">' in page.text and "CCND2" in page.text  # their own data, folded
    assert client.get("/api/v1/genotox/patients/pP7").json()["audience"] == "patient"
    assert client.get("/patients/P-B1/genotox").status_code == 404
    assert client.get("/api/v1/genotox/samples").status_code == 403
