"""A consent withdrawal through the follow-up page in Debian's Chromium (Playwright): the site
investigator withdraws a patient's data-sharing consent with the page's form; the sponsor, who
saw the patient in the follow-up work list and on the timeline before, sees neither afterwards
(the one consent rule of the store), and the patient's own page shows the withdrawal."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import playwright.sync_api as playwright
import pytest

from browser._serve import served  # tests/ is on the path (rootdir conftest)
from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.followup import plan_patient
from cgtvigil.monitoring import register_patient
from cgtvigil.store import load_ltfu_rules, load_products

CHROMIUM = shutil.which("chromium")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert CHROMIUM, "Debian's chromium is installed by `make test` (scripts/test.sh)"
    tmp: Path = tmp_path_factory.mktemp("followup-browser")
    app = create_app(
        Settings(operational_url=f"sqlite:///{tmp / 'op.db'}", secret_key="browser-test", db=tmp / "cases.duckdb")
    )
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        products = load_products()
        day0 = now.date() - timedelta(days=365 * 3 + 10)  # the year-3 visit is overdue now
        register_patient(
            s, products, patient="P-W1", site="A", product="skysona", infusion_date=day0, birth_date=date(2012, 3, 1)
        )
        plan_patient(s, "P-W1", products, load_ltfu_rules(), now)
        create_user(s, username="inv", password=PASSWORD, role="site_investigator", at=now, site="A")
        create_user(
            s, username="sci", password=PASSWORD, role="safety_scientist", at=now, sponsor_products=("skysona",)
        )
        create_user(s, username="pat", password=PASSWORD, role="patient", at=now, patient_id="P-W1")
        s.commit()
    with served(app) as url:
        yield url


def _login(page: playwright.Page, server: str, name: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{server}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_withdrawal_through_the_page_hides_the_patient_from_the_sponsor(server: str, tmp_path: Path) -> None:
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        _login(page, server, "sci")  # before: the sponsor sees the patient in both views
        page.goto(f"{server}/followup")
        assert "P-W1" in page.inner_text("main")
        assert page.goto(f"{server}/followup/patients/P-W1").status == 200  # type: ignore[union-attr]
        assert page.locator("form.consent-form").count() == 0  # a sponsor records no consent
        _login(page, server, "inv")
        page.goto(f"{server}/followup/patients/P-W1")
        page.click("text=Record a consent or a withdrawal")
        form = page.locator("form.consent-form")
        form.locator("select[name=use]").select_option("data_sharing")
        form.locator("select[name=kind]").select_option("permission")
        form.locator("select[name=signer]").select_option("parent")
        form.locator("input[name=form_version]").fill("ICF-3")
        form.locator("input[name=withdraw]").check()
        form.locator("button").click()
        notice = page.inner_text("#consent-notice")
        assert "withdrawal of data sharing" in notice and "data sharing withdrawn" in notice
        assert "data sharing: withdrawn" in page.inner_text("#consent")
        page.screenshot(path=str(tmp_path / "withdrawn.png"), full_page=True)
        _login(page, server, "sci")  # after: neither the work list nor the timeline shows the patient
        page.goto(f"{server}/followup")
        assert "P-W1" not in page.inner_text("main")
        assert page.goto(f"{server}/followup/patients/P-W1").status == 404  # type: ignore[union-attr]
        assert page.goto(f"{server}/api/v1/followup/patients/P-W1").status == 404  # type: ignore[union-attr]
        _login(page, server, "pat")  # the patient sees their own consent state
        page.goto(f"{server}/followup/patients/P-W1")
        assert "data sharing: withdrawn" in page.inner_text("#consent")
        assert page.locator("form.consent-form").count() == 0
        browser.close()
    assert [e for e in errors if "Failed to load resource" not in e] == []  # (the 404s above, the favicon)
