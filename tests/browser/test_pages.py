"""Browser tests: Playwright driving Debian's Chromium against the application served by
uvicorn on loopback. Screenshots of the main pages go to test-output/screenshots/."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation
from cgtvigil.monitoring import MonitoringRules, raise_alert, register_patient, store_observations
from cgtvigil.store import load_products

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "correct horse battery staple"
CONSOLE_ERRORS: list[str] = []  # every page's console errors, CSP violations among them
USERS = {
    "scientist": ("safety_scientist", {"sponsor_products": ("kymriah",)}),
    "investigator": ("site_investigator", {"site": "A"}),
    "regulator": ("regulator_reviewer", {}),
    "patient": ("patient", {"patient_id": "P-A1"}),
    "admin": ("administrator", {}),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert CHROMIUM, "Debian's chromium is installed by `make test` (scripts/test.sh)"
    tmp = tmp_path_factory.mktemp("browser")
    app = create_app(
        Settings(
            operational_url=f"sqlite:///{tmp / 'op.db'}", secret_key="browser-test", screen_result=tmp / "none.parquet"
        )
    )
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        register_patient(
            s,
            load_products(),
            patient="P-A1",
            site="A",
            product="kymriah",
            infusion_date=now.date() - timedelta(days=2),
        )
        for name, (role, extra) in USERS.items():
            create_user(s, username=name, password=PASSWORD, role=role, at=now, **extra)  # type: ignore[arg-type]
        temperatures = [
            Observation(
                patient="P-A1",
                kind="temperature",
                value=37.0 + h / 10,
                unit="Cel",
                time=now - timedelta(hours=h),
                source="omh",
            )
            for h in range(12)
        ]
        store_observations(s, IntakeResult(temperatures), now)
        raise_alert(s, "P-A1", "sensor_fever", "high", "temperature >= 38.0 °C: 38.7", now, MonitoringRules())
        s.commit()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


def _login(browser, server: str, user: str, viewport=(1200, 900)):  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = ctx.new_page()
    page.on("console", lambda m: m.type == "error" and CONSOLE_ERRORS.append(f"{user}: {m.text}"))
    page.on("pageerror", lambda e: CONSOLE_ERRORS.append(f"{user}: {e}"))
    page.goto(f"{server}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return ctx, page


@pytest.mark.parametrize(
    ("user", "links"),
    [
        ("scientist", ["Signals", "Monitoring", "Registry", "Password"]),
        ("investigator", ["Monitoring", "Password"]),
        ("regulator", ["Signals", "Registry", "Password"]),
        ("patient", ["My symptoms", "Password"]),
        ("admin", ["Signals", "Monitoring", "Registry", "Users", "Password"]),
    ],
)
def test_each_role_sees_only_its_pages(browser, server: str, user: str, links: list[str]) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _login(browser, server, user)
    assert page.locator("nav[aria-label=main] a").all_inner_texts() == links
    if user == "regulator":
        page.goto(f"{server}/patients/P-A1")
        assert "may not see this page" in page.content()
    ctx.close()


def test_investigator_acknowledges_an_alert(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx, page = _login(browser, server, "investigator")
    page.goto(f"{server}/monitoring")
    page.screenshot(path=str(SHOTS / "monitoring-board.png"))
    page.click("text=P-A1")
    assert page.locator(".alerts > li").count() == 1
    page.click("button:has-text('Acknowledge')")
    page.wait_for_url(re.compile(r".*/patients/P-A1"))
    assert "(acknowledged" in page.locator(".alerts > li").inner_text()
    page.screenshot(path=str(SHOTS / "patient.png"), full_page=True)
    ctx.close()


def test_patient_submits_epro_on_a_phone(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _login(browser, server, "patient", viewport=(390, 844))
    assert page.url.endswith("/epro")
    page.check("input[name=cgt_confusion]")
    page.click("button:has-text('Send to my care team')")
    assert "Thank you" in page.locator("[role=status]").inner_text()
    page.screenshot(path=str(SHOTS / "epro-phone.png"), full_page=True)
    ctx.close()


def test_log_out_ends_the_session_for_a_saved_cookie(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    """Security review M1: a cookie saved before log-out no longer reads patient pages."""
    ctx, page = _login(browser, server, "investigator")
    saved = ctx.cookies()
    page.goto(f"{server}/patients/P-A1")
    assert "Patient P-A1" in page.content()
    page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r".*/login$"))
    ctx.close()
    thief = browser.new_context()
    thief.add_cookies(saved)
    stolen = thief.new_page()
    stolen.goto(f"{server}/patients/P-A1")
    assert stolen.url.endswith("/login") and "Patient P-A1" not in stolen.content()
    thief.close()


def test_pages_pass_the_content_security_policy(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    """Every page under the strict policy (no inline script, no eval): the chart is drawn and
    no page logged an error (a CSP violation is a console error)."""
    ctx, page = _login(browser, server, "admin")
    for path in ("/", "/monitoring", "/registry", "/admin/users", "/account/password", "/signals"):
        page.goto(f"{server}{path}")
    page.goto(f"{server}/patients/P-A1")
    page.wait_for_selector(".chart svg", timeout=10_000)
    assert "script-src 'self';" in ctx.request.get(f"{server}/").headers["content-security-policy"]
    ctx.close()
    # HTTP errors the tests provoke (a 403 page, a missing favicon) are not script errors
    assert [e for e in CONSOLE_ERRORS if "Failed to load resource" not in e] == []
