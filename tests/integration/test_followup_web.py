"""Long-term follow-up through the pages and the JSON API (TestClient, SQLite and PostgreSQL):
the coordinator's work list, a patient's timeline with the transition roadmap, recording a
visit with a new malignancy from the page, consent withdrawal through the API hiding the
patient from the sponsor's JSON API and pages at once, and the audit of each step."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.audit import verify_audit
from cgtvigil.config import Settings
from cgtvigil.followup import plan_patient
from cgtvigil.monitoring import register_patient
from cgtvigil.store import AuditRow, LtfuVisitRow, MalignancyRow, load_ltfu_rules, load_products

from .test_web import PASSWORD, _csrf, cheap_argon2, login  # noqa: F401  (fixture)

USERS = {
    "inv": ("site_investigator", {"site": "A"}),
    "invb": ("site_investigator", {"site": "B"}),
    "sci": ("safety_scientist", {"sponsor_products": ("skysona",)}),
    "pat": ("patient", {"patient_id": "P-F1"}),
    "reg": ("regulator_reviewer", {}),
}


@pytest.fixture
def client(operational_url: str, cheap_argon2, tmp_path):  # type: ignore[no-untyped-def]  # noqa: F811
    app = create_app(Settings(operational_url=operational_url, secret_key="test-key", db=tmp_path / "cases.duckdb"))
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        products = load_products()
        day0 = now.date() - timedelta(days=365 * 3 + 10)  # the year-3 visit is due about now
        register_patient(
            s,
            products,
            patient="P-F1",
            site="A",
            product="skysona",
            infusion_date=day0,
            birth_date=date(2012, 3, 1),
            jurisdiction="US",
        )
        register_patient(s, products, patient="P-F2", site="B", product="kymriah", infusion_date=day0)
        plan_patient(s, "P-F1", products, load_ltfu_rules(), now)  # enrolled in LTFU now: year 3 is next
        for name, (role, extra) in USERS.items():
            create_user(s, username=f"{name}.user", password=PASSWORD, role=role, at=now, **extra)  # type: ignore[arg-type]
        s.commit()
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def test_worklist_timeline_record_and_consent(client: TestClient) -> None:
    login(client, "inv")
    page = client.get("/followup").text
    assert "P-F1" in page and "overdue" in page  # year 3 due ten days ago, window open
    api = client.get("/api/v1/followup/worklist").json()
    assert {(i["patient_id"], i["reason"]) for i in api["items"]} >= {("P-F1", "overdue")}
    timeline = client.get("/followup/patients/P-F1").text
    assert "examination-y3" in timeline and "Transition policy" in timeline
    assert 'id="genotoxicity"' in timeline  # the place the genotoxicity charts link into
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        visit = s.scalar(select(LtfuVisitRow).where(LtfuVisitRow.key == "examination-y3"))
        assert visit is not None
        visit_id = visit.id
    r = client.post(
        f"/followup/visits/{visit_id}/record",
        data={
            "csrf": _csrf(timeline),
            "done_on": datetime.now(UTC).date().isoformat(),
            "contact": "visit",
            "new_malignancy": "1",
            "malignancy_diagnosis": "T-cell lymphoma",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    after = client.get("/followup/patients/P-F1").text
    assert "T-cell lymphoma" in after and "requested" in after and "waiting to be filed" not in after  # filed at once
    # the JSON API: the same timeline; a sponsor sees the patient until data sharing is withdrawn
    assert client.get("/api/v1/followup/patients/P-F1").json()["malignancies"][0]["tissue"] == "requested"
    token = _csrf(after)
    body = {
        "use": "data_sharing",
        "kind": "permission",
        "signer": "parent",
        "form_version": "ICF-2",
        "signed_on": "2020-01-01",
    }
    assert client.post("/api/v1/followup/patients/P-F1/consent", json=body).status_code == 403  # no CSRF header
    ok = client.post("/api/v1/followup/patients/P-F1/consent", json=body, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200 and ok.json()["states"] == {"data_sharing": "granted"}
    client.post("/logout", data={"csrf": token})
    login(client, "sci")
    assert client.get("/api/v1/patients/P-F1").status_code == 200
    client.post("/logout", data={"csrf": _csrf(client.get("/account/password").text)})
    login(client, "inv")
    token = _csrf(client.get("/account/password").text)
    withdrawn = client.post(
        "/api/v1/followup/patients/P-F1/consent",
        json={**body, "withdrawn": True, "signed_on": datetime.now(UTC).date().isoformat()},
        headers={"X-CSRF-Token": token},
    )
    assert withdrawn.json()["states"] == {"data_sharing": "withdrawn"}
    client.post("/logout", data={"csrf": token})
    login(client, "sci")
    assert client.get("/api/v1/patients/P-F1").status_code == 404  # withdrawn: not shared with the sponsor
    assert client.get("/followup/patients/P-F1").status_code == 404
    # ... but the safety case opened by the malignancy stays (law-required safety data)
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert s.scalar(select(MalignancyRow.case_id)) is not None
        actions = [a.action for a in s.scalars(select(AuditRow))]
        assert {"followup.visit", "consent.record", "consent.withdraw", "patient.list"} <= set(actions)
        assert verify_audit(s).ok


def test_other_site_and_patient(client: TestClient) -> None:
    login(client, "invb")
    assert client.get("/followup/patients/P-F1").status_code == 404
    assert "P-F1" not in client.get("/followup").text
    client.post("/logout", data={"csrf": _csrf(client.get("/account/password").text)})
    login(client, "pat")
    assert client.get("/api/v1/followup/patients/P-F1").status_code == 200
    assert client.get("/api/v1/followup/worklist").status_code == 403
    assert client.get("/api/v1/followup/patients/P-F1/transition").json()["majority_age"] == 18


def test_retention_page_and_api_suppress_small_cells(client: TestClient) -> None:
    """One patient with a plan: every count is below 5, so suppressed, and no curve is drawn; the risk
    score cannot be evaluated without a loss and the page says why (the API answers 400)."""
    login(client, "reg")
    page = client.get("/followup/retention?by=sex").text
    assert "&lt;5" in page and "cannot be evaluated" in page and "P-F1" not in page
    api = client.get("/api/v1/followup/retention", params={"by": "country"}).json()
    assert api["patients"] == "<5" and all(g["suppressed"] and not g["km"] for g in api["groups"])
    assert client.get("/api/v1/followup/risk").status_code == 400
    assert client.get("/api/v1/followup/retention", params={"by": "shoe size"}).status_code == 422
