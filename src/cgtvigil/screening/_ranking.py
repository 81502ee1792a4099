"""The learned ranking as a workflow: features from the store, a reference set mapped onto
them, an honest evaluation against the single statistics, a fitted model stored as data, and
a priority with its explanation for every pair of a screen."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil import __version__
from cgtvigil.errors import ValidationError
from cgtvigil.model import ProductDictionary
from cgtvigil.screening._features import FEATURE_NAMES, PairFeatures
from cgtvigil.screening._reference import ReferenceSet, map_reference
from cgtvigil.screening._screen import ScreenResult
from cgtvigil.signals import RankingEvaluation, SignalRanker, evaluate_ranking

__all__ = [
    "RANKING_STATISTICS",
    "RankingReport",
    "add_priority",
    "evaluate_reference",
    "fit_reference",
    "ranking_document",
    "score_features",
]

# The single statistics the ranker is compared with (name -> column of the features).
RANKING_STATISTICS = {"EB05": "eb05", "IC025": "ic025", "ROR025": "ror_lower", "N": "n"}
EXPLAINED = 3  # features named in a pair's explanation


@dataclass
class RankingReport:
    evaluation: RankingEvaluation
    mapping: dict[str, Any]
    pairs: pa.Table  # the labelled pairs with their out-of-fold scores and folds

    def to_dict(self) -> dict[str, Any]:
        return {"mapping": self.mapping, **self.evaluation.to_dict()}


def _labelled(
    features: PairFeatures, reference: ReferenceSet, products: ProductDictionary
) -> tuple[pa.Table, dict[str, Any]]:
    mapped, report = map_reference(reference, features.table, products)
    rows = mapped.join(features.table, ["drug", "event"], join_type="inner").sort_by(
        [("drug", "ascending"), ("event", "ascending")]
    )
    return rows, report


def _statistic(table: pa.Table, column: str) -> np.ndarray:
    v = np.asarray(table.column(column).to_numpy(zero_copy_only=False), dtype=float)
    return np.where(np.isfinite(v), v, np.where(v > 0, np.finfo(float).max, -np.finfo(float).max))


def evaluate_reference(
    features: PairFeatures,
    reference: ReferenceSet,
    products: ProductDictionary,
    *,
    feature_names: Sequence[str] = FEATURE_NAMES,
    model: str = "logistic",
    C: float = 1.0,
    n_splits: int = 5,
    k: int = 10,
    n_boot: int = 1000,
    seed: int = 0,
) -> RankingReport:
    """Cross-validate the ranker grouped by drug on the reference pairs found in the store,
    against EB05, IC025, the ROR lower limit and N on the same pairs and folds."""
    rows, mapping = _labelled(features, reference, products)
    names = list(feature_names)
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if unknown:
        raise ValidationError([f"Unknown ranking features {unknown}; known: {', '.join(FEATURE_NAMES)}."])
    y = np.asarray(rows.column("label").to_numpy(zero_copy_only=False), dtype=int)
    x = PairFeatures(rows).matrix(names)
    stats = {name: _statistic(rows, col) for name, col in RANKING_STATISTICS.items()}
    ev = evaluate_ranking(
        x, y, rows.column("drug").to_numpy(zero_copy_only=False), feature_names=names, statistics=stats,
        model=model, C=C, n_splits=n_splits, k=k, n_boot=n_boot, seed=seed,  # type: ignore[arg-type]
    )  # fmt: skip
    ev.settings["features_metadata"] = features.metadata
    pairs = (
        rows.select(["drug", "event", "label", "n", "eb05", "ic025", "ror_lower"])
        .append_column("ranker_score", pa.array(ev.oof["ranker"]))
        .append_column("fold", pa.array(ev.folds + 1))
    )
    return RankingReport(ev, mapping, pairs)


def fit_reference(
    features: PairFeatures,
    reference: ReferenceSet,
    products: ProductDictionary,
    *,
    feature_names: Sequence[str] = FEATURE_NAMES,
    C: float = 1.0,
) -> tuple[SignalRanker, dict[str, Any]]:
    """Fit the logistic ranker on every reference pair found in the store."""
    rows, mapping = _labelled(features, reference, products)
    names = list(feature_names)
    y = rows.column("label").to_numpy(zero_copy_only=False)
    ranker = SignalRanker(model="logistic", C=C).fit(PairFeatures(rows).matrix(names), y, feature_names=names)
    return ranker, mapping


def ranking_document(ranker: SignalRanker, mapping: dict[str, Any], features: PairFeatures) -> dict[str, Any]:
    """The stored model: coefficients, the feature spec and the training data snapshot."""
    return {
        "kind": "cgtvigil ranking model",
        "software": {"name": "cgtvigil", "version": __version__},
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": ranker.to_dict(),
        "training": {"reference": mapping, "features": features.metadata},
        "notes": ["A priority ranks pairs for review; it is not a causality assessment (GVP IX).",
                  "FAERS has no narratives (not a feature) and no machine-readable label: the label status "
                  "is from the reference safety information list (its version and unconfirmed entries in "
                  "training.features.reference_safety_information)."],
    }  # fmt: skip


def score_features(features: PairFeatures, ranker: SignalRanker) -> pa.Table:
    """Priority (1 = review first), probability and explanation of every pair."""
    missing = [n for n in ranker.feature_names_ if n not in features.table.column_names]
    if missing:
        raise ValidationError([f"The features lack {missing}, which the ranking model needs."])
    x = features.matrix(ranker.feature_names_)
    score = ranker.predict_proba(x)
    contrib = ranker.explain(x)
    order = np.argsort(-score, kind="stable")
    priority = np.empty(len(score), dtype=np.int64)
    priority[order] = np.arange(1, len(score) + 1)
    top = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :EXPLAINED]
    names = ranker.feature_names_
    text = [", ".join(f"{names[j]} {contrib[i, j]:+.2f}" for j in top[i]) for i in range(len(score))]
    detail = [json.dumps({n: round(float(c), 4) for n, c in zip(names, row, strict=True)}) for row in contrib]
    return pa.table({
        "drug": features.table.column("drug"), "event": features.table.column("event"),
        "priority": priority, "priority_score": score, "priority_explanation": text,
        "priority_contributions": detail,
    })  # fmt: skip


def add_priority(result: ScreenResult, scored: pa.Table, model_doc: dict[str, Any]) -> ScreenResult:
    """The screen result with ``priority`` (re-numbered 1.. over the screen's PT pairs),
    ``priority_score`` and its explanation; topic rows and pairs the features lack get none."""
    base = result.table.combine_chunks()
    for i, f in enumerate(base.schema):  # dictionary-encoded strings (the screen's cheap reorder) as text
        if pa.types.is_dictionary(f.type):
            base = base.set_column(i, f.name, pc.cast(base.column(i), pa.string()))
    base = base.append_column("_row", pa.array(np.arange(base.num_rows)))
    pt = base.filter(pc.equal(base.column("event_type"), "pt")).select(["_row", "drug", "event"])
    joined = pt.join(scored.drop_columns(["priority"]), ["drug", "event"], join_type="inner")
    rows = joined.column("_row").to_numpy()
    score = joined.column("priority_score").to_numpy()
    n = base.num_rows
    order = np.argsort(-score, kind="stable")
    prio = np.full(n, None, dtype=object)
    prio[rows[order]] = np.arange(1, len(rows) + 1)
    full_score = np.full(n, np.nan)
    full_score[rows] = score
    text = np.full(n, None, dtype=object)
    text[rows] = joined.column("priority_explanation").to_pylist()
    detail = np.full(n, None, dtype=object)
    detail[rows] = joined.column("priority_contributions").to_pylist()
    table = base.drop_columns(["_row"])
    for name in ("priority", "priority_score", "priority_explanation", "priority_contributions"):
        if name in table.column_names:
            table = table.drop_columns([name])
    table = table.append_column("priority", pa.array(prio.tolist(), pa.int64()))
    table = table.append_column("priority_score", pa.array(full_score, pa.float64(), mask=np.isnan(full_score)))
    table = table.append_column("priority_explanation", pa.array(text.tolist(), pa.string()))
    table = table.append_column("priority_contributions", pa.array(detail.tolist(), pa.string()))
    meta = {
        **result.metadata,
        "ranking": {k: model_doc[k] for k in ("software", "created_at", "model", "training", "notes")},
    }
    meta["ranking"]["scored_pairs"] = len(rows)
    return ScreenResult(table, meta)
