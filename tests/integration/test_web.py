"""The web application with the TestClient: log-in per role, every page route for every role
(the scope matrix), CSRF on every form, alert actions, ePRO, and the audit trail of patient
reads. Data: the real 2017Q2 FAERS sample screened into a result file, and registered
fictitious patients in the operational store (SQLite and PostgreSQL)."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.audit import verify_audit
from cgtvigil.config import Settings
from cgtvigil.errors import StatisticalCaveatWarning
from cgtvigil.model import SignalSpec
from cgtvigil.monitoring import MonitoringRules, raise_alert, register_patient
from cgtvigil.screening import ingest_faers, screen_store, write_result
from cgtvigil.store import AuditRow, FaersStore, load_products, load_topics

PASSWORD = "correct horse battery staple"
ROLES = {
    "sci": ("safety_scientist", {"sponsor_products": ("kymriah",)}),
    "inv": ("site_investigator", {"site": "A"}),
    "reg": ("regulator_reviewer", {}),
    "pat": ("patient", {"patient_id": "P-A1"}),
    "adm": ("administrator", {}),
}


@pytest.fixture(scope="module")
def screen(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("web")
    db = tmp / "faers.duckdb"
    with FaersStore(db) as store:
        ingest_faers([faers_samples / "faers_ascii_2017q2.zip"], store, load_products())
        with pytest.warns(StatisticalCaveatWarning):  # a 100-report sample has many zero cells
            result = screen_store(store, SignalSpec(products_only=False, strata=()), load_products(), load_topics())
    out = tmp / "screen.parquet"
    write_result(result, out)
    return db, out


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """argon2 at its smallest cost for the fixture's users: these tests are about the pages
    (test_accounts checks that the real verification runs once per attempt)."""
    from argon2 import PasswordHasher

    from cgtvigil.access import _passwords

    monkeypatch.setattr(_passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _passwords._dummy_hash.cache_clear()
    yield
    _passwords._dummy_hash.cache_clear()


@pytest.fixture
def client(screen: tuple[Path, Path], operational_url: str, cheap_argon2):  # type: ignore[no-untyped-def]
    db, result = screen
    app = create_app(Settings(db=db, screen_result=result, operational_url=operational_url, secret_key="test-key"))
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        products = load_products()
        register_patient(
            s, products, patient="P-A1", site="A", product="kymriah", infusion_date=now.date() - timedelta(days=3)
        )
        register_patient(
            s, products, patient="P-B1", site="B", product="yescarta", infusion_date=now.date() - timedelta(days=5)
        )
        for name, (role, extra) in ROLES.items():
            create_user(s, username=f"{name}.user", password=PASSWORD, role=role, at=now, **extra)
        alert, _ = raise_alert(s, "P-A1", "sensor_fever", "high", "temperature >= 38.0 °C", now, MonitoringRules())
        s.commit()
        app.state.alert_id = alert.id
    with TestClient(app) as c:
        yield c
    app.state.engine.dispose()


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF token in the page"
    return m.group(1)


def login(client: TestClient, name: str) -> None:
    token = _csrf(client.get("/login").text)
    r = client.post(
        "/login", data={"username": f"{name}.user", "password": PASSWORD, "csrf": token}, follow_redirects=False
    )
    assert r.status_code == 303, r.text


# page -> roles that may open it (others: 403; anonymous: redirect to log-in)
ACCESS = {
    "/signals": {"sci", "reg", "adm"},
    "/signals/cases?drug=risperidone&event=ABNORMAL%20WEIGHT%20GAIN": {"sci", "reg", "adm"},
    "/products/kymriah": {"sci", "reg", "adm"},
    "/monitoring": {"sci", "inv", "adm"},
    "/registry": {"sci", "reg", "adm"},
    "/patients/P-A1": {"inv", "pat", "adm", "sci"},  # site A, kymriah (the scientist's sponsor product)
    "/patients/P-B1": {"adm"},  # site B, yescarta
    "/epro": {"pat"},
    "/admin/users": {"adm"},
}
PATIENT_PAGE_ROLES = {"sci", "inv", "pat", "adm"}  # out of scope they get 404: existence must not leak


@pytest.mark.parametrize("name", [*ROLES, None])
def test_every_page_for_every_role(client: TestClient, name: str | None) -> None:
    if name:
        login(client, name)
    for path, allowed in ACCESS.items():
        r = client.get(path, follow_redirects=False)
        if name is None:
            assert (r.status_code, r.headers.get("location")) == (303, "/login"), path
        elif name in allowed:
            assert r.status_code == 200, (name, path, r.text[:200])
        else:
            # patient pages answer 404 outside scope, so that existence does not leak
            assert r.status_code == (404 if path.startswith("/patients/") and "role" not in r.text else 403), (
                name,
                path,
            )


# Every route of the application, from its own route table, has a rule here; a new route
# without one fails test_every_route_has_a_rule. "public": anyone; "login": any logged-in
# user; "gateway": a device-gateway token (a session is not enough); a set: those roles only.
ROUTE_RULES: dict[tuple[str, str], str | set[str]] = {
    ("GET", "/"): "login",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "login",
    ("GET", "/account/password"): "login",
    ("POST", "/account/password"): "login",
    ("GET", "/account/tokens"): "login",
    ("POST", "/account/tokens"): "login",
    ("POST", "/account/tokens/{token_id}/revoke"): "login",
    ("GET", "/account/setup"): "public",
    ("POST", "/account/setup"): "public",
    ("GET", "/signals"): {"sci", "reg", "adm"},
    ("GET", "/signals.csv"): {"sci", "reg", "adm"},
    ("GET", "/signals/cases"): {"sci", "reg", "adm"},
    ("GET", "/products/{product_id}"): {"sci", "reg", "adm"},
    ("GET", "/registry"): {"sci", "reg", "adm"},
    # risk registers (issue 15): sponsors edit their own products', reviewers read, administrators all
    ("GET", "/risk"): {"sci", "reg", "adm"},
    ("GET", "/risk/{product_id}"): {"sci", "reg", "adm"},
    ("POST", "/risk/{product_id}"): {"sci", "adm"},
    ("GET", "/risk/{product_id}/alignment"): {"sci", "reg", "adm"},
    ("GET", "/risk/{product_id}/indicators"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/risk/registers"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/risk/registers/{product_id}"): {"sci", "reg", "adm"},
    ("POST", "/api/v1/risk/registers/{product_id}"): {"sci", "adm"},
    ("GET", "/api/v1/risk/registers/{product_id}/alignment"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/risk/registers/{product_id}/indicators"): {"sci", "reg", "adm"},
    # the signal workflow (issue 15): sponsors write their own, reviewers read what is shared
    ("GET", "/workflow/signals"): {"sci", "reg", "adm"},
    ("GET", "/workflow/signals/new"): {"sci", "adm"},
    ("POST", "/workflow/signals"): {"sci", "adm"},
    ("GET", "/workflow/signals/{signal_id}"): {"sci", "reg", "adm"},
    ("POST", "/workflow/signals/{signal_id}/advance"): {"sci", "adm"},
    ("POST", "/workflow/signals/{signal_id}/evidence"): {"sci", "adm"},
    ("POST", "/workflow/signals/{signal_id}/share"): {"sci", "adm"},
    ("POST", "/workflow/signals/{signal_id}/risk"): {"sci", "adm"},
    ("POST", "/workflow/rescreen"): {"sci", "adm"},
    ("GET", "/api/v1/workflow/signals"): {"sci", "reg", "adm"},
    ("POST", "/api/v1/workflow/signals"): {"sci", "adm"},
    ("GET", "/api/v1/workflow/signals/{signal_id}"): {"sci", "reg", "adm"},
    ("POST", "/api/v1/workflow/signals/{signal_id}/advance"): {"sci", "adm"},
    ("POST", "/api/v1/workflow/signals/{signal_id}/evidence"): {"sci", "adm"},
    ("POST", "/api/v1/workflow/signals/{signal_id}/share"): {"sci", "adm"},
    ("POST", "/api/v1/workflow/signals/{signal_id}/risk"): {"sci", "adm"},
    ("POST", "/api/v1/workflow/rescreen"): {"sci", "adm"},
    # periodic reports (issue 15): a sponsor's safety staff and administrators (the QPPV's
    # office) generate and share; regulators read and download what a sponsor shared
    ("GET", "/reports"): {"sci", "reg", "adm"},
    ("POST", "/reports"): {"sci", "adm"},
    ("GET", "/reports/{report_id}"): {"sci", "reg", "adm"},
    ("GET", "/reports/{report_id}/download"): {"sci", "reg", "adm"},
    ("POST", "/reports/{report_id}/share"): {"sci", "adm"},
    ("GET", "/api/v1/reports"): {"sci", "reg", "adm"},
    ("POST", "/api/v1/reports"): {"sci", "adm"},
    ("GET", "/api/v1/reports/{report_id}"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/reports/{report_id}/document"): {"sci", "reg", "adm"},
    ("POST", "/api/v1/reports/{report_id}/share"): {"sci", "adm"},
    ("GET", "/monitoring"): {"sci", "inv", "adm"},
    ("GET", "/patients/{patient_id}"): {"sci", "inv", "pat", "adm"},
    ("POST", "/alerts/{alert_id}/acknowledge"): {"inv", "adm"},
    ("POST", "/alerts/{alert_id}/resolve"): {"inv", "adm"},
    ("GET", "/epro"): {"pat"},
    ("POST", "/epro"): {"pat"},
    ("GET", "/admin/users"): {"adm"},
    ("POST", "/admin/users"): {"adm"},
    ("POST", "/admin/users/change"): {"adm"},
    ("POST", "/admin/users/{username}/{action}"): {"adm"},
    ("POST", "/api/v1/ingest/omh"): "gateway",
    ("POST", "/api/v1/ingest/fhir"): "gateway",
    ("POST", "/api/v1/ingest/epro"): "gateway",
    ("POST", "/api/v1/ingest/assessment"): "gateway",
    ("GET", "/api/v1/health"): "public",
    # the JSON API of the pages: a session or a personal API token; anonymous gets 401
    ("GET", "/api/v1/signals"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/signals.csv"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/signals/cases"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/signals/onset"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/products/{product_id}"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/registry"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/patients"): {"sci", "inv", "adm"},
    ("GET", "/api/v1/patients/{patient_id}"): {"sci", "inv", "pat", "adm"},
    ("GET", "/api/v1/patients/{patient_id}/observations"): {"sci", "inv", "pat", "adm"},
    ("GET", "/api/v1/patients/{patient_id}/epro"): {"sci", "inv", "pat", "adm"},
    ("GET", "/api/v1/patients/{patient_id}/forecast"): {"sci", "inv", "pat", "adm"},
    ("GET", "/api/v1/alerts"): {"sci", "inv", "pat", "adm"},
    # ICSRs (issue 13): sponsors' safety scientists (their products), regulators (public and submitted), admins
    ("GET", "/cases"): {"sci", "reg", "adm"},
    ("GET", "/cases/{case_id:path}"): {"sci", "reg", "adm"},
    ("GET", "/cases/{case_id:path}/export"): {"sci", "reg", "adm"},
    ("POST", "/cases/matches/{match_id}"): {"adm"},
    ("GET", "/api/v1/cases"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/cases/{case_id:path}"): {"sci", "reg", "adm"},
    ("GET", "/api/v1/cases/{case_id:path}/export"): {"sci", "reg", "adm"},
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): {"inv", "adm"},
    ("POST", "/api/v1/alerts/{alert_id}/resolve"): {"inv", "adm"},
    ("GET", "/patients/{patient_id}/genotox"): {"sci", "inv", "pat", "adm"},
    ("GET", "/api/v1/genotox/patients/{patient_id}"): {"sci", "inv", "pat", "adm"},
    ("GET", "/api/v1/genotox/samples"): {"sci", "inv", "adm"},
    ("GET", "/api/v1/genotox/alerts"): {"sci", "inv", "adm"},
    # long-term follow-up (issue 12): pages and JSON API
    ("GET", "/followup"): {"sci", "inv", "adm"},
    ("GET", "/followup/patients/{patient_id}"): {"sci", "inv", "pat", "adm"},
    ("POST", "/followup/visits/{visit_id}/record"): {"inv", "adm"},
    ("GET", "/api/v1/followup/worklist"): {"sci", "inv", "adm"},
    ("GET", "/api/v1/followup/patients/{patient_id}"): {"sci", "inv", "pat", "adm"},
    ("GET", "/api/v1/followup/patients/{patient_id}/transition"): {"sci", "inv", "pat", "adm"},
    ("POST", "/api/v1/followup/visits/{visit_id}/record"): {"inv", "adm"},
    ("POST", "/api/v1/followup/patients/{patient_id}/consent"): {"inv", "adm"},
    ("POST", "/api/v1/followup/patients/{patient_id}/transfer"): {"inv", "adm"},
    ("POST", "/api/v1/followup/patients/{patient_id}/tasks/{kind}/close"): {"inv", "adm"},
    ("POST", "/followup/patients/{patient_id}/consent"): {"inv", "adm"},
    ("POST", "/followup/patients/{patient_id}/transfer"): {"inv", "adm"},
    ("POST", "/followup/patients/{patient_id}/tasks/{kind}/close"): {"inv", "adm"},
    ("GET", "/followup/retention"): {"sci", "inv", "reg", "adm"},
    ("GET", "/api/v1/followup/retention"): {"sci", "inv", "reg", "adm"},
    ("GET", "/api/v1/followup/risk"): {"sci", "inv", "reg", "adm"},
    ("GET", "/static"): "public",
    ("GET", "/docs"): "login",  # served offline from the package's static files (issue 10 item 10)
    ("GET", "/openapi.json"): "login",
}
EXAMPLE = {
    "{product_id}": "kymriah",
    "{patient_id}": "P-A1",
    "{alert_id}": "1",
    "{visit_id}": "1",
    "{username}": "reg.user",
    "{action}": "unlock",
    "{token_id}": "0123456789ab",
    "{case_id:path}": "US-X-1",
    "{match_id}": "1",
    "{signal_id}": "1",
    "{report_id}": "1",
    "{kind}": "reconsent",
}


def route_table(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path) of every route the application answers, nested routers included."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for r in contexts:
            original = getattr(r, "original_route", r)
            methods = getattr(original, "methods", None) or {"GET"}  # a mount (static files)
            found |= {(m, r.path) for m in methods if m != "HEAD"}
    return found


def test_every_route_has_a_rule() -> None:
    app = create_app(Settings(operational_url="sqlite://", secret_key="k"))
    routes = route_table(app)
    assert len(routes) >= 30  # the table is really walked
    assert routes - ROUTE_RULES.keys() == set(), "a route without an access rule: add it to ROUTE_RULES"
    assert ROUTE_RULES.keys() - routes == set(), "a rule for a route that no longer exists"
    app.state.engine.dispose()


def test_every_route_refuses_other_roles(client: TestClient) -> None:
    """Each rule of ROUTE_RULES holds: a role outside it gets 403 (404 for a patient page out
    of scope, so that existence does not leak), an anonymous visitor the log-in page, and a
    session never opens the gateway API (401); POSTs carry a valid CSRF token."""
    for name in [None, *ROLES]:
        if name:
            login(client, name)
        for (method, template), rule in ROUTE_RULES.items():
            if rule == "public" or (template == "/logout" and name):
                continue  # (log-out ends the session: tested on its own)
            path = template
            for key, value in EXAMPLE.items():
                path = path.replace(key, value)
            if method == "GET":
                r = client.get(path, follow_redirects=False)
            else:
                token = _csrf(client.get("/account/password" if name else "/login").text)
                r = client.post(path, data={"csrf": token}, follow_redirects=False)
            if rule == "gateway" or (name is None and path.startswith("/api/v1/")):
                assert r.status_code == 401, (name, path)  # the API answers JSON, never the log-in page
            elif name is None:
                assert (r.status_code, r.headers.get("location")) == (303, "/login"), (name, path)
            elif rule != "login" and name not in rule:
                expected = {404, 403} if "/patients/{patient_id}" in template else {403}
                assert r.status_code in expected, (name, method, path, r.status_code)


def test_signals_page_and_drill_down(client: TestClient) -> None:
    login(client, "sci")
    page = client.get("/signals?level=pt&sort=n").text
    assert "risperidone" in page and "data-vega" in page
    cases = client.get("/signals/cases?drug=risperidone&event=ABNORMAL%20WEIGHT%20GAIN").text
    assert "10979236" in cases  # DEMO17Q2 line 2: caseid 10979236, RISPERDAL, 'Abnormal weight gain'
    # one quarter of data: IC025 and ROR lower bound for 2017Q2 in the trend chart's data
    spec = html.unescape(cases)  # the chart spec sits HTML-escaped in a data attribute
    assert '"quarter": "2017Q2", "statistic": "IC025"' in spec and "ROR lower 95%" in spec


def test_signals_page_is_paged_and_keeps_filters(client: TestClient) -> None:
    login(client, "sci")
    first = client.get("/signals?level=pt&sort=n").text
    total = int(re.search(r"(\d+) rows · page 1 of (\d+)", first).group(1))  # type: ignore[union-attr]
    assert total > 100  # the DEMO17Q2 screen has more PT pairs than one page holds
    assert first.count("<tr class=") == 100
    # the EB05 plot is not limited to the page: it shows the first 1,000 rows with an EB05
    assert html.unescape(first).count('"pair": "') > 100
    assert 'href="/signals?level=pt&amp;sort=n&amp;order=desc&amp;page=2"' in first
    last_page = (total + 99) // 100
    last = client.get(f"/signals?level=pt&sort=n&page={last_page}").text
    assert last.count("<tr class=") == total - 100 * (last_page - 1)
    assert "No row matches" in client.get("/signals?product=no-such-product").text


def test_csrf_alert_actions_and_audit(client: TestClient) -> None:
    login(client, "inv")
    page = client.get("/patients/P-A1").text
    alert_id = client.app.state.alert_id  # type: ignore[attr-defined]
    assert "sensor_fever" in page
    assert client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf": "forged"}).status_code == 403
    r = client.post(f"/alerts/{alert_id}/acknowledge", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert r.status_code == 303
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        actions = [a.action for a in s.scalars(select(AuditRow).order_by(AuditRow.id))]
        assert "patient.read" in actions and "alert.acknowledge" in actions and actions.count("login") >= 1
        assert verify_audit(s).ok


def test_patient_epro_then_throttled_log_in_and_admin_unlock(client: TestClient) -> None:
    """Five anonymous wrong passwords slow the account down (no lock-out); the administrator's
    unlock on the Users page clears it at once."""
    login(client, "pat")
    form = client.get("/epro").text
    r = client.post("/epro", data={"csrf": _csrf(form), "cgt_confusion": "1"})
    assert r.status_code == 200 and "nobody could be alerted directly yet" in r.text  # no channel configured
    client.post("/logout", data={"csrf": _csrf(r.text)})
    token = _csrf(client.get("/login").text)
    for _ in range(5):
        wrong = client.post("/login", data={"username": "inv.user", "password": "nope", "csrf": token})
        assert "Wrong user name or password." in wrong.text
    slowed = client.post(
        "/login", data={"username": "inv.user", "password": PASSWORD, "csrf": token}, follow_redirects=False
    )
    assert slowed.status_code == 200 and "Too many failed log-ins" in slowed.text
    login(client, "adm")
    page = client.get("/admin/users").text
    assert "log-ins slowed until" in page
    done = client.post("/admin/users/inv.user/unlock", data={"csrf": _csrf(page)})
    assert "Failed log-ins of inv.user cleared." in done.text and "log-ins slowed until" not in done.text
    client.post("/logout", data={"csrf": _csrf(done.text)})
    login(client, "inv")


def test_admin_creates_users_with_clear_errors(client: TestClient) -> None:
    """The administrator never types a password: a new user gets a one-time code; the
    account's scope is checked against the registry (review M9)."""
    login(client, "adm")
    page = client.get("/admin/users").text
    bad = client.post(
        "/admin/users", data={"csrf": _csrf(page), "username": "X", "role": "site_investigator", "site": "b"}
    )
    assert bad.status_code == 400 and "2 problems" in bad.text and "did you mean &#39;B&#39;?" in bad.text
    assert 'name="site" value="b"' in bad.text  # what was typed is kept
    ok = client.post(
        "/admin/users", data={"csrf": _csrf(page), "username": "inv.b", "role": "site_investigator", "site": "B"}
    )
    assert ok.status_code == 200 and "User inv.b created." in ok.text
    code = re.search(r'<code id="code">([^<]+)</code>', ok.text).group(1)  # type: ignore[union-attr]
    client.post("/logout", data={"csrf": _csrf(ok.text)})
    setup = client.get(f"/account/setup?user=inv.b&code={code}").text
    done = client.post(
        "/account/setup",
        data={"csrf": _csrf(setup), "username": "inv.b", "code": code, "new": PASSWORD, "repeat": PASSWORD},
        follow_redirects=False,
    )
    assert (done.status_code, done.headers["location"]) == (303, "/login?done=1")
    again = client.post(
        "/account/setup",
        data={
            "csrf": _csrf(client.get("/account/setup").text),
            "username": "inv.b",
            "code": code,
            "new": PASSWORD + "!",
            "repeat": PASSWORD + "!",
        },
    )
    assert again.status_code == 400 and "wrong, used or expired" in again.text  # one-time
    login(client, "inv")  # the fixture's site-A investigator
    assert client.get("/monitoring").status_code == 200


def test_forecast_probability_on_the_patient_page(screen: tuple[Path, Path], tmp_path: Path) -> None:
    """A forecaster fitted on SYNTHETIC trajectories (a file without bootstrap refits) is applied
    to the patient's observations rolled up into days; the page shows its probability."""
    import joblib

    from cgtvigil.forecasting import DailyTable, ToxicityForecaster
    from cgtvigil.ingest import IntakeResult
    from cgtvigil.model import Observation
    from cgtvigil.monitoring import store_observations
    from cgtvigil.synth import TrajectoryConfig, simulate_trajectories

    daily, _ = simulate_trajectories(TrajectoryConfig(patients=60, seed=9))
    table = DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})
    model = tmp_path / "icans.joblib"
    joblib.dump(
        {"software": "test", "forecaster": ToxicityForecaster(target="icans", min_grade=1, horizon=5).fit(table)}, model
    )
    db, result = screen
    app = create_app(
        Settings(
            db=db,
            screen_result=result,
            operational_url=f"sqlite:///{tmp_path / 'op.db'}",
            secret_key="k",
            forecast_model=model,
        )
    )
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        register_patient(
            s,
            load_products(),
            patient="P-A1",
            site="A",
            product="yescarta",
            infusion_date=now.date() - timedelta(days=3),
        )
        create_user(s, username="inv.user", password=PASSWORD, role="site_investigator", at=now, site="A")
        obs = [
            Observation(patient="P-A1", kind=k, value=v, unit=u, time=now - timedelta(days=d), source="fhir")
            for d in range(3)
            for k, v, u in (("temperature", 38.9, "Cel"), ("crp", 9.0, "mg/dL"), ("crs_grade", 2.0, "{grade}"))
        ]
        store_observations(s, IntakeResult(obs), now)
        s.commit()
    with TestClient(app) as c:
        login(c, "inv")
        page = c.get("/patients/P-A1").text
    # a window classifier draws one point: onset within its horizon, from the last day with data (3)
    assert "ICANS onset (grade ≥ 1)" in page and "by day 8" in page
    app.state.engine.dispose()


def test_registry_aggregates_suppress_small_cells(client: TestClient) -> None:
    """Two registered patients (one per product): every count is below 5, so suppressed."""
    login(client, "reg")
    page = client.get("/registry").text
    assert "Kymriah" in page and "Yescarta" in page and "&lt;5" in page and "P-A1" not in page


def test_risk_register_pages_and_api(client: TestClient) -> None:
    """The register page, an edit through the page (CSRF, a clear message for a broken
    document, then the next version), the alignment with the REMS history and the indicator
    page; the JSON API gives the same register; a sponsor never sees another product's."""
    login(client, "sci")
    page = client.get("/risk/kymriah").text
    assert "Cytokine release syndrome" in page and "REMS ETASU: certified hospitals and clinics" in page
    assert client.get("/risk/yescarta").status_code == 404  # another sponsor's product
    doc = client.get("/api/v1/risk/registers/kymriah").json()["document"]
    doc["notes"] = "checked"
    bad = client.post("/risk/kymriah", data={"csrf": _csrf(page), "document": "{", "note": "x"})
    assert bad.status_code == 400 and "not JSON" in bad.text
    form = {"csrf": _csrf(page), "document": json.dumps(doc), "note": "notes"}
    r = client.post("/risk/kymriah", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/risk/kymriah?version=2"
    assert client.get("/api/v1/risk/registers/kymriah").json()["document"]["notes"] == "checked"
    aligned = client.get("/risk/kymriah/alignment?on=2025-07-01").text
    assert "additional measures EU only" in aligned and "2025-06-26" in aligned and "FDA eliminates the REMS" in aligned
    api = client.get("/api/v1/risk/registers/kymriah/alignment", params={"on": "2025-01-01"}).json()
    assert {row["additional_gap"] for row in api["rows"] if row["risk_key"] == "crs"} == {""}  # REMS still in force
    indicators = client.get("/risk/kymriah/indicators").text
    assert "no patient location" in indicators
    listed = {r["product_id"] for r in client.get("/api/v1/risk/registers").json()}
    assert listed == {"kymriah"}
    login(client, "reg")
    assert "Store as the next version" not in client.get("/risk/kymriah").text  # read only
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        edits = s.scalars(select(AuditRow).where(AuditRow.action == "risk_register.edit")).all()
        assert [e.actor for e in edits] == ["sci.user"] and verify_audit(s).ok
        reads = s.scalars(select(AuditRow).where(AuditRow.target == "risk-indicators:kymriah")).all()
        assert [r.actor for r in reads] == ["sci.user"]  # aggregates of patients: audited like retention


def test_forms_keep_what_was_typed(client: TestClient) -> None:
    """A refused log-in keeps the user name; a refused change of a user keeps every field."""
    page = client.post(
        "/login", data={"username": "adm.user", "password": "not it", "csrf": _csrf(client.get("/login").text)}
    ).text
    assert "Wrong user name or password" in page and 'value="adm.user"' in page
    assert 'value="not it"' not in page  # never the password
    login(client, "adm")
    token = _csrf(client.get("/admin/users").text)
    typed = {"username": "inv.user", "role": "site_investigator", "site": "", "products": "", "patient_id": "P-9"}
    page = client.post("/admin/users/change", data={**typed, "csrf": token}).text
    change = page[page.index('id="change-form"') :]
    assert "<option selected>inv.user</option>" in change
    assert 'value="site_investigator" selected' in change and 'value="P-9"' in change
