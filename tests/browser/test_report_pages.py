"""The periodic-report pages in Debian's Chromium (Playwright): a sponsor's safety scientist
opens Reports from the navigation, fills in the PBRER form for their product, lands on the
stored report (spec and named inputs), downloads its HTML (the signal table as at the data lock
point) and shares it; the regulator reviewer then finds it in their list. Data: SYNTHETIC FAERS
quarters from `cgtvigil synth faers` and one signal of the workflow."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import playwright.sync_api as playwright
import pytest
from typer.testing import CliRunner

from browser._serve import served  # tests/ is on the path (rootdir conftest)
from cgtvigil.access import create_user, scope_for
from cgtvigil.api import create_app
from cgtvigil.cli import app as cli
from cgtvigil.config import Settings
from cgtvigil.signal_management import SignalDraft, create_signal, load_timelines
from cgtvigil.store import UserRow

CHROMIUM = shutil.which("chromium")
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert CHROMIUM, "Debian's chromium is installed by `make test` (scripts/test.sh)"
    tmp: Path = tmp_path_factory.mktemp("report-browser")
    runner = CliRunner()
    made = runner.invoke(
        cli, ["synth", "faers", str(tmp / "zips"), "--reports-per-quarter", "300", "--quarters", "2024Q2"]
    )
    assert made.exit_code == 0, made.output
    db = tmp / "analytic.duckdb"
    loaded = runner.invoke(cli, ["ingest", "faers", *map(str, sorted((tmp / "zips").glob("*.zip"))), "--db", str(db)])
    assert loaded.exit_code == 0, loaded.output
    app = create_app(Settings(db=db, operational_url=f"sqlite:///{tmp / 'op.db'}", secret_key="browser-test"))
    now = datetime.now(UTC)
    with app.state.sessions() as s:
        create_user(
            s, username="sci", password=PASSWORD, role="safety_scientist", at=now, sponsor_products=("kymriah",)
        )
        create_user(s, username="reg", password=PASSWORD, role="regulator_reviewer", at=now)
        s.commit()
        draft = SignalDraft(
            title="CRS cluster",
            product_id="kymriah",
            event_type="topic",
            event="crs",
            source_kind="case_series",
            source_ref="browser test",
        )
        create_signal(
            s,
            scope_for(s.get(UserRow, "sci")),  # type: ignore[arg-type]
            draft,
            at=datetime(2024, 5, 2, tzinfo=UTC),
            timelines=load_timelines(),
        )
        s.commit()
    with served(app) as url:
        yield url


def _login(page: playwright.Page, server: str, name: str) -> None:
    page.goto(f"{server}/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_generate_download_and_share_a_pbrer(server: str, tmp_path: Path) -> None:
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        ctx = browser.new_context(accept_downloads=True)
        page = ctx.new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        _login(page, server, "sci")
        page.click("nav[aria-label=main] >> text=Reports")
        page.select_option("select[name=kind]", "pbrer")
        page.select_option("select[name=product]", ["kymriah"])
        page.fill("input[name=interval_start]", "2024-04-01")
        page.fill("input[name=data_lock_point]", "2024-06-30")
        page.uncheck("input[name=pdf]")  # (the PDF is checked by the TestClient tests)
        page.click("#generate button")
        page.wait_for_url(f"{server}/reports/1")
        inputs = page.inner_text("#inputs")
        assert "faers-store" in inputs and "risk-register" in inputs and "signal workflow" in inputs
        with page.expect_download() as info:
            page.click("text=Download HTML")
        saved = tmp_path / "pbrer.html"
        info.value.save_as(saved)
        document = saved.read_text("utf-8")
        assert "Signals of the period" in document and "CRS cluster" in document and "Detection" in document
        page.fill("input[name=reviewer]", "reg")
        page.click("button:has-text('Share')")
        assert "Stop sharing" in page.inner_text("main")
        ctx.close()
        ctx = browser.new_context()
        page = ctx.new_page()
        _login(page, server, "reg")
        page.goto(f"{server}/reports")
        assert page.locator("#reports tbody tr").count() == 1 and page.locator("#generate").count() == 0
        page.click("#reports tbody a >> nth=0")
        assert "Stop sharing" not in page.inner_text("main")
        ctx.close()
        browser.close()
    assert [e for e in errors if "Failed to load resource" not in e] == []  # (the favicon is missing)
