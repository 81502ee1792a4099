"""Browser tests: Playwright driving Debian's Chromium against the application served by
uvicorn on loopback. Screenshots of the main pages go to test-output/screenshots/."""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from browser._serve import served  # tests/ is on the path (rootdir conftest)
from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation, SignalSpec
from cgtvigil.monitoring import MonitoringRules, raise_alert, register_patient, store_observations
from cgtvigil.screening import ingest_faers, screen_store, write_result
from cgtvigil.store import FaersStore, load_products, load_topics

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
AXE = Path(__file__).resolve().parents[2] / "web-assets" / "node_modules" / "axe-core" / "axe.min.js"
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
def server(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> Iterator[str]:
    assert CHROMIUM, "Debian's chromium is installed by `make test` (scripts/test.sh)"
    tmp = tmp_path_factory.mktemp("browser")
    db = tmp / "faers.duckdb"
    with FaersStore(db) as store:  # the real 2017Q2 sample, screened
        ingest_faers([faers_samples / "faers_ascii_2017q2.zip"], store, load_products())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a 100-report sample has many zero cells
            result = screen_store(store, SignalSpec(products_only=False, strata=()), load_products(), load_topics())
    write_result(result, tmp / "screen.parquet")
    from cgtvigil.cli._demo import fit_demo_models

    app = create_app(
        Settings(
            operational_url=f"sqlite:///{tmp / 'op.db'}",
            secret_key="browser-test",
            db=db,
            screen_result=tmp / "screen.parquet",
            forecast_model=fit_demo_models(tmp / "models", bootstrap=3),  # SYNTHETIC CRS/ICANS course models
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
    with served(app) as url:
        yield url


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


def _login(browser, server: str, user: str, viewport=(1200, 900), zone: str | None = None):  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, timezone_id=zone)
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
        (
            "scientist",
            [
                "Signals",
                "Signal workflow",
                "Cases",
                "Monitoring",
                "Follow-up",
                "Registry",
                "Risk registers",
                "Reports",
                "Password",
            ],
        ),
        ("investigator", ["Monitoring", "Follow-up", "Password"]),
        ("regulator", ["Signals", "Signal workflow", "Cases", "Registry", "Risk registers", "Reports", "Password"]),
        ("patient", ["My symptoms", "Password"]),
        (
            "admin",
            [
                "Signals",
                "Signal workflow",
                "Cases",
                "Monitoring",
                "Follow-up",
                "Registry",
                "Risk registers",
                "Reports",
                "Users",
                "Password",
            ],
        ),
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


def test_patient_page_draws_the_risk_curve(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    """The forecast section: the risk curve drawn by vega-embed (band, lines, thresholds) and the
    table of outcomes with the inputs that moved them (issue 16)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx, page = _login(browser, server, "investigator")
    page.goto(f"{server}/patients/P-A1")
    chart = page.locator("#forecast .chart")
    chart.locator("svg, canvas").first.wait_for(timeout=10_000)
    assert page.locator("#risk tbody tr").count() == 4
    assert "CRS onset (grade ≥ 1)" in page.locator("#risk").inner_text()
    chart.screenshot(path=str(SHOTS / "risk-curve.png"))
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
    for path in ("/", "/monitoring", "/registry", "/admin/users", "/account/password", "/account/tokens", "/signals"):
        page.goto(f"{server}{path}")
    page.goto(f"{server}/docs")  # Swagger UI from the package's files, under the same policy
    page.wait_for_selector(".swagger-ui .opblock", timeout=10_000)
    assert page.locator(".opblock-summary-path", has_text="/api/v1/signals").count() >= 1
    page.goto(f"{server}/patients/P-A1")
    page.wait_for_selector(".chart svg", timeout=10_000)
    assert "script-src 'self';" in ctx.request.get(f"{server}/").headers["content-security-policy"]
    ctx.close()
    # HTTP errors the tests provoke (a 403 page, a missing favicon) are not script errors
    assert [e for e in CONSOLE_ERRORS if "Failed to load resource" not in e] == []


def _axe(page) -> list[str]:  # type: ignore[no-untyped-def]
    """axe-core (npm, web-assets) WCAG 2.1 A/AA violations of the page, as 'rule: target'."""
    page.evaluate(AXE.read_text())  # evaluated by the test harness, not a page script (CSP)
    found = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        ".then(r => r.violations.map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')))"
    )
    return list(found)


@pytest.mark.parametrize("viewport", [(1200, 900), (390, 844)], ids=["desktop", "phone"])
def test_pages_meet_wcag_aa(browser, server: str, viewport: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    """Contrast (muted text was 4.29:1), names of controls, landmarks: no axe violation."""
    assert AXE.exists(), "axe-core comes from npm: make (web-assets/package.json devDependencies)"
    for user, paths in (
        (
            "admin",
            (
                "/signals",
                "/signals/cases?drug=risperidone&event=ABNORMAL%20WEIGHT%20GAIN",
                "/monitoring",
                "/patients/P-A1",
                "/registry",
                "/account/tokens",
            ),
        ),
        ("patient", ("/epro",)),
    ):
        ctx, page = _login(browser, server, user, viewport=viewport)
        for path in paths:
            page.goto(f"{server}{path}")
            page.wait_for_load_state("networkidle")
            assert _axe(page) == [], (user, path)
        if user == "patient":  # the check can fail: the old muted grey (4.29:1) is a violation
            page.evaluate(
                "document.querySelector('main').insertAdjacentHTML('beforeend',"
                " '<p style=\"color:#6b7785;background:#f6f8fa\">old muted text</p>')"
            )
            assert [v for v in _axe(page) if v.startswith("color-contrast")], "axe did not run"
        ctx.close()


def test_signals_on_a_phone_scroll_the_table_not_the_page(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _login(browser, server, "scientist", viewport=(390, 844))
    page.goto(f"{server}/signals?level=pt")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate(
        "(() => { const e = document.querySelector('.table-scroll'); return e.scrollWidth > e.clientWidth })()"
    )
    page.screenshot(path=str(SHOTS / "signals-phone.png"))
    ctx.close()


def test_signals_sort_by_keyboard_both_ways_and_search(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _login(browser, server, "scientist")
    page.goto(f"{server}/signals?level=pt")
    page.locator("th a[href*='sort=n&']").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*sort=n&order=desc.*"))
    assert page.locator("th[aria-sort=descending]").inner_text().startswith("n")
    page.locator("th a[href*='sort=n&']").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*sort=n&order=asc.*"))
    ns = [int(t) for t in page.locator("#signals tbody tr td:nth-child(4)").all_inner_texts()]
    assert ns == sorted(ns)
    page.fill("input[name=q]", "weight gain")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*q=weight\+gain.*"))
    events = page.locator("#signals tbody tr td:nth-child(2)").all_inner_texts()
    assert events and all("WEIGHT GAIN" in t.upper() for t in events)
    page.locator("#signals a", has_text="cases").first.click()
    assert "back to the screen" in page.content() and "case" in page.locator("main p b").first.inner_text()
    page.click("text=back to the screen")
    page.wait_for_url(re.compile(r".*/signals\?.*q=weight.*"))
    ctx.close()


def test_times_in_the_viewers_zone_with_the_zone_named(browser, server: str) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _login(browser, server, "investigator", zone="Asia/Tokyo")
    page.goto(f"{server}/patients/P-A1")
    shown = page.locator(".alerts time").first
    assert "GMT+9" in shown.inner_text() and shown.get_attribute("title").endswith("UTC")
    page.wait_for_selector(".chart svg", timeout=10_000)
    assert "days since infusion" in page.locator(".chart").first.inner_text()
    ctx.close()
