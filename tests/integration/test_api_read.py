"""The JSON API of the pages (issue 11) and the HTML error handling of issue 10 item 10, with
the TestClient on the real 2017Q2 FAERS screen and registered fictitious patients: signals
with search, sort both ways, paging and a CSV of exactly what is filtered; the case drill-down
with its count and 404 for an unknown pair; patients, observations, ePRO answers and alerts
in scope by session or personal API token; writes by cookie need the CSRF header; alert ids
of another scope answer like missing ones; malformed parameters give the HTML error page with
the navigation; the ePRO form redirects after post. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.access import create_api_token, list_api_tokens, revoke_api_token
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.monitoring import MonitoringRules, raise_alert, register_patient
from cgtvigil.store import AuditRow, UserRow, load_products

from .test_web import PASSWORD, ROLES, _csrf, cheap_argon2, login, screen  # noqa: F401  (fixtures)


@pytest.fixture
def client(screen: tuple[Path, Path], operational_url: str, cheap_argon2):  # type: ignore[no-untyped-def]  # noqa: F811
    from cgtvigil.access import create_user

    db, result = screen
    app = create_app(Settings(db=db, screen_result=result, operational_url=operational_url, secret_key="test-key"))
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        products = load_products()
        for pid, site, prod in (("P-A1", "A", "kymriah"), ("P-B1", "B", "yescarta")):
            register_patient(
                s, products, patient=pid, site=site, product=prod, infusion_date=now.date() - timedelta(days=3)
            )
        for name, (role, extra) in ROLES.items():
            create_user(s, username=f"{name}.user", password=PASSWORD, role=role, at=now, **extra)
        a1, _ = raise_alert(s, "P-A1", "sensor_fever", "high", "temperature >= 38.0 °C", now, MonitoringRules())
        b1, _ = raise_alert(s, "P-B1", "sensor_fever", "high", "temperature >= 38.0 °C", now, MonitoringRules())
        s.commit()
        app.state.alerts = {"P-A1": a1.id, "P-B1": b1.id}
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def _token(client: TestClient, name: str) -> str:
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        token = create_api_token(s, s.get(UserRow, f"{name}.user"), datetime.now(UTC), "test bridge")
        s.commit()
    return token


def test_signals_api_filters_sorts_pages_and_exports_what_is_filtered(client: TestClient) -> None:
    login(client, "sci")
    desc = client.get("/api/v1/signals", params={"level": "pt", "sort": "n", "page_size": 1000}).json()
    asc = client.get("/api/v1/signals", params={"level": "pt", "sort": "n", "order": "asc", "page_size": 1000}).json()
    assert desc["total"] == asc["total"] > 100 and desc["pages"] == 1
    ns = [r["n"] for r in desc["rows"]]
    assert ns == sorted(ns, reverse=True) and [r["n"] for r in asc["rows"]] == sorted(ns)
    page2 = client.get("/api/v1/signals", params={"level": "pt", "sort": "n", "page": 2, "page_size": 50}).json()
    assert page2["rows"] == desc["rows"][50:100]
    found = client.get("/api/v1/signals", params={"q": "weight gain"}).json()
    assert found["total"] >= 1 and all("WEIGHT GAIN" in r["event_label"].upper() for r in found["rows"])
    assert {"drug": "risperidone", "event": "ABNORMAL WEIGHT GAIN"}.items() <= next(
        r for r in found["rows"] if r["drug"] == "risperidone"
    ).items()
    # the CSV holds every filtered row (not one page), in the chosen order, and nothing else
    exported = client.get("/signals.csv", params={"level": "pt", "sort": "n", "order": "asc"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == asc["total"] and [int(r["n"]) for r in rows] == [r["n"] for r in asc["rows"]]
    assert client.get("/api/v1/signals.csv", params={"q": "weight gain"}).text.count("\n") == found["total"] + 1
    both = client.get("/api/v1/signals", params={"q": "weight", "level": "pt", "product": "risperidone"}).json()
    assert {r["event"] for r in both["rows"]} == {"ABNORMAL WEIGHT GAIN", "WEIGHT INCREASED"}  # filters combine
    bad = client.get("/api/v1/signals", params={"sort": "nonsense"})
    assert bad.status_code == 400 and "sort: expected one of" in bad.json()["detail"]


def test_cases_api_counts_pages_and_refuses_unknown_pairs(client: TestClient) -> None:
    """DEMO17Q2 line 2: caseid 10979236, RISPERDAL, 'Abnormal weight gain'."""
    login(client, "reg")
    page = client.get("/api/v1/signals/cases", params={"drug": "risperidone", "event": "abnormal weight gain"}).json()
    assert page["total"] == len(page["cases"]) >= 1 and page["pages"] == 1
    case = next(c for c in page["cases"] if c["caseid"] == "10979236")
    assert len(case["fda_dt"]) == 10 and case["fda_dt"][4] == "-"  # an FDA date as a date
    assert {s["statistic"] for s in page["by_quarter"]} == {"IC025", "ROR lower 95%"}
    missing = client.get("/api/v1/signals/cases", params={"drug": "risperidone", "event": "NO SUCH PT"})
    assert missing.status_code == 404 and "detail" in missing.json()
    html_missing = client.get("/signals/cases", params={"drug": "risperidone", "event": "NO SUCH PT"})
    assert html_missing.status_code == 404 and "<nav" in html_missing.text and "Not found" in html_missing.text
    past = client.get("/signals/cases", params={"drug": "risperidone", "event": "ABNORMAL WEIGHT GAIN", "page": 50})
    assert past.status_code == 404 and "past the last page" in past.text
    html = client.get(
        "/signals/cases", params={"drug": "risperidone", "event": "ABNORMAL WEIGHT GAIN", "back": "q=weight"}
    )
    assert 'href="/signals?q=weight"' in html.text and f"{page['total']} case" in html.text


@pytest.mark.parametrize(
    "path",
    [
        "/signals?page=abc",
        "/signals?page=99999999999",
        "/signals?order=sideways",
        "/monitoring?page=-1",
        "/signals/cases?drug=x",
        "/signals?page=9999",
    ],
)
def test_malformed_parameters_give_the_html_error_page_with_navigation(client: TestClient, path: str) -> None:
    login(client, "adm")
    r = client.get(path)
    assert r.status_code in (400, 404) and r.headers["content-type"].startswith("text/html"), (path, r.text[:200])
    assert '<nav aria-label="main">' in r.text and "Traceback" not in r.text
    api = client.get("/api/v1" + path)
    assert api.status_code in (400, 404, 422) and api.headers["content-type"] == "application/json"


def test_patient_api_by_token_in_scope_and_audited(client: TestClient) -> None:
    token = _token(client, "inv")
    auth = {"Authorization": f"Bearer {token}"}
    board = client.get("/api/v1/patients", headers=auth).json()
    assert [r["id"] for r in board["rows"]] == ["P-A1"] and board["rows"][0]["next_deadline"].endswith(
        "Z"
    )  # UTC with Z
    summary = client.get("/api/v1/patients/P-A1", headers=auth).json()
    assert summary["site"] == "A" and summary["product"] == "Kymriah" and summary["day"] == 3
    assert client.get("/api/v1/patients/P-B1", headers=auth).status_code == 404  # another site's patient
    assert client.get("/api/v1/patients/P-B1/observations", headers=auth).status_code == 404
    assert client.get("/api/v1/patients/P-A1/epro", headers=auth).json() == []
    alerts = client.get("/api/v1/alerts", headers=auth).json()
    assert [a["patient_id"] for a in alerts] == ["P-A1"] and alerts[0]["history"][0]["status"] == "open"
    # another scope's alert id answers exactly like an id that does not exist
    ids = client.app.state.alerts  # type: ignore[attr-defined]
    other = client.post(f"/api/v1/alerts/{ids['P-B1']}/acknowledge", headers=auth, json={"note": "x"})
    missing = client.post("/api/v1/alerts/999999/acknowledge", headers=auth, json={"note": "x"})
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"].replace(str(ids["P-B1"]), "N") == missing.json()["detail"].replace("999999", "N")
    done = client.post(f"/api/v1/alerts/{ids['P-A1']}/acknowledge", headers=auth, json={"note": "called the patient"})
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    assert done.json()["history"][-1] | {"at": None} == {
        "status": "acknowledged",
        "by": "inv.user",
        "at": None,
        "note": "called the patient",
    }
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        entries = [(a.actor, a.action, a.target) for a in s.scalars(select(AuditRow).order_by(AuditRow.id))]
        assert ("inv.user", "patient.read", "patient:P-A1") in entries
        assert ("inv.user", "alert.acknowledge", f"alert:{ids['P-A1']}") in entries
        assert ("inv.user", "patient.list", "monitoring-board") in entries
        assert ("inv.user", "access.denied", "GET /api/v1/patients/P-B1") in entries
        (listed,) = list_api_tokens(s, "inv.user", datetime.now(UTC))
        assert listed.label == "test bridge"
        assert revoke_api_token(s, "inv.user", listed.id, datetime.now(UTC), by="inv.user")
        s.commit()
    assert client.get("/api/v1/patients", headers=auth).status_code == 401  # revoked
    assert client.get("/api/v1/patients", headers={"Authorization": "Bearer cgtv_forged"}).status_code == 401
    assert (
        client.get("/api/v1/signals", headers={"Authorization": f"Bearer {_token(client, 'inv')}"}).status_code == 403
    )


def test_cookie_writes_need_the_csrf_header(client: TestClient) -> None:
    login(client, "inv")
    alert = client.app.state.alerts["P-A1"]  # type: ignore[attr-defined]
    page = client.get("/patients/P-A1").text
    refused = client.post(f"/api/v1/alerts/{alert}/resolve", json={"note": "x"})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    done = client.post(
        f"/api/v1/alerts/{alert}/resolve", json={"note": "fever settled"}, headers={"X-CSRF-Token": _csrf(page)}
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    again = client.get("/patients/P-A1").text  # the page shows who resolved it, when, with the note
    assert "Resolved alerts" in again and "resolved by inv.user" in again and "“fever settled”" in again


def test_epro_redirects_after_post_and_shows_what_was_sent(client: TestClient) -> None:
    login(client, "pat")
    form = client.get("/epro").text
    r = client.post("/epro", data={"csrf": _csrf(form), "cgt_fever": "1"}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/epro")
    shown = client.get("/epro").text
    assert "What you sent" in shown and "I have had a fever" in shown
    assert "What you sent" not in client.get("/epro").text  # a reload re-sends nothing and shows the form
    none = client.post("/epro", data={"csrf": _csrf(form)})
    assert "No symptoms." in none.text and "no symptoms" in none.text  # the recent reports list it too
    own = client.get("/api/v1/patients/P-A1/epro").json()
    assert [r["no_symptoms"] for r in own[:2]] == [True, False]
    assert client.get("/api/v1/patients/P-B1/epro").status_code == 404


def test_openapi_documents_the_read_api_with_examples(client: TestClient) -> None:
    """/docs and its schema need a log-in and load nothing from elsewhere (issue 10 item 10)."""
    assert client.get("/docs", follow_redirects=False).headers["location"] == "/login"
    assert client.get("/openapi.json", follow_redirects=False).headers["location"] == "/login"
    login(client, "reg")
    docs = client.get("/docs").text
    assert "/static/vendor/swagger-ui-bundle.js" in docs and "https://" not in docs.split("<main>")[0]
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/signals",
        "/api/v1/signals/cases",
        "/api/v1/patients/{patient_id}/observations",
        "/api/v1/alerts/{alert_id}/acknowledge",
    ):
        assert path in spec["paths"], path
    params = {p["name"]: p for p in spec["paths"]["/api/v1/signals/cases"]["get"]["parameters"]}
    assert params["drug"]["schema"]["examples"] == ["KYMRIAH"]
    assert "examples" in str(spec["components"]["schemas"]["SignalFilters"]) or any(
        "examples" in str(p) for p in spec["paths"]["/api/v1/signals"]["get"]["parameters"]
    )


def test_account_page_creates_lists_and_revokes_api_tokens(client: TestClient) -> None:
    import re

    login(client, "sci")
    page = client.get("/account/tokens").text
    bad = client.post("/account/tokens", data={"csrf": _csrf(page), "label": " ", "days": "30"})
    assert bad.status_code == 400 and "label:" in bad.text
    made = client.post("/account/tokens", data={"csrf": _csrf(page), "label": "sponsor safety DB", "days": "30"})
    token = re.search(r'<code id="token">([^<]+)</code>', made.text).group(1)  # type: ignore[union-attr]
    assert token.startswith("cgtv_") and "sponsor safety DB" in made.text
    fresh = TestClient(client.app)  # a machine client: no cookie, only the token
    auth = {"Authorization": f"Bearer {token}"}
    assert fresh.get("/api/v1/signals", headers=auth, params={"page_size": 1}).json()["total"] > 100
    assert [r["id"] for r in fresh.get("/api/v1/patients", headers=auth).json()["rows"]] == ["P-A1"]  # kymriah
    token_id = re.search(r"<td><code>([0-9a-f]{12})</code></td>", made.text).group(1)  # type: ignore[union-attr]
    done = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf": _csrf(made.text)})
    assert "The token is revoked." in done.text and token_id not in done.text
    assert fresh.get("/api/v1/signals", headers=auth).status_code == 401
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        actions = [a.action for a in s.scalars(select(AuditRow))]
        assert "api_token.create" in actions and "api_token.revoke" in actions


def test_static_files_are_compressed_and_cached_and_unused_libraries_not_shipped(client: TestClient) -> None:
    """Issue 10 item 10: JavaScript and CSS gzip-compressed with cache headers; htmx (no page
    uses it) is not shipped."""
    for path in ("/static/vendor/vega.min.js", "/static/app.css", "/static/charts.js"):
        r = client.get(path, headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["cache-control"] == "public, max-age=86400", path
        if len(r.content) >= 1024:  # smaller files are not worth it
            assert r.headers.get("content-encoding") == "gzip", path
    assert client.get("/static/vendor/htmx.min.js").status_code == 404
    login(client, "adm")
    assert "htmx" not in client.get("/signals").text
    assert client.get("/signals").headers["cache-control"] == "no-store"  # pages: never cached


def test_patient_page_shows_plan_devices_charts_and_epro(client: TestClient) -> None:
    """Issue 11's patient page: the tier and its reasons, the last data per device (a silent
    one flagged), charts in days since infusion (day-0 marker, 38 °C line, grades as steps,
    named legends, WBC), ePRO answers with 'no symptoms' and a missed day."""
    import html as html_lib

    from cgtvigil.ingest import IntakeResult
    from cgtvigil.model import Observation
    from cgtvigil.monitoring import store_observations
    from cgtvigil.store import PlanRecordRow

    now = datetime.now(UTC)
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        s.add(
            PlanRecordRow(
                patient_id="P-A1",
                at=now.replace(tzinfo=None),
                tier="high",
                previous_tier="low",
                reasons=["CAR-HEMATOTOX 3 (high risk)"],
                rules_version="test",
            )
        )
        obs = [
            Observation(
                patient="P-A1",
                kind="temperature",
                value=38.6,
                unit="Cel",
                time=now - timedelta(hours=1),
                source="omh",
                device="patch-7",
            ),
            Observation(
                patient="P-A1",
                kind="wbc",
                value=4.1,
                unit="10*9/L",
                time=now - timedelta(days=2),
                source="fhir",
                device="lab-lis",
            ),
            Observation(
                patient="P-A1", kind="crs_grade", value=2, unit="{grade}", time=now - timedelta(hours=3), source="fhir"
            ),
            Observation(
                patient="P-A1", kind="symptom:cgt_fever", value=1, unit="1", time=now - timedelta(days=3), source="fhir"
            ),
            Observation(
                patient="P-A1", kind="symptom:cgt_fever", value=0, unit="1", time=now - timedelta(days=1), source="fhir"
            ),
        ]
        store_observations(s, IntakeResult(obs), now - timedelta(days=2))  # received two days ago
        s.commit()
    login(client, "inv")
    page = client.get("/patients/P-A1").text
    assert "Risk tier <b>high</b>" in page and "CAR-HEMATOTOX 3 (high risk)" in page
    assert "patch-7" in page and "lab-lis" in page and "silent for more than a day" in page
    specs = html_lib.unescape(page)
    assert '"title": "days since infusion"' in specs and '"label": "infusion (day 0)"' in specs
    assert '"label": "fever 38 \\u00b0C"' in specs and '"interpolate": "step-after"' in specs
    assert '"series": "CRS grade"' in specs and '"series": "WBC"' in specs and "crs_grade" not in specs
    assert "no symptoms" in page and "<b>no report</b>" in page  # day 1 answered no symptoms; day 2 missed
    reports = client.get("/api/v1/patients/P-A1/epro").json()
    assert [(r["day"], r["missed"], r["no_symptoms"]) for r in reports] == [
        (2, False, True),
        (1, True, False),
        (0, False, False),
    ]


def test_users_token_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cgtvigil users token create|list|revoke`: shown once, listed by id, revoked at once."""
    import re

    from typer.testing import CliRunner

    from cgtvigil.cli import app as cli

    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 'op.db'}"
    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", url)
    assert runner.invoke(cli, ["users", "add", "reg.a", "--role", "regulator_reviewer"]).exit_code == 0
    made = runner.invoke(cli, ["users", "token", "create", "reg.a", "--label", "EMA review tool", "--days", "30"])
    assert made.exit_code == 0, made.output
    token = re.search(r"cgtv_\S+", made.output).group(0)  # type: ignore[union-attr]
    listed = runner.invoke(cli, ["users", "token", "list", "reg.a"])
    token_id = re.search(r"\b([0-9a-f]{12})\b", listed.output).group(1)  # type: ignore[union-attr]
    assert "EMA review" in listed.output and token not in listed.output
    app = create_app(Settings(operational_url=url, secret_key="k"))
    with TestClient(app) as c:
        auth = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/v1/registry", headers=auth).status_code == 200
        assert runner.invoke(cli, ["users", "token", "revoke", "reg.a", token_id]).exit_code == 0
        assert c.get("/api/v1/registry", headers=auth).status_code == 401
    app.state.engine.dispose()
    again = runner.invoke(cli, ["users", "token", "revoke", "reg.a", token_id])
    assert again.exit_code == 2 and "no live token" in again.output
    assert runner.invoke(cli, ["users", "token", "create", "nobody", "--label", "x"]).exit_code == 2


def test_an_alert_id_past_the_databases_integer_is_not_found(client: TestClient) -> None:
    """An alert id no INTEGER key holds was a 500 on PostgreSQL (integer out of range) and on
    SQLite (an int too large to bind); it is answered like any id that does not exist."""
    huge = "99999999999999999999"
    token = _token(client, "inv")
    for action in ("acknowledge", "resolve"):
        r = client.post(f"/api/v1/alerts/{huge}/{action}", headers={"Authorization": f"Bearer {token}"}, json={})
        assert r.status_code == 404 and r.json()["detail"] == f"no alert {huge}", (action, r.text[:200])
    login(client, "inv")
    page = client.post(f"/alerts/{huge}/{action}", data={"csrf": _csrf(client.get("/monitoring").text)})
    assert page.status_code == 404 and '<nav aria-label="main">' in page.text


def test_a_malformed_api_parameter_is_described_without_echoing_the_input(client: TestClient) -> None:
    token = _token(client, "inv")
    probe = "<script>" + "x" * 2000
    r = client.get("/api/v1/patients", params={"page": probe}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    (problem,) = r.json()["detail"]
    assert set(problem) == {"type", "loc", "msg"} and problem["loc"] == ["query", "page"]
    assert "<script>" not in r.text
