"""Honest evaluation of a pair ranking against single statistics on labelled pairs.

Cross-validation is grouped by drug (``StratifiedGroupKFold``): every pair of a drug is in one
fold, so the ranker never sees a drug it is scored on. Each single statistic (EB05, IC025, ...)
is scored on the same pairs; it learns nothing, so its out-of-fold score is its value.

Figures are pooled over the out-of-fold scores: AUROC (ties count one half), AUPRC (average
precision, scikit-learn's step definition) and precision at the top k (ties at the cut shared
in expectation). Confidence intervals are percentile intervals of a cluster bootstrap that
resamples drugs, not pairs (pairs of one drug are not independent), and the margin of the
ranker over the best single statistic is bootstrapped paired, on the same resampled drugs.
The best single statistic is chosen on the pooled data, after the fact: a choice that favours
the statistic, never the ranker.

Calibration of the ranker's out-of-fold probabilities (:func:`calibration`): the Brier score
beside that of always predicting the observed share of positives, the mean probability beside
that share (calibration in the large), and the calibration slope and intercept (Cox 1958: an
unpenalised logistic regression of the label on the out-of-fold log-odds; slope 1 and intercept
0 when calibrated, slope < 1 for over-confident, > 1 for under-confident probabilities). The
probabilities are calibrated to the reference set's share of positives, not to the share of
true reactions among all the database's pairs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cgtvigil._validation import Problems, param_message
from cgtvigil.errors import ValidationError
from cgtvigil.signals._ranker import Model, SignalRanker

__all__ = ["RankingEvaluation", "calibration", "evaluate_ranking", "precision_at_k", "ranking_metrics"]

METRICS = ("auroc", "auprc", "precision_at_k")


def precision_at_k(y: ArrayLike, score: ArrayLike, k: int) -> float:
    """Share of true pairs among the k highest scores; pairs tied at the cut count in expectation.

    Examples
    --------
    >>> precision_at_k([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1], 2)
    0.75
    """
    t, s = np.asarray(y, dtype=float), np.asarray(score, dtype=float)
    k = min(int(k), len(s))
    if k <= 0:
        return float("nan")
    cut = np.sort(s)[::-1][k - 1]
    above, tied = s > cut, s == cut
    taken = k - int(above.sum())
    return float((t[above].sum() + taken * t[tied].mean()) / k)


def ranking_metrics(y: ArrayLike, score: ArrayLike, *, k: int) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    t, s = np.asarray(y, dtype=int), np.asarray(score, dtype=float)
    if t.min() == t.max():
        return dict.fromkeys(METRICS, float("nan"))
    return {
        "auroc": float(roc_auc_score(t, s)),
        "auprc": float(average_precision_score(t, s)),
        "precision_at_k": precision_at_k(t, s, k),
    }


def calibration(y: ArrayLike, log_odds: ArrayLike) -> dict[str, float]:
    """Brier score, calibration in the large, slope and intercept of predicted log-odds."""
    from sklearn.linear_model import LogisticRegression

    t = np.asarray(y, dtype=int)
    z = np.asarray(log_odds, dtype=float)
    p = 1 / (1 + np.exp(-z))
    rate = float(t.mean())
    cox = LogisticRegression(C=np.inf, max_iter=1000).fit(z.reshape(-1, 1), t)
    return {
        "brier": float(np.mean((p - t) ** 2)), "brier_base_rate": rate * (1 - rate),
        "mean_probability": float(p.mean()), "observed_rate": rate,
        "slope": float(cox.coef_[0, 0]), "intercept": float(cox.intercept_[0]),
    }  # fmt: skip


@dataclass
class RankingEvaluation:
    """Out-of-fold scores and the figures with their bootstrap CIs."""

    figures: list[dict[str, Any]]  # method, metric, estimate, lower, upper
    margins: list[dict[str, Any]]  # metric, against, estimate, lower, upper
    best_statistic: str
    oof: dict[str, NDArray[np.float64]]
    folds: NDArray[np.int64]
    labels: NDArray[np.int64]
    settings: dict[str, Any] = field(default_factory=dict)
    fold_auroc: list[dict[str, Any]] = field(default_factory=list)
    calibration: dict[str, float] = field(default_factory=dict)  # of the ranker's out-of-fold probabilities

    def figure(self, method: str, metric: str) -> dict[str, Any]:
        return next(f for f in self.figures if f["method"] == method and f["metric"] == metric)

    def margin(self, metric: str) -> dict[str, Any]:
        return next(m for m in self.margins if m["metric"] == metric)

    def curves(self) -> list[dict[str, Any]]:
        """ROC and precision-recall points of every method's pooled out-of-fold scores."""
        from sklearn.metrics import precision_recall_curve, roc_curve

        rows: list[dict[str, Any]] = []
        for name, s in self.oof.items():
            fpr, tpr, _ = roc_curve(self.labels, s)
            rows += [{"method": name, "curve": "roc", "x": float(a), "y": float(b), "order": i}
                     for i, (a, b) in enumerate(zip(fpr, tpr, strict=True))]  # fmt: skip
            precision, recall, _ = precision_recall_curve(self.labels, s)
            rows += [{"method": name, "curve": "pr", "x": float(a), "y": float(b), "order": i}
                     for i, (a, b) in enumerate(zip(recall[::-1], precision[::-1], strict=True))]  # fmt: skip
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings, "best_statistic": self.best_statistic, "figures": self.figures,
            "margins": self.margins, "fold_auroc": self.fold_auroc, "calibration": self.calibration,
            "pairs": len(self.labels), "positives": int(self.labels.sum()),
        }  # fmt: skip


def _check(x: np.ndarray, y: np.ndarray, groups: np.ndarray, statistics: Mapping[str, Any], n_splits: int) -> None:
    problems = Problems()
    if x.ndim != 2 or len(x) != len(y) or len(groups) != len(y):
        problems.add(f"evaluate_ranking needs X (pairs x features), y and groups of one length; got {x.shape}, "
                     f"{y.shape}, {groups.shape}.")  # fmt: skip
    for name, s in statistics.items():
        if np.asarray(s).shape != y.shape:
            problems.add(f"The statistic {name!r} has {np.asarray(s).shape} values for {y.shape} pairs.")
    if not isinstance(n_splits, int) or isinstance(n_splits, bool) or n_splits < 2:
        problems.add(param_message("n_splits", "evaluate_ranking", "an integer >= 2", n_splits))
    problems.raise_if_any()
    n_groups = len(np.unique(groups))
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if min(pos, neg) < n_splits or n_groups < n_splits:
        raise ValidationError(
            [f"Cross-validation with {n_splits} folds needs at least {n_splits} positive and {n_splits} negative "
             f"pairs over at least {n_splits} drugs; the mapped reference set has {pos} positive and {neg} negative "
             f"pairs of {n_groups} drugs. Load more data, use a larger reference set or fewer folds."]
        )  # fmt: skip


def evaluate_ranking(
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike,
    *,
    feature_names: list[str],
    statistics: Mapping[str, ArrayLike],
    model: Model = "logistic",
    C: float = 1.0,
    n_splits: int = 5,
    k: int = 10,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> RankingEvaluation:
    """Grouped cross-validation of :class:`SignalRanker` against single statistics.

    ``statistics`` maps a name to one score per pair (higher ranks first), e.g. EB05 and IC025
    of the same pairs. Returns the pooled out-of-fold figures with cluster-bootstrap CIs, the
    ranker's margin over the best statistic for every metric and the calibration of its
    out-of-fold probabilities.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    x = np.asarray(X, dtype=float)
    t = np.asarray(y, dtype=int)
    g = np.asarray(groups)
    _check(x, t, g, statistics, n_splits)
    folds = np.full(len(t), -1, dtype=np.int64)
    oof = np.full(len(t), np.nan)
    fold_auroc = []
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for f, (train, test) in enumerate(splitter.split(x, t, g)):
        if min(t[train].sum(), (1 - t[train]).sum()) < 2:
            raise ValidationError([f"Fold {f + 1} has fewer than 2 training pairs of a class; use fewer folds."])
        ranker = SignalRanker(model=model, C=C, random_state=seed).fit(x[train], t[train], feature_names=feature_names)
        oof[test] = ranker.decision_function(x[test])
        folds[test] = f
        row: dict[str, Any] = {"fold": f + 1, "pairs": len(test), "positives": int(t[test].sum())}
        for name, s in {"ranker": oof, **statistics}.items():
            row[name] = ranking_metrics(t[test], np.asarray(s, dtype=float)[test], k=k)["auroc"]
        fold_auroc.append(row)
    scores = {"ranker": oof, **{n: np.asarray(s, dtype=float) for n, s in statistics.items()}}
    point = {n: ranking_metrics(t, s, k=k) for n, s in scores.items()}
    best = max(statistics, key=lambda n: (point[n]["auroc"], n))
    boots = _bootstrap(t, g, scores, k=k, n_boot=n_boot, seed=seed)
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    figures = []
    for n in scores:
        for m in METRICS:
            vals = boots[n][m]
            figures.append({"method": n, "metric": m, "estimate": point[n][m],
                            "lower": float(np.nanpercentile(vals, lo)),
                            "upper": float(np.nanpercentile(vals, hi))})  # fmt: skip
    margins = []
    for m in METRICS:
        diff = boots["ranker"][m] - boots[best][m]
        margins.append({"metric": m, "against": best, "estimate": point["ranker"][m] - point[best][m],
                        "lower": float(np.nanpercentile(diff, lo)),
                        "upper": float(np.nanpercentile(diff, hi))})  # fmt: skip
    settings = {"model": model, "C": C, "n_splits": n_splits, "k": k, "n_boot": n_boot, "alpha": alpha,
                "seed": seed, "grouped_by": "drug", "bootstrap": "cluster (drugs resampled), percentile",
                "features": feature_names}  # fmt: skip
    return RankingEvaluation(figures, margins, best, scores, folds, t, settings, fold_auroc, calibration(t, oof))


def _bootstrap(
    t: np.ndarray, g: np.ndarray, scores: dict[str, np.ndarray], *, k: int, n_boot: int, seed: int
) -> dict[str, dict[str, np.ndarray]]:
    """Metrics of each method over ``n_boot`` resamples of whole drugs (NaN where a resample
    lacks a class)."""
    rng = np.random.default_rng(seed)
    uniq, codes = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(codes == i) for i in range(len(uniq))]
    out = {n: {m: np.full(n_boot, np.nan) for m in METRICS} for n in scores}
    for b in range(n_boot):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(uniq), len(uniq))])
        if t[idx].min() == t[idx].max():
            continue
        for n, s in scores.items():
            for m, v in ranking_metrics(t[idx], s[idx], k=k).items():
                out[n][m][b] = v
    return out
