"""``score_pairs(..., ranked=True)`` puts the counts in rank order before it scores them (issue
17): its table must be, value for value and type for type, ``rank`` of the unranked table,
ties (equal score and n) included, for every rank key."""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa
import pytest

from cgtvigil.model import SignalSpec
from cgtvigil.screening import rank, score_pairs
from cgtvigil.screening._scoring import _distinct, _rank_order


def _counts(rows: int, seed: int, strata: bool) -> pa.Table:
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 6, rows)  # few distinct counts: many ties
    n_drug = n + rng.integers(0, 4, rows) * 10
    n_event = n + rng.integers(0, 4, rows) * 10
    n_total = np.full(rows, 5_000)
    table = {
        "drug": pa.chunked_array([[f"d{i % 37}" for i in range(rows // 2)], [f"d{i % 41}" for i in range(rows // 2)]]),
        "event": [f"e{i}" for i in range(rows)],
        "n": n,
        "n_drug": n_drug,
        "n_event": n_event,
        "n_total": n_total,
    }
    if strata:
        table["e_strat"] = n_drug * n_event / n_total * rng.choice([0.9, 1.0, 1.1], rows)
    return pa.table(table)


@pytest.mark.parametrize(
    "methods", [("prr", "ror", "ic", "ebgm"), ("prr", "ror", "ic"), ("prr", "ror"), ("prr",), ("ic", "ebgm")]
)
@pytest.mark.parametrize("strata", [False, True])
def test_ranked_scoring_is_rank_of_the_scores(methods: tuple[str, ...], strata: bool) -> None:
    counts = _counts(4_000, seed=len(methods), strata=strata)
    amon = np.arange(counts.num_rows) % 7 == 0
    spec = SignalSpec(methods=methods, prior=(0.2, 0.1, 2.0, 4.0, 1 / 3))  # a given prior: quick
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zero cells
        plain, _ = score_pairs(counts, spec, additional_monitoring=amon)
        ranked, _ = score_pairs(counts, spec, additional_monitoring=amon, ranked=True)
    expected = rank(plain)
    assert ranked.schema == expected.schema
    for name in expected.column_names:
        assert ranked.column(name).combine_chunks().equals(expected.column(name).combine_chunks()), name
    assert ranked.column("drug").type == pa.dictionary(pa.int32(), pa.string())
    assert rank(ranked).equals(ranked)  # already in order: returned as it is


def test_rank_order_is_lexsorts() -> None:
    rng = np.random.default_rng(3)
    score = rng.choice([np.nan, -1.0, 0.0, 0.5, 2.0], 10_000)
    n = rng.integers(1, 4, 10_000)
    assert np.array_equal(_rank_order(score, n), np.lexsort((-n, -np.where(np.isnan(score), -np.inf, score))))


def test_distinct_points_and_their_inverse() -> None:
    rng = np.random.default_rng(4)
    n = rng.integers(1, 5, 5_000).astype(float)
    e = rng.choice([0.5, 1.25, 3.0, np.nan], 5_000)
    un, ue, weight, back = _distinct(n, e)
    order = np.lexsort((e, n))  # the sorted distinct points, as np.lexsort gives them
    ns, es = n[order], e[order]
    keep = np.r_[True, (ns[1:] != ns[:-1]) | (es[1:] != es[:-1])]
    assert np.array_equal(un, ns[keep]) and np.array_equal(ue, es[keep], equal_nan=True)
    assert np.array_equal(un[back], n) and np.array_equal(ue[back], e, equal_nan=True)
    assert weight.sum() == len(n) and np.array_equal(np.bincount(back), weight)
