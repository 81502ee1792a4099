"""The learned ranking end to end: SYNTHETIC FAERS quarters with planted true signals and
stimulated-reporting negative controls go through the real ingester, the feature SQL and the
grouped cross-validation; the shipped OMOP and EU-ADR reference sets run against the real
FAERS samples."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from cgtvigil.errors import ValidationError
from cgtvigil.model import ProductSafetyInfo, ReferenceSafetyInformation, SignalSpec
from cgtvigil.screening import (
    FEATURE_NAMES,
    add_priority,
    evaluate_reference,
    fit_reference,
    ingest_faers,
    load_reference_set,
    map_reference,
    pair_features,
    ranking_document,
    score_features,
    screen_store,
)
from cgtvigil.signals import SignalRanker
from cgtvigil.store import FaersStore, load_products, load_safety_info, load_topics
from cgtvigil.synth import SynthConfig, generate_faers

QUARTERS = tuple(f"{y}Q{q}" for y in (2023, 2024) for q in range(1, 5))


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("rank")
    cfg = SynthConfig(reports_per_quarter=4000, quarters=QUARTERS, seed=7, n_drugs=300, n_tail_events=600, n_planted=30)
    synth = generate_faers(tmp / "zips", load_products(), cfg)
    with FaersStore(tmp / "s.duckdb") as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_faers(synth.zips, store, load_products())
    return tmp / "s.duckdb", synth.manifest


@pytest.fixture(scope="module")
def features(synth_store: tuple[Path, Path]) -> object:
    with FaersStore(synth_store[0], read_only=True) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pair_features(store, load_products())


def test_ranker_beats_the_best_single_statistic_on_held_out_folds(synth_store: tuple, features: object) -> None:
    """5 folds grouped by drug; the margin over the best of EB05, IC025, ROR025 and N (chosen
    after the fact, in the statistic's favour) has a cluster-bootstrap CI above 0."""
    ref = load_reference_set(synth_store[1])
    report = evaluate_reference(features, ref, load_products(), n_boot=300)  # type: ignore[arg-type]
    m = report.mapping
    manifest = json.loads(synth_store[1].read_text())
    assert m["given"] == len(manifest["true_signals"]) + len(manifest["negative_controls"])
    assert m["mapped"] + len(m["drugs_not_in_store"]) + m["pairs_not_reported_together"] <= m["given"]
    assert m["positives"] >= 20 and m["mapped"] - m["positives"] >= 20
    margin = report.evaluation.margin("auroc")
    assert margin["against"] in ("EB05", "IC025", "ROR025", "N")
    assert margin["lower"] > 0, report.to_dict()
    assert report.evaluation.margin("auprc")["lower"] > 0
    # the out-of-fold scores are the ones the figures were computed from
    assert report.pairs.num_rows == m["mapped"] and set(report.pairs.column("fold").to_pylist()) == {1, 2, 3, 4, 5}


def test_gradient_boosting_is_evaluated_on_the_same_folds(synth_store: tuple, features: object) -> None:
    ref = load_reference_set(synth_store[1])
    lr = evaluate_reference(features, ref, load_products(), n_boot=50)  # type: ignore[arg-type]
    gbm = evaluate_reference(features, ref, load_products(), model="gbm", n_boot=50)  # type: ignore[arg-type]
    assert np.array_equal(lr.evaluation.folds, gbm.evaluation.folds)
    assert lr.evaluation.figure("EB05", "auroc") == gbm.evaluation.figure("EB05", "auroc")
    assert 0.5 < gbm.evaluation.figure("ranker", "auroc")["estimate"] <= 1


def test_disproportionality_features_are_the_screen_numbers(synth_store: tuple, features: object) -> None:
    """EB05, IC025 and the ROR limit of the features equal an ordinary screen's of the same spec."""
    spec = SignalSpec(strata=("age_band", "sex", "report_year"), products_only=False, event_levels=("pt",))
    with FaersStore(synth_store[0], read_only=True) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        screen = {
            (r["drug"], r["event"]): r
            for r in screen_store(store, spec, load_products(), load_topics()).table.to_pylist()
        }
    rows = features.table.to_pylist()  # type: ignore[attr-defined]
    assert len(rows) == len(screen)
    for r in rows[:: max(1, len(rows) // 500)]:
        s = screen[(r["drug"], r["event"])]
        assert (r["n"], r["eb05"], r["ic025"], r["ror_lower"]) == pytest.approx(
            (s["n"], s["eb05"], s["ic025"], s["ror_lower"])
        )
    for name in FEATURE_NAMES:
        assert np.isfinite(features.table.column(name).to_numpy()).all(), name  # type: ignore[attr-defined]


def test_time_indexed_features_see_nothing_after_the_cut_off(synth_store: tuple, features: object) -> None:
    manifest = json.loads(synth_store[1].read_text())
    with FaersStore(synth_store[0], read_only=True) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        early = pair_features(store, load_products(), until="2023Q4")
        cases = store.con.execute(
            "SELECT count(*) FILTER (WHERE quarter <= '2023Q4'), count(*) FROM report WHERE NOT deleted"
        ).fetchall()[0]
    assert early.metadata["data"]["until"] == "2023Q4"
    full_n, early_n = (
        {(r["drug"], r["event"]): r["n"] for r in t.select(["drug", "event", "n"]).to_pylist()}
        for t in (features.table, early.table)  # type: ignore[attr-defined]
    )
    assert all(n <= full_n[k] for k, n in early_n.items())
    assert sum(early_n.values()) < sum(full_n.values()) and cases[0] < cases[1]
    late = [s for s in manifest["true_signals"] if s["first_quarter"] > "2023Q4"]
    assert late, "the generator plants emerging signals"
    # an emerging signal has no excess before it starts: far fewer reports at the cut-off
    for s in late:
        key = (s["drug"], s["event"].upper())
        assert early_n.get(key, 0) <= 0.5 * full_n.get(key, 0) + 2


def test_priority_and_explanation_in_the_screen_result(synth_store: tuple, features: object) -> None:
    ref = load_reference_set(synth_store[1])
    ranker, mapping = fit_reference(features, ref, load_products())  # type: ignore[arg-type]
    doc = ranking_document(ranker, mapping, features)  # type: ignore[arg-type]
    json.dumps(doc)  # the stored model is plain data
    scored = score_features(features, ranker)  # type: ignore[arg-type]
    spec = SignalSpec(strata=("age_band", "sex", "report_year"), products_only=False)
    with FaersStore(synth_store[0], read_only=True) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = screen_store(store, spec, load_products(), load_topics())
    ranked = add_priority(result, scored, doc)
    rows = ranked.table.to_pylist()
    pt = [r for r in rows if r["event_type"] == "pt"]
    assert sorted(r["priority"] for r in pt) == list(range(1, len(pt) + 1))
    assert all(r["priority"] is None for r in rows if r["event_type"] == "topic")
    first = min(pt, key=lambda r: r["priority"])
    assert first["priority_score"] == max(r["priority_score"] for r in pt)
    contributions = json.loads(first["priority_contributions"])
    assert set(contributions) == set(FEATURE_NAMES)
    named = first["priority_explanation"].split(", ")
    assert len(named) == 3 and all(part.split()[0] in FEATURE_NAMES for part in named)
    assert ranked.metadata["ranking"]["model"]["coef"] == ranker.coef_.tolist()


def test_label_status_follows_the_reference_safety_information_and_moves_the_ranking(
    synth_store: tuple, features: object
) -> None:
    """The SQL's label status agrees with the RSI expanded in Python (topics to their PTs); with
    a model that ranks unexpected events first, a pair expected by the shipped RSI drops below an
    unexpected pair of the same product, and rises above it once an RSI lists nothing for it."""
    table = features.table  # type: ignore[attr-defined]
    rsi, topics = load_safety_info(), load_topics()
    meta = features.metadata["reference_safety_information"]  # type: ignore[attr-defined]
    assert meta["version"] == rsi.version and meta["unconfirmed"] and meta["confirmed"] is False
    rows = table.select(["drug", "product_id", "event", "log2_eb05", "label_status", "rsi_status"]).to_pylist()
    terms = {t.id: t.keys() for t in topics.topics}
    listed = {p.product_id for p in rsi.products}
    seen = set()
    for r in rows:
        info = rsi.for_product(r["product_id"]) if r["product_id"] else None
        if info is None:
            assert (r["label_status"], r["rsi_status"]) == (0.0, "no RSI")
            continue
        keys = {k for x in info.expected for k in (terms[x.topic] if x.topic else {str(x.pt).upper()})}
        assert r["label_status"] == (1.0 if r["event"].upper() in keys else -1.0)
        seen.add(r["rsi_status"])
    assert {"expected", "unexpected"} <= seen and sum(meta["pairs"].values()) == len(rows)
    ranker = SignalRanker.from_dict({
        "model": "logistic", "C": 1.0, "feature_names": ["log2_eb05", "label_status"], "mean": [0.0, 0.0],
        "scale": [1.0, 1.0], "coef": [1.0, -3.0], "intercept": 0.0, "n_positive": 2, "n_negative": 2,
    })  # fmt: skip
    cgt = [r for r in rows if r["product_id"] in listed]
    a = max((r for r in cgt if r["label_status"] == 1.0), key=lambda r: r["log2_eb05"])
    b = max((r for r in cgt if r["drug"] == a["drug"] and r["label_status"] == -1.0
             and a["log2_eb05"] - 6 < r["log2_eb05"] < a["log2_eb05"]), key=lambda r: r["log2_eb05"])  # fmt: skip

    def priority(feats: object) -> dict[str, int]:
        s = score_features(feats, ranker).to_pylist()  # type: ignore[arg-type]
        pick = {(a["drug"], a["event"]), (b["drug"], b["event"])}
        return {r["event"]: r["priority"] for r in s if (r["drug"], r["event"]) in pick}

    before = priority(features)
    assert before[b["event"]] < before[a["event"]]
    empty = ReferenceSafetyInformation(
        version="test-empty", products=(ProductSafetyInfo(product_id=a["product_id"], label_version="t", expected=()),)
    )
    with FaersStore(synth_store[0], read_only=True) as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        relabelled = pair_features(store, load_products(), safety_info=empty)
    after = priority(relabelled)
    assert after[a["event"]] < after[b["event"]]
    assert relabelled.metadata["reference_safety_information"]["version"] == "test-empty"


@pytest.mark.parametrize("name", ["omopReferenceSet.csv", "euadrReferenceSet.csv"])
def test_shipped_reference_sets_on_the_real_faers_samples(
    tmp_path: Path, shared: Path, faers_samples: Path, name: str
) -> None:
    """The OHDSI sets map through the third-party outcome-to-PT map; on the two small FAERS
    samples few pairs map, what did not is reported, and the evaluation says why it cannot run."""
    ref = load_reference_set(shared / "reference_sets" / "ohdsi" / name)
    assert ref.event_groups and all(ref.event_groups.values())
    with FaersStore(tmp_path / "s.duckdb") as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ingest_faers([faers_samples / "faers_2017q2", faers_samples / "aers_2004q1"], store, load_products())
        feats = pair_features(store, load_products(), event_groups=ref.event_groups)
    mapped, report = map_reference(ref, feats.table, load_products())
    assert report["given"] == len(ref.pairs) > 90
    assert 0 < report["mapped"] < 10 and report["drugs_not_in_store"]
    assert set(mapped.column("event").to_pylist()) <= set(ref.event_groups)
    with pytest.raises(ValidationError, match="Cross-validation with 5 folds needs"):
        evaluate_reference(feats, ref, load_products())
