"""End to end on SYNTHETIC data with known truth: the generator's zips go through the real
ingester and the screen; de-duplication and planted signals are checked against its manifest."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from cgtvigil.errors import StatisticalCaveatWarning
from cgtvigil.model import SignalSpec
from cgtvigil.screening import ingest_faers, screen_store
from cgtvigil.store import FaersStore, load_products, load_topics
from cgtvigil.synth import SynthConfig, generate_faers


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, object]:
    tmp = tmp_path_factory.mktemp("synth")
    cfg = SynthConfig(reports_per_quarter=6000, seed=7, n_drugs=300, n_tail_events=600, n_planted=12)
    synth = generate_faers(tmp / "zips", load_products(), cfg)
    manifest = json.loads(synth.manifest.read_text())
    with FaersStore(tmp / "s.duckdb") as store:
        report = ingest_faers(synth.zips, store, load_products())
        spec = SignalSpec(strata=("age_band", "sex", "report_year"), products_only=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", StatisticalCaveatWarning)
            result = screen_store(store, spec, load_products(), load_topics())
    # Each zero-cell warning names as many tables as the result flags.
    flagged = sum(result.table.column("zero_cell_corrected").to_pylist())
    assert sum(int(str(w.message).split()[0]) for w in caught) == flagged
    return manifest, report.cases, result


def test_deduplication_matches_the_generator(screened: tuple) -> None:
    manifest, cases, _ = screened
    assert cases["demo_rows"] == manifest["reports"]
    assert cases["cases"] == manifest["cases"]
    assert cases["deleted_cases"] == len(set(manifest["deleted_caseids"]))
    assert cases["cases_after_dedup"] == manifest["cases"] - len(set(manifest["deleted_caseids"]))


def test_planted_signals_stand_out(screened: tuple) -> None:
    manifest, _, result = screened
    rows = [r for r in result.table.to_pylist() if r["event_type"] == "pt"]
    by_pair = {(r["drug"], r["event"]): r for r in rows}
    planted = [by_pair.get((p["drug"], p["event"].upper())) for p in manifest["planted_signals"]]
    found = [r for r in planted if r is not None and r["n"] >= 5]
    assert len(found) >= 4
    planted_keys = {(r["drug"], r["event"]) for r in found}
    background = np.array(
        [r["ebgm"] for r in rows if (r["drug"], r["event"]) not in planted_keys and r["drug"].startswith("synthai")]
    )
    assert np.median([r["ebgm"] for r in found]) > 2 * np.median(background)
    assert sum(r["sdr_fda_eb05"] for r in found) >= len(found) // 2


def test_car_t_crs_topic_is_flagged(screened: tuple) -> None:
    """CRS is reported in 39-52% of the calibrated CAR-T products' reports (openFDA figures):
    every CD19 CAR-T product must show an SDR for the CRS topic under all four rules."""
    _, _, result = screened
    crs = {r["drug"]: r for r in result.table.to_pylist() if r["event_type"] == "topic" and r["event"] == "crs"}
    for brand in ("Yescarta", "Kymriah"):
        r = crs[brand]
        assert r["sdr_fda_eb05"] and r["sdr_who_ic025"] and r["sdr_evans_prr"] and r["sdr_ema_ror"], r


def test_attrition_is_recorded(screened: tuple) -> None:
    manifest, cases, result = screened
    steps = {a["step"]: a for a in result.metadata["attrition"]}
    assert steps["latest version per case"]["reports_in"] == manifest["reports"]
    assert steps["latest version per case"]["reports_out"] == manifest["cases"]
    assert steps["FDA-deleted cases excluded"]["reports_out"] == cases["cases_after_dedup"]
    analysed = steps["suspect drug and PT present"]["reports_out"]
    pt_rows = [r for r in result.table.to_pylist() if r["event_type"] == "pt"]
    assert {r["a"] + r["b"] + r["c"] + r["d"] for r in pt_rows} == {analysed}
