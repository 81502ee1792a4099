"""The learned priority on the signals page and in /api/v1/signals (shown, sorted, exported),
and the time-to-onset chart of the drill-down and /api/v1/signals/onset, on SYNTHETIC quarters
ranked by a model fitted on the generator's manifest."""

from __future__ import annotations

import html
import json
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cgtvigil.access import create_user
from cgtvigil.api import create_app
from cgtvigil.config import Settings
from cgtvigil.model import SignalSpec
from cgtvigil.screening import (
    add_priority,
    fit_reference,
    ingest_faers,
    load_reference_set,
    pair_features,
    ranking_document,
    score_features,
    screen_store,
    write_result,
)
from cgtvigil.store import FaersStore, load_products, load_topics
from cgtvigil.synth import SynthConfig, generate_faers

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def ranked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("web_rank")
    quarters = tuple(f"{y}Q{q}" for y in (2023, 2024) for q in range(1, 5))
    cfg = SynthConfig(
        reports_per_quarter=2500, quarters=quarters, seed=11, n_drugs=250, n_tail_events=500, n_planted=25
    )
    synth = generate_faers(tmp / "zips", load_products(), cfg)
    db = tmp / "s.duckdb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with FaersStore(db) as store:
            ingest_faers(synth.zips, store, load_products())
        with FaersStore(db, read_only=True) as store:
            feats = pair_features(store, load_products())
            ranker, mapping = fit_reference(feats, load_reference_set(synth.manifest), load_products())
            screen = screen_store(store, SignalSpec(products_only=False), load_products(), load_topics())
    doc = ranking_document(ranker, mapping, feats)
    out = tmp / "ranked.parquet"
    write_result(add_priority(screen, score_features(feats, ranker), doc), out)
    return db, out, json.loads(synth.manifest.read_text())


@pytest.fixture
def client(ranked: tuple, operational_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    from cgtvigil.access import _passwords

    monkeypatch.setattr(_passwords, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _passwords._dummy_hash.cache_clear()
    db, result, _ = ranked
    app = create_app(Settings(db=db, screen_result=result, operational_url=operational_url, secret_key="test-key"))
    with app.state.sessions() as s:
        create_user(
            s,
            username="sci.user",
            password=PASSWORD,
            role="safety_scientist",
            at=datetime.now(UTC),
            sponsor_products=("kymriah",),
        )
        s.commit()
    with TestClient(app) as c:
        token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)  # type: ignore[union-attr]
        c.post("/login", data={"username": "sci.user", "password": PASSWORD, "csrf": token})
        yield c
    app.state.engine.dispose()
    _passwords._dummy_hash.cache_clear()


def test_signals_page_shows_and_sorts_by_priority(client: TestClient) -> None:
    page = html.unescape(client.get("/signals?level=pt&sort=priority&order=asc").text)
    assert "Priority" in page
    first = re.search(r"<tbody>.*?</tr>", page, re.S)
    assert first and re.search(r"<td>1 <small", first.group(0)), first
    assert any(name in first.group(0) for name in ("completeness", "log_ror_lower", "hp_share", "dechallenge_pos",
                                                    "log_countries", "fatal_share", "log2_eb05"))  # fmt: skip
    # a new column opens with its best first: priority ascending, a statistic descending
    assert 'href="/signals?level=pt&sort=priority&order=desc' in page
    assert 'href="/signals?level=pt&sort=eb05&order=desc' in page


def test_api_sorts_by_priority_both_ways_and_exports_it(client: TestClient) -> None:
    up = client.get("/api/v1/signals?level=pt&sort=priority&order=asc&page_size=5").json()
    assert up["ranked"] is True
    assert [r["priority"] for r in up["rows"]] == [1, 2, 3, 4, 5]
    assert up["rows"][0]["priority_score"] >= up["rows"][4]["priority_score"]
    assert up["rows"][0]["priority_explanation"].count(", ") == 2
    down = client.get("/api/v1/signals?level=pt&sort=priority&order=desc&page_size=1").json()
    assert down["rows"][0]["priority"] == up["total"]
    topics = client.get("/api/v1/signals?level=topic&sort=priority&page_size=3").json()
    assert all(r["priority"] is None for r in topics["rows"])
    csv_text = client.get("/signals.csv?level=pt&sort=priority&order=asc").text
    header, first = csv_text.splitlines()[:2]
    assert "priority,priority_score,priority_explanation" in header and ",1," in first


def test_drill_down_and_api_show_the_time_to_onset(client: TestClient, ranked: tuple) -> None:
    """The planted true signal with the most usable onsets: the page's histogram holds every one of
    the API's onsets, and the fit's expected counts are drawn over it."""
    manifest = ranked[2]
    views = [
        client.get("/api/v1/signals/onset", params={"drug": t["drug"], "event": t["event"].upper()})
        for t in manifest["true_signals"]
    ]
    api = max((v.json() for v in views if v.status_code == 200), key=lambda v: len(v["onsets"]))
    drug, event = api["drug"], api["event"]
    assert len(api["onsets"]) >= 3 and api["fit"] is not None
    assert api["pairs"] == sum(api["statuses"].values()) and len(api["onsets"]) == api["statuses"]["ok"]
    assert all(o["lower"] <= o["upper"] for o in api["onsets"])
    page = client.get("/signals/cases", params={"drug": drug, "event": event}).text
    assert "Time to onset" in page
    specs = [json.loads(html.unescape(s)) for s in re.findall(r"data-vega='([^']*)'", page)]
    onset = next(s for s in specs if "layer" in s and s["layer"][0]["data"]["values"][0].get("onsets") is not None)
    assert sum(b["onsets"] for b in onset["layer"][0]["data"]["values"]) == len(api["onsets"])
    assert "Weibull shape" in page and len(onset["layer"]) == 2
    expected = sum(p["expected"] for p in onset["layer"][1]["data"]["values"])
    assert expected == pytest.approx(len(api["onsets"]), rel=0.5)  # the fit's mass over the plotted days
    missing = client.get("/api/v1/signals/onset", params={"drug": "no such drug", "event": event})
    assert missing.status_code == 404
