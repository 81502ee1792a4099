"""The learned ranker and its evaluation harness: exact explanations, grouped folds, metrics
checked against an independent formula, and a harness that can show the ranker losing."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from cgtvigil.errors import ValidationError
from cgtvigil.signals import SignalRanker, evaluate_ranking, precision_at_k, ranking_metrics


def _pairs(seed: int = 0, n_drugs: int = 40, per_drug: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_drugs), per_drug)
    y = (rng.random(len(groups)) < 0.4).astype(int)
    return rng.normal(size=(len(y), 3)), y, groups


def test_logistic_explanation_adds_up_to_the_log_odds() -> None:
    x, y, _ = _pairs()
    x[:, 0] += 2 * y
    r = SignalRanker().fit(x, y, feature_names=["a", "b", "c"])
    assert np.allclose(r.intercept_ + r.explain(x).sum(axis=1), r.decision_function(x))
    assert np.allclose(r.predict_proba(x), 1 / (1 + np.exp(-r.decision_function(x))))
    assert r.coef_[0] > 0.5 > abs(r.coef_[1])


def test_stored_model_scores_the_same() -> None:
    x, y, _ = _pairs(1)
    r = SignalRanker(C=0.3).fit(x, y, feature_names=["a", "b", "c"])
    again = SignalRanker.from_dict(r.to_dict())
    assert np.array_equal(again.decision_function(x), r.decision_function(x))
    with pytest.raises(ValidationError, match="shapes disagree"):
        SignalRanker.from_dict({**r.to_dict(), "coef": [1.0]})


def test_gbm_explains_by_occlusion_and_is_not_stored() -> None:
    x, y, _ = _pairs(2, n_drugs=60)
    x[:, 1] += 2 * y
    r = SignalRanker(model="gbm").fit(x, y, feature_names=["a", "b", "c"])
    contrib = r.explain(x)
    assert np.abs(contrib[:, 1]).mean() > 3 * np.abs(contrib[:, 0]).mean()
    with pytest.raises(ValidationError, match="Only the logistic model is stored"):
        r.to_dict()


def test_fit_refuses_bad_input_with_every_problem() -> None:
    with pytest.raises(ValidationError) as info:
        SignalRanker(model="forest", C=-1).fit([[1.0], [np.nan]], [1, 1], feature_names=["a"])
    text = str(info.value)
    assert "'model'" in text and "'C'" in text and "missing or infinite" in text


def test_auroc_equals_the_mann_whitney_statistic() -> None:
    """Independent formula: AUROC = U / (n_pos n_neg), U from scipy's Mann-Whitney test (ties 1/2)."""
    rng = np.random.default_rng(3)
    y = (rng.random(80) < 0.3).astype(int)
    s = np.round(rng.normal(size=80) + y, 1)  # rounded: ties occur
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert ranking_metrics(y, s, k=10)["auroc"] == pytest.approx(u / (y.sum() * (1 - y).sum()))


def test_precision_at_k_shares_ties_at_the_cut() -> None:
    assert precision_at_k([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1], 2) == 0.75
    assert precision_at_k([1, 1, 0, 0], [4, 3, 2, 1], 2) == 1.0
    assert precision_at_k([0, 0, 1, 1], [4, 3, 2, 1], 2) == 0.0


def test_folds_never_split_a_drug() -> None:
    x, y, g = _pairs(4)
    stat = x[:, 0] + y
    ev = evaluate_ranking(x, y, g, feature_names=["a", "b", "c"], statistics={"S": stat}, n_boot=50)
    for drug in np.unique(g):
        assert len(set(ev.folds[g == drug].tolist())) == 1
    assert (ev.folds >= 0).all() and len(ev.fold_auroc) == 5


def test_the_harness_shows_the_ranker_losing() -> None:
    """The statistic ranks perfectly; the ranker sees only noise: the margin must be negative
    with its whole CI below 0 (a harness that could only report wins would fail here)."""
    x, y, g = _pairs(5, n_drugs=60)
    stat = y + 0.01 * np.arange(len(y)) / len(y)
    ev = evaluate_ranking(x, y, g, feature_names=["a", "b", "c"], statistics={"S": stat}, n_boot=200)
    assert ev.figure("S", "auroc")["estimate"] == 1.0
    m = ev.margin("auroc")
    assert m["against"] == "S" and m["upper"] < 0
    fig = ev.figure("ranker", "auroc")
    assert fig["lower"] < 0.5 < fig["upper"]  # noise ranks at chance, and the CI says so


def test_the_harness_shows_the_ranker_winning_when_it_should() -> None:
    x, y, g = _pairs(6, n_drugs=60)
    x[:, 0] += 3 * y
    stat = np.random.default_rng(6).normal(size=len(y)) + 0.5 * y
    ev = evaluate_ranking(x, y, g, feature_names=["a", "b", "c"], statistics={"S": stat}, n_boot=200)
    assert ev.margin("auroc")["lower"] > 0


def test_too_few_pairs_for_the_folds_is_one_clear_message() -> None:
    x, y, g = _pairs(7, n_drugs=3)
    with pytest.raises(ValidationError, match="Cross-validation with 5 folds needs"):
        evaluate_ranking(x, y, g, feature_names=["a", "b", "c"], statistics={"S": x[:, 0]})


def _logistic_pairs(seed: int, n_drugs: int = 150, per_drug: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels drawn from a known logistic model, log-odds = -0.5 + 1.5 x0: its probabilities
    are the true ones, so a well-fitted ranker's out-of-fold probabilities are calibrated."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_drugs), per_drug)
    x = rng.normal(size=(len(groups), 2))
    y = (rng.random(len(groups)) < 1 / (1 + np.exp(0.5 - 1.5 * x[:, 0]))).astype(int)
    return x, y, groups


def test_out_of_fold_probabilities_are_calibrated_and_the_check_can_fail() -> None:
    """Calibration slope near 1, intercept near 0 and a Brier score below the base rate's for the
    lightly penalised logistic ranker; a penalty strong enough to squeeze the probabilities
    towards the base rate gives a slope far above 1 (under-confident), so the figure is not
    one that can only pass."""
    x, y, g = _logistic_pairs(11)
    names = ["signal", "noise"]
    good = evaluate_ranking(x, y, g, feature_names=names, statistics={"S": x[:, 1]}, n_boot=20).calibration
    assert 0.8 < good["slope"] < 1.25 and abs(good["intercept"]) < 0.25
    assert good["brier"] < good["brier_base_rate"] - 0.05
    assert good["mean_probability"] == pytest.approx(good["observed_rate"], abs=0.03)
    squeezed = evaluate_ranking(x, y, g, feature_names=names, statistics={"S": x[:, 1]}, C=1e-3, n_boot=20)
    assert squeezed.calibration["slope"] > 3
    assert squeezed.to_dict()["calibration"] == squeezed.calibration
    gbm = evaluate_ranking(x, y, g, feature_names=names, statistics={"S": x[:, 1]}, model="gbm", n_boot=20)
    assert 0.6 < gbm.calibration["slope"] < 1.6  # sigmoid-calibrated boosting
