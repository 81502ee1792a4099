"""The signal workflow through the pages and the JSON API (TestClient): a sponsor's scientist
opens a signal from a screen row, advances it with a signature (a wrong password shows the
page again, nothing signed), shares it; the reviewer sees it read-only, another sponsor does
not see it; a validated signal opens a risk of the register; a re-screen of a new snapshot
flags new cases. SQLite and PostgreSQL; the SYNTHETIC screens of ``_signal_data``."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.config import Settings

from ._signal_data import ROW, synthetic_screens
from .test_web import PASSWORD, _csrf, cheap_argon2, login  # noqa: F401  (fixture)

USERS = {
    "sci": ("safety_scientist", {"sponsor_products": ("kymriah",)}),
    "yes": ("safety_scientist", {"sponsor_products": ("yescarta",)}),
    "reg": ("regulator_reviewer", {}),
    "adm": ("administrator", {}),
}


@pytest.fixture(scope="module")
def screens(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return synthetic_screens(tmp_path_factory.mktemp("signal-web"))


@pytest.fixture
def client(screens: tuple[Path, Path], operational_url: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    request.getfixturevalue("cheap_argon2")
    current = tmp_path / "screen.parquet"
    shutil.copy(screens[0], current)
    app = create_app(
        Settings(db=tmp_path / "none.duckdb", screen_result=current, operational_url=operational_url, secret_key="k")
    )
    with app.state.sessions() as s:
        for name, (role, extra) in USERS.items():
            create_user(s, username=f"{name}.user", password=PASSWORD, role=role, at=datetime.now(UTC), **extra)  # type: ignore[arg-type]
        s.commit()
    with TestClient(app) as c:
        c.screen_path = current  # type: ignore[attr-defined]
        yield c
    app.state.engine.dispose()


def _post(client: TestClient, path: str, page: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post(path, data={"csrf": _csrf(client.get(page).text), **form}, follow_redirects=False)


def test_a_signal_from_a_screen_row_to_a_decision(client: TestClient, screens: tuple[Path, Path]) -> None:
    drug, level, event = ROW
    login(client, "reg")
    assert "open a signal" not in client.get("/signals?product=Kymriah").text  # a reviewer opens none
    login(client, "sci")
    screen = client.get("/signals?product=Kymriah&level=pt").text
    assert "/workflow/signals/new?drug=Kymriah&amp;level=pt&amp;event=MALIGNANT%20NEOPLASM%20PROGRESSION" in screen
    proposed = client.get(f"/workflow/signals/new?drug={drug}&level={level}&event={event}")
    assert proposed.status_code == 200 and "data snapshot" in proposed.text
    r = _post(client, "/workflow/signals", "/workflow/signals", drug=drug, level=level, event=event, priority="high")
    assert (r.status_code, r.headers["location"]) == (303, "/workflow/signals/1")
    page = client.get("/workflow/signals/1").text
    assert 'aria-current="step">Detection' in page and "n 12" in page

    step = {"to": "validation", "rationale": "case review of the 12 reports", "meaning": "review"}
    wrong = _post(client, "/workflow/signals/1/advance", "/workflow/signals/1", **step, password="not my password")
    assert wrong.status_code == 400 and "Nothing was signed" in wrong.text and "password is wrong" in wrong.text
    assert (
        _post(client, "/workflow/signals/1/advance", "/workflow/signals/1", **step, password=PASSWORD).status_code
        == 303
    )
    page = client.get("/workflow/signals/1").text
    assert 'aria-current="step">Validation' in page and "signed (review)" in page

    # the JSON API: the same service, a write with the page's CSRF token in the header
    token = _csrf(page)
    body = {"to": "analysis", "rationale": "no EU network step", "meaning": "approval", "password": PASSWORD}
    api = client.post("/api/v1/workflow/signals/1/advance", json=body, headers={"X-CSRF-Token": token})
    assert api.status_code == 200, api.text
    assert api.json()["state"] == "analysis" and api.json()["events"][-1]["meaning"] == "approval"
    refused = client.post(
        "/api/v1/workflow/signals/1/advance",
        json=body | {"to": "assessment", "password": "x"},
        headers={"X-CSRF-Token": token},
    )
    assert refused.status_code == 400 and "password is wrong" in refused.json()["detail"]

    # a validated signal opens a risk in the register (linked both ways)
    r = _post(
        client,
        "/workflow/signals/1/risk",
        "/workflow/signals/1",
        key="malignant-progression",
        name="Malignant neoplasm progression",
        category="important_potential",
        preferred_terms=event,
        rationale="validated disproportionality, 12 cases",
    )
    assert r.status_code == 303, r.text
    assert re.search(
        r"Risk of the register: <b>kymriah/malignant-progression@v\d+</b>", client.get("/workflow/signals/1").text
    )

    assert _post(client, "/workflow/signals/1/share", "/workflow/signals/1", reviewer="reg.user").status_code == 303
    login(client, "yes")
    assert client.get("/workflow/signals/1").status_code == 404  # another sponsor: as if it did not exist
    assert client.get("/api/v1/workflow/signals").json() == []
    login(client, "reg")
    shared = client.get("/workflow/signals/1")
    assert (
        shared.status_code == 200
        and "Sign and move" not in shared.text
        and "Sharing with regulators" not in shared.text
    )
    assert [s["id"] for s in client.get("/api/v1/workflow/signals").json()] == [1]

    # a new snapshot of the screen: the open signal's row is brought up to it and flagged
    login(client, "sci")
    shutil.copy(screens[1], client.screen_path)  # type: ignore[attr-defined]
    report = _post(client, "/workflow/rescreen", "/workflow/signals")
    assert report.status_code == 200 and "+11 cases" in report.text
    assert "+11 cases" in client.get("/workflow/signals").text

    close = {"to": "closed", "outcome": "confirmed_risk", "rationale": "risk added to the RMP", "meaning": "approval"}
    for to in ("assessment", "recommendation"):
        assert (
            _post(
                client,
                "/workflow/signals/1/advance",
                "/workflow/signals/1",
                **(close | {"to": to, "outcome": ""}),
                password=PASSWORD,
            ).status_code
            == 303
        )
    assert (
        _post(client, "/workflow/signals/1/advance", "/workflow/signals/1", **close, password=PASSWORD).status_code
        == 303
    )
    final = client.get("/api/v1/workflow/signals/1").json()
    assert (final["state"], final["outcome"], final["flag"]) == ("closed", "confirmed_risk", "")
    assert [e["to_state"] for e in final["events"] if e["kind"] == "transition"] == [
        "validation",
        "analysis",
        "assessment",
        "recommendation",
        "closed",
    ]
