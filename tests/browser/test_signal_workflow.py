"""Browser test of the signal workflow (issue 15): Playwright driving Debian's Chromium against
the application served by uvicorn on loopback. A sponsor's safety scientist opens a signal
from a row of the screen, signs each GVP IX step with their password, opens a risk in the
product's register from the validated signal and closes it as a confirmed risk; the shared
signal is read-only for the regulator reviewer. Data: the SYNTHETIC screens of
tests/integration/_signal_data.py. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from browser._serve import served  # tests/ is on the path (rootdir conftest)
from cgtvigil.access import create_user, scope_for
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.risk_management import register_view
from cgtvigil.store import UserRow, load_products
from integration._signal_data import ROW, synthetic_screens  # tests/ is on the path (rootdir conftest)

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "correct horse battery staple"
USERS = {
    "scientist": ("safety_scientist", {"sponsor_products": ("kymriah",)}),
    "regulator": ("regulator_reviewer", {}),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    assert CHROMIUM, "Debian's chromium is installed by `make test` (scripts/test.sh)"
    tmp = tmp_path_factory.mktemp("browser-signals")
    first, _ = synthetic_screens(tmp)
    app = create_app(
        Settings(
            operational_url=f"sqlite:///{tmp / 'op.db'}",
            secret_key="browser-test",
            db=tmp / "faers.duckdb",
            screen_result=first,
        )
    )
    with app.state.sessions() as s:
        for name, (role, extra) in USERS.items():
            create_user(s, username=name, password=PASSWORD, role=role, at=datetime.now(UTC), **extra)  # type: ignore[arg-type]
        s.commit()
    with served(app) as url:
        yield url, app


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        yield b
        b.close()


def _login(browser, url: str, user: str):  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return ctx, page, errors


def _sign(page, to: str, rationale: str, meaning: str = "approval", outcome: str = "", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    form = page.locator("#advance form")
    form.locator("select[name=to]").select_option(to)
    if outcome:
        form.locator("select[name=outcome]").select_option(outcome)
    form.locator("textarea[name=rationale]").fill(rationale)
    form.locator("select[name=meaning]").select_option(meaning)
    form.locator("input[name=password]").fill(password)
    form.locator("button:has-text('Sign and move')").click()
    page.wait_for_load_state()


def test_a_screen_row_to_a_closed_decision_and_a_risk(browser, server) -> None:  # type: ignore[no-untyped-def]
    url, app = server
    drug, _, event = ROW
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx, page, errors = _login(browser, url, "scientist")
    page.goto(f"{url}/signals?product={drug}&level=pt")
    page.locator(f"tr:has-text('{event}') a.open-signal").click()
    page.wait_for_url(re.compile(r".*/workflow/signals/new\?.*"))
    assert "rules met" in page.content()
    page.click("button:has-text('Open the signal')")
    page.wait_for_url(re.compile(r".*/workflow/signals/\d+$"))
    signal_url = page.url
    assert page.locator("ol.steps li.current").inner_text() == "Detection"

    _sign(page, "validation", "review of the 12 cases", meaning="review", password="a wrong password")
    assert "Nothing was signed" in page.locator("#problems").inner_text()
    _sign(page, "validation", "review of the 12 cases", meaning="review")
    assert page.locator("ol.steps li.current").inner_text() == "Validation"
    _sign(page, "analysis", "validated: disproportionate and plausible; no EU network step")

    risk = page.locator("#open-risk form")
    risk.locator("input[name=key]").fill("malignant-progression")
    risk.locator("select[name=category]").select_option("important_potential")
    risk.locator("input[name=rationale]").fill("validated signal of malignant progression")
    risk.locator("button").click()
    page.wait_for_load_state()
    ref = page.locator("#risk b").inner_text()
    assert ref.startswith("kymriah/malignant-progression@v")

    _sign(page, "assessment", "assessed with the cumulative data")
    _sign(page, "recommendation", "update the RMP")
    _sign(page, "closed", "added to the RMP as an important potential risk", outcome="confirmed_risk")
    assert page.locator("#outcome").inner_text() == "confirmed risk"
    assert page.locator("ol.steps li.current").inner_text() == "Closed"
    assert page.locator("#timeline tbody tr").count() == 7  # created, 5 signed steps and the risk link
    page.screenshot(path=str(SHOTS / "signal-closed.png"), full_page=True)

    # the register holds the risk, with the signal on its side
    with app.state.sessions() as s:
        view = register_view(s, scope_for(s.get(UserRow, "scientist")), load_products(), "kymriah")
    assert "malignant-progression" in view.model_dump_json()

    page.locator("#sharing input[name=reviewer]").fill("regulator")
    page.locator("#sharing button:has-text('Share')").click()
    page.wait_for_load_state()
    assert "Shared with regulator" in page.locator("#sharing").inner_text()
    ctx.close()

    ctx, page, reviewer_errors = _login(browser, url, "regulator")
    page.goto(signal_url)
    assert page.locator("#outcome").inner_text() == "confirmed risk"
    assert page.locator("#advance").count() == 0 and page.locator("#sharing").count() == 0  # read-only
    ctx.close()
    # no script or policy error on any page; the one refused request is the wrong signature
    # ("Failed to load resource" is the console's note of a 4xx, the favicon's 404 among them)
    assert [e for e in errors + reviewer_errors if not e.startswith(("Failed to load resource", "400 "))] == []
    assert [e.split("/", 3)[-1] for e in errors if e.startswith("400 ")] == ["workflow/signals/1/advance"]
