"""Sessions kept on the server, security headers and the audit of denied access (issue 10
items 5, 6 (headers) and 7; security review M1, M2, M3, M5, M11), on SQLite and PostgreSQL,
with two application instances on one store standing for two server workers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cgtvigil.access import SessionPolicy, create_user, open_session, session_user
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError
from cgtvigil.monitoring import register_patient
from cgtvigil.store import AuditRow, load_products, operational_engine, session_factory

PASSWORD = "correct horse battery staple"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def cheap_argon2(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """argon2 at its smallest cost for the fixture's users: these tests are about what happens
    around the password check (test_accounts checks the real one runs once per attempt)."""
    from argon2 import PasswordHasher

    from cgtvigil.access import _passwords

    monkeypatch.setattr(_passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _passwords._dummy_hash.cache_clear()
    yield
    _passwords._dummy_hash.cache_clear()


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    assert m, "no CSRF token in the page"
    return m.group(1)


def _login(client: TestClient, name: str, password: str = PASSWORD) -> None:
    token = _csrf(client.get("/login").text)
    r = client.post("/login", data={"username": name, "password": password, "csrf": token}, follow_redirects=False)
    assert r.status_code == 303, r.text[-400:]


@pytest.fixture
def workers(operational_url: str, cheap_argon2):  # type: ignore[no-untyped-def]
    """Two applications (two server workers) on one operational store, with one secret key."""
    settings = Settings(operational_url=operational_url, secret_key="same-key-for-every-worker")
    apps = [create_app(settings), create_app(settings)]
    now = datetime.now(UTC)
    with apps[0].state.sessions() as s:
        products = load_products()
        register_patient(s, products, patient="P-A1", site="A", product="kymriah", infusion_date=now.date())
        register_patient(s, products, patient="P-B1", site="B", product="yescarta", infusion_date=now.date())
        create_user(s, username="inv.a", password=PASSWORD, role="site_investigator", at=now, site="A")
        create_user(s, username="reg.r", password=PASSWORD, role="regulator_reviewer", at=now)
        create_user(s, username="admin.a", password=PASSWORD, role="administrator", at=now)
        s.commit()
    clients = [TestClient(app) for app in apps]
    yield clients
    for c, app in zip(clients, apps, strict=True):
        c.close()
        app.state.engine.dispose()


def _audit(client: TestClient, action: str) -> list[AuditRow]:
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.id)))


def test_log_out_ends_the_session_on_every_worker(workers) -> None:  # type: ignore[no-untyped-def]
    """Review M1: a cookie saved before log-out still read patient pages. Now the session
    lives in the store: a cookie from worker 1 works on worker 2, and after log-out on
    worker 2 the saved cookie is dead on both."""
    one, two = workers
    _login(one, "inv.a")
    saved = one.cookies.get("cgtvigil_session")
    two.cookies.set("cgtvigil_session", saved)
    assert two.get("/patients/P-A1").status_code == 200  # another worker, same session
    two.post("/logout", data={"csrf": _csrf(two.get("/").text)})
    for client in (one, two):
        client.cookies.set("cgtvigil_session", saved)
        r = client.get("/patients/P-A1", follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/login")
    (entry,) = _audit(one, "logout")
    assert entry.actor == "inv.a" and entry.detail["client"] == "testclient"


def test_password_change_and_deactivation_end_sessions(workers) -> None:  # type: ignore[no-untyped-def]
    one, two = workers
    _login(one, "inv.a")
    _login(two, "inv.a")
    page = one.get("/account/password").text
    new = PASSWORD + " 2"
    r = one.post(
        "/account/password",
        data={"csrf": _csrf(page), "current": PASSWORD, "new": new, "repeat": new},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/account/password?done=1")
    assert one.get("/patients/P-A1").status_code == 200  # the changing session starts afresh
    assert two.get("/patients/P-A1", follow_redirects=False).status_code == 303  # the other one ended
    admin = TestClient(two.app)
    _login(admin, "admin.a")
    page = admin.get("/admin/users").text
    assert "deactivate" in page
    done = admin.post("/admin/users/inv.a/deactivate", data={"csrf": _csrf(page)})
    assert "User inv.a deactivated" in done.text
    assert one.get("/patients/P-A1", follow_redirects=False).status_code == 303
    token = _csrf(one.get("/login").text)
    refused = one.post("/login", data={"username": "inv.a", "password": new, "csrf": token})
    assert "Wrong user name or password." in refused.text
    admin.close()


def test_idle_timeout_and_absolute_lifetime(operational_url: str) -> None:
    """A session ends after 30 idle minutes, and after 12 hours however busy it is."""
    engine = operational_engine(operational_url)
    policy = SessionPolicy(idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
    with session_factory(engine)() as s:
        s.add_all([])
        user = create_user(s, username="reg.r", password=PASSWORD, role="regulator_reviewer", at=T0)
        idle = open_session(s, user, T0, policy)
        busy = open_session(s, user, T0, policy)
        s.commit()
        assert session_user(s, idle, T0 + timedelta(minutes=29), policy) is user
        assert session_user(s, idle, T0 + timedelta(minutes=29 + 31), policy) is None  # 31 idle minutes
        for minutes in range(20, 12 * 60, 20):
            assert session_user(s, busy, T0 + timedelta(minutes=minutes), policy) is user
        assert session_user(s, busy, T0 + timedelta(hours=12), policy) is None
        assert session_user(s, busy, T0 + timedelta(hours=12, minutes=1), policy) is None  # ended stays ended
        s.commit()
    engine.dispose()


def test_headers_cookie_and_required_secret_key(operational_url: str) -> None:
    """Review M2/M3: no Secure flag, no HSTS, no CSP. Behind TLS the cookie is Secure and
    HSTS is sent; every page says no-store; static files may be cached; the secret key is
    required (a random one per process lost every log-in at restart and between workers)."""
    with pytest.raises(CgtVigilError, match="CGTVIGIL_SECRET_KEY"):
        create_app(Settings(operational_url=operational_url))
    app = create_app(Settings(operational_url=operational_url, secret_key="k", behind_tls=True))
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/login")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert "; secure" in page.headers["set-cookie"].lower() and "httponly" in page.headers["set-cookie"].lower()
        assert "<script>" not in page.text and "onclick" not in page.text  # no inline script
        static = client.get("/static/app.css")
        assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"
        assert client.get("/api/v1/health").headers["cache-control"] == "no-store"
    app.state.engine.dispose()
    plain = create_app(Settings(operational_url=operational_url, secret_key="k"))
    with TestClient(plain) as client:
        page = client.get("/login")
        assert "strict-transport-security" not in page.headers and "secure" not in page.headers["set-cookie"].lower()
    plain.state.engine.dispose()


def test_security_headers_on_refused_bodies_and_server_errors(operational_url: str) -> None:
    """Review (session 4): the 413 of the body limit and the 500 of an unexpected error left
    the security middleware's reach: no CSP, no nosniff, no ``no-store``."""
    app = create_app(Settings(operational_url=operational_url, secret_key="k", max_request_bytes=1000))

    def broken() -> None:
        raise RuntimeError("an unexpected failure")

    app.add_api_route("/api/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        too_big = client.post("/api/v1/ingest/omh", content=b"x" * 5000)
        failed = client.get("/api/v1/broken")
        for response, status in ((too_big, 413), (failed, 500)):
            assert response.status_code == status
            assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", "")
            assert response.headers.get("x-content-type-options") == "nosniff"
            assert response.headers.get("cache-control") == "no-store"
        assert "RuntimeError" not in failed.text and "Traceback" not in failed.text
    app.state.engine.dispose()


def test_denied_access_is_audited_with_client_and_agent(workers) -> None:  # type: ignore[no-untyped-def]
    """Review M11: the investigator's 404 on another site's patient and the regulator's 403
    left no trace."""
    one, _ = workers
    _login(one, "inv.a")
    assert one.get("/patients/P-B1", headers={"User-Agent": "probe/1.0"}).status_code == 404
    assert one.get("/admin/users").status_code == 403
    one.post("/logout", data={"csrf": _csrf(one.get("/").text)})
    _login(one, "reg.r")
    assert one.get("/patients/P-A1").status_code == 403
    denied = _audit(one, "access.denied")
    assert [(e.actor, e.target, e.detail["status"]) for e in denied] == [
        ("inv.a", "GET /patients/P-B1", 404),
        ("inv.a", "GET /admin/users", 403),
        ("reg.r", "GET /patients/P-A1", 403),
    ]
    assert denied[0].detail["agent"] == "probe/1.0" and denied[0].detail["client"] == "testclient"


def test_a_form_with_a_wrong_csrf_token_is_audited_as_denied(workers) -> None:  # type: ignore[no-untyped-def]
    """A logged-in user's form post with a wrong or missing CSRF token (a forged request?) is
    refused and audited as denied access under that user; an anonymous one names nobody."""
    one, _ = workers
    anonymous = one.post("/login", data={"username": "inv.a", "password": PASSWORD, "csrf": "forged"})
    assert anonymous.status_code == 403
    _login(one, "inv.a")
    assert one.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert one.post("/logout", data={}).status_code == 403
    assert one.get("/").status_code == 200  # still logged in: the forged log-out did nothing
    denied = _audit(one, "access.denied")
    assert [(e.actor, e.target, e.detail["status"]) for e in denied] == [
        ("inv.a", "POST /logout", 403),
        ("inv.a", "POST /logout", 403),
    ]


def test_typed_user_name_of_300_characters(workers) -> None:  # type: ignore[no-untyped-def]
    """Review M5: a 300-character user name was a 500 on PostgreSQL and left no audit row.
    It is refused like any wrong log-in and audited, capped and with control characters
    escaped, never with the targeted user as actor."""
    one, _ = workers
    token = _csrf(one.get("/login").text)
    typed = "inv.a" + "\x1b[31m" + "x" * 300
    r = one.post("/login", data={"username": typed, "password": "nope", "csrf": token})
    assert r.status_code == 200 and "Wrong user name or password." in r.text
    (entry,) = _audit(one, "login")
    assert entry.actor == "anonymous" and entry.detail["outcome"] == "unknown user"
    assert len(entry.target) == len("user:") + 64 and "\x1b" not in entry.target and "\\u001b" in entry.target
    assert entry.target.endswith("…(310 characters)")


def test_the_owners_browser_is_not_slowed_by_an_attacker(workers) -> None:  # type: ignore[no-untyped-def]
    """Review H3: anyone could lock any account. An attacker's failures slow the account for
    every browser that never logged in to it, but not the owner's own browser (a signed
    known-device cookie set at a successful log-in); a forged device cookie counts for nothing."""
    owner, attacker = workers
    _login(owner, "inv.a")
    owner.post("/logout", data={"csrf": _csrf(owner.get("/").text)})
    assert owner.cookies.get("cgtvigil_device")
    token = _csrf(attacker.get("/login").text)
    for _ in range(6):
        attacker.post("/login", data={"username": "inv.a", "password": "guess", "csrf": token})
    slowed = attacker.post("/login", data={"username": "inv.a", "password": PASSWORD, "csrf": token})
    assert "Too many failed log-ins" in slowed.text
    attacker.cookies.set("cgtvigil_device", "forged." + owner.cookies.get("cgtvigil_device").split(".", 1)[1])
    assert (
        "Too many failed log-ins"
        in attacker.post("/login", data={"username": "inv.a", "password": PASSWORD, "csrf": token}).text
    )
    _login(owner, "inv.a")  # the owner's browser logs in at once
    logins = _audit(owner, "login")
    assert logins[-1].detail == logins[-1].detail | {"outcome": "success", "known_device": True}
