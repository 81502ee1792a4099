"""The risk-register pages in Debian's Chromium (Playwright): a sponsor opens the register list,
the alignment of a CAR-T product after the June 2025 REMS elimination and the indicators of an
AAV product, whose trend chart is drawn by vega-embed without a console error."""

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
from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation
from cgtvigil.monitoring import register_patient, store_observations
from cgtvigil.store import load_products

CHROMIUM = shutil.which("chromium")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert CHROMIUM, "Debian's chromium is installed by `make test` (scripts/test.sh)"
    tmp: Path = tmp_path_factory.mktemp("risk-browser")
    app = create_app(Settings(operational_url=f"sqlite:///{tmp / 'op.db'}", secret_key="browser-test"))
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        products = load_products()
        obs = []
        for q, start in enumerate((date(2025, 1, 6), date(2025, 4, 7), date(2025, 7, 7))):
            for k in range(6):  # six patients a quarter; the later quarters test more reliably
                pid = f"Z-{q}-{k}"
                register_patient(s, products, patient=pid, site="A", product="zolgensma", infusion_date=start)
                missed = k < 3 - q  # 3, 2, 1 patients miss week 4
                for w in range(12):
                    if missed and w == 3:
                        continue
                    t = datetime(start.year, start.month, start.day, 9, tzinfo=UTC) + timedelta(days=7 * w + 1)
                    obs.append(Observation(patient=pid, kind="alt", value=30.0, unit="U/L", time=t, source="fhir"))
        store_observations(s, IntakeResult(obs), now)
        create_user(
            s,
            username="sci",
            password=PASSWORD,
            role="safety_scientist",
            at=now,
            sponsor_products=("zolgensma", "kymriah"),
        )
        s.commit()
    with served(app) as url:
        yield url


def test_register_alignment_and_indicator_chart(server: str, tmp_path: Path) -> None:
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server}/login")
        page.fill("input[name=username]", "sci")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.click("text=Risk registers")
        assert page.locator("#registers tbody tr").count() == 2  # the sponsor's two products
        page.goto(f"{server}/risk/kymriah/alignment?on=2025-07-01")
        assert "additional measures EU only" in page.inner_text("#alignment")
        assert "FDA eliminates the REMS" in page.inner_text("#history")
        page.goto(f"{server}/risk/zolgensma/indicators")
        page.wait_for_selector(".chart svg, .chart canvas", timeout=15_000)
        text = page.inner_text("main")
        assert "2025Q1" in text and "0.50" in text and "0.83" in text  # 3/6 and 5/6 on schedule
        page.screenshot(path=str(tmp_path / "indicators.png"), full_page=True)
        browser.close()
    assert [e for e in errors if "Failed to load resource" not in e] == []  # (the favicon is missing)
