"""From pair counts to the result table: the four methods, the prior fit and the SDR rules."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cgtvigil.errors import StatisticalCaveatWarning
from cgtvigil.model import SignalSpec
from cgtvigil.signals import (
    ContingencyTables,
    GammaMixturePrior,
    GammaMixturePriorFitter,
    apply_threshold_rules,
    auto_squash,
    ebgm,
    information_component,
    prior_log_likelihood,
    prr,
    ror,
)

__all__ = ["PriorReport", "rank", "score_pairs"]


@dataclass
class PriorReport:
    prior: GammaMixturePrior
    fitted: bool
    log_likelihood: float
    convergence: dict[str, Any]
    squashed: bool
    n_pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.prior.to_dict(),
            "fitted": self.fitted,
            "log_likelihood": self.log_likelihood,
            "squashed": self.squashed,
            "n_pairs": self.n_pairs,
            "convergence": self.convergence,
        }


def _distinct(n: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (n, e) points, their multiplicities, and the index that maps back.

    Pairs with the same count and expected count have the same IC and EBGM, and enter the
    prior's likelihood as one weighted point: computing on distinct points is exact.
    """
    # sorted by (n, e): by e (quicksort), then stably by n; half the time of np.lexsort, and the
    # order within a group, the only difference, does not matter
    by_e = np.argsort(e)
    order = by_e[np.argsort(n[by_e], kind="stable")]
    ns, es = n[order], e[order]
    start = np.r_[True, (ns[1:] != ns[:-1]) | (es[1:] != es[:-1])]
    group = np.cumsum(start) - 1
    inverse = np.empty_like(group)
    inverse[order] = group
    return ns[start], es[start], np.bincount(group).astype(np.float64), inverse


def _fit_prior(n: np.ndarray, e: np.ndarray, w: np.ndarray, spec: SignalSpec) -> PriorReport:
    """Fit (or take from the spec) the MGPS prior on weighted distinct (n, e) points with
    n >= N* (openEBGM's likelihood: each component truncated at N*)."""
    keep = (n >= spec.n_star) & (e > 0)
    nn, ee, ww = n[keep], e[keep], w[keep]
    n_pairs = int(ww.sum())
    if spec.prior is not None:
        prior = GammaMixturePrior(*spec.prior)
        ll = prior_log_likelihood(prior, nn, ee, ww, n_star=spec.n_star)
        return PriorReport(prior, False, ll, {"source": "given in spec", "n_star": spec.n_star}, False, n_pairs)
    use_squash = spec.squash == "on" or (spec.squash == "auto" and len(nn) > spec.squash_above)
    fitter = GammaMixturePriorFitter(n_star=spec.n_star)
    if use_squash:
        reps = ww.astype(np.int64)
        s = auto_squash(np.repeat(nn, reps), np.repeat(ee, reps))
        fitter.fit(s.n, s.e, s.weight)
    else:
        fitter.fit(nn, ee, ww)
    ll = prior_log_likelihood(fitter.prior_, nn, ee, ww, n_star=spec.n_star)
    return PriorReport(fitter.prior_, True, ll, fitter.convergence_, use_squash, n_pairs)


def _ebgm_columns(
    un: np.ndarray, ue: np.ndarray, weight: np.ndarray, spec: SignalSpec
) -> tuple[dict[str, np.ndarray], PriorReport]:
    """EBGM, EB05 and EB95 of each distinct (n, E) point, and the prior's report."""
    prior_report = _fit_prior(un, ue, weight, spec)
    g = ebgm(un, ue, prior_report.prior)
    return {"ebgm": g.ebgm, "eb05": g.lower, "eb95": g.upper}, prior_report


# the columns that order a result (the first present) and the method each comes from
RANK_KEYS = {"eb05": "ebgm", "ic025": "ic", "ror_lower": "ror", "prr_lower": "prr"}


def _rank_order(score: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Rows by score (NaN last), then n, both descending; ties keep their order. The same
    order as ``np.lexsort((-n, -score))``, from two stable sorts in less time."""
    score = np.where(np.isnan(score), -np.inf, score)
    by_n = np.argsort(-n, kind="stable")
    order: np.ndarray = by_n[np.argsort(-score[by_n], kind="stable")]
    return order


def score_pairs(
    counts: pa.Table,
    spec: SignalSpec,
    *,
    additional_monitoring: np.ndarray | None = None,
    ranked: bool = False,
) -> tuple[pa.Table, PriorReport | None]:
    """Score pair counts (``drug, event, n, n_drug, n_event, n_total`` [+ ``e_strat``]).

    Returns the result table (counts, a-d, expected, every requested statistic and the
    ``sdr_*`` rule flags) and the prior report when EBGM was requested. ``ranked``: the rows
    in the order of :func:`rank`, with drug and event as dictionaries, as :func:`rank` returns
    them; the counts are put in that order before the per-pair statistics are computed (so
    that 7 columns are reordered, not 29).
    """
    n = counts.column("n").to_numpy(zero_copy_only=False).astype(np.float64)
    n_drug = counts.column("n_drug").to_numpy(zero_copy_only=False).astype(np.float64)
    n_event = counts.column("n_event").to_numpy(zero_copy_only=False).astype(np.float64)
    n_total = counts.column("n_total").to_numpy(zero_copy_only=False).astype(np.float64)
    e_strat = (
        counts.column("e_strat").to_numpy(zero_copy_only=False).astype(np.float64)
        if "e_strat" in counts.column_names
        else None
    )
    amon = additional_monitoring if additional_monitoring is not None else np.zeros(len(n), dtype=bool)
    drug: Any = counts.column("drug")
    event: Any = counts.column("event")
    a, b, c = n, n_drug - n, n_event - n
    d = n_total - n_drug - n_event + n
    tables = ContingencyTables.from_counts(a, b, c, d)
    expected = e_strat if e_strat is not None else tables.expected
    zero_cells = int(tables.zero_cell.sum())
    if zero_cells and ("prr" in spec.methods or "ror" in spec.methods):
        warnings.warn(
            f"{zero_cells} tables have a zero cell; 0.5 was added to their cells for PRR and ROR "
            "(flagged in 'zero_cell_corrected').",
            StatisticalCaveatWarning,
            stacklevel=2,
        )
    un, ue, weight, back = _distinct(n, expected)
    key = next((k for k, method in RANK_KEYS.items() if method in spec.methods), None)
    prior_report = None
    at_points: dict[str, np.ndarray] = {}  # statistics of the distinct (n, E) points
    # The prior fit and EBGM run in a second thread while IC (and PRR and ROR, unless the order
    # of the rows waits for EB05) are computed: NumPy and SciPy release the GIL in their loops.
    with ThreadPoolExecutor(max_workers=1) as pool:
        bayes = pool.submit(_ebgm_columns, un, ue, weight, spec) if "ebgm" in spec.methods else None
        if "ic" in spec.methods:
            i = information_component(un, ue, alpha=spec.alpha, method=spec.ic_method)
            at_points |= {"ic": i.ic, "ic025": i.lower, "ic975": i.upper}
        order = None
        if ranked and key in ("eb05", "ic025"):
            if bayes is not None:
                columns, prior_report = bayes.result()
                at_points |= columns
                bayes = None
            order = _rank_order(at_points[key][back], n)
            n, n_drug, n_event, n_total, amon, back = (x[order] for x in (n, n_drug, n_event, n_total, amon, back))
            e_strat = e_strat[order] if e_strat is not None else None
            drug, event = (pc.dictionary_encode(x.combine_chunks()).take(order) for x in (drug, event))
            a, b, c = n, n_drug - n, n_event - n
            d = n_total - n_drug - n_event + n
            tables = ContingencyTables(a, b, c, d)  # the cells as validated above, reordered
        numeric: dict[str, np.ndarray] = {"n": n}
        if "prr" in spec.methods:
            r = prr(tables, alpha=spec.alpha, yates=spec.yates)
            numeric |= {"prr": r.prr, "prr_lower": r.lower, "prr_upper": r.upper, "chi2": r.chi2}
        if "ror" in spec.methods:
            o = ror(tables, alpha=spec.alpha)
            numeric |= {"ror": o.ror, "ror_lower": o.lower, "ror_upper": o.upper}
        if bayes is not None:
            columns, prior_report = bayes.result()
            at_points |= columns
    for name in ("ic", "ic025", "ic975", "ebgm", "eb05", "eb95"):
        if name in at_points:
            numeric[name] = at_points[name][back]
    crude = tables.expected
    cols: dict[str, Any] = {
        "drug": drug,
        "event": event,
        "n": n.astype(np.int64),
        "a": a.astype(np.int64),
        "b": b.astype(np.int64),
        "c": c.astype(np.int64),
        "d": d.astype(np.int64),
        "expected": e_strat if e_strat is not None else crude,
        "expected_crude": crude,
        "zero_cell_corrected": tables.zero_cell,
    }
    cols |= {k: v for k, v in numeric.items() if k != "n"}
    cols["additional_monitoring"] = amon
    cols |= apply_threshold_rules(numeric, amon)
    table = pa.table({k: v if isinstance(v, pa.ChunkedArray | pa.Array) else pa.array(v) for k, v in cols.items()})
    if ranked and order is None:
        table = rank(table)
    return table, prior_report


def rank(table: pa.Table) -> pa.Table:
    """Order by the strongest available lower bound (EB05, IC025, ROR, PRR), then n; text
    columns become dictionaries (a cheap reorder). A table already in that order is not copied."""
    for key in RANK_KEYS:
        if key in table.column_names:
            order = _rank_order(table.column(key).to_numpy(), table.column("n").to_numpy())
            table = table.combine_chunks()
            for i, field in enumerate(table.schema):
                if pa.types.is_string(field.type):
                    table = table.set_column(i, field.name, pc.dictionary_encode(table.column(i)))
            if bool((order[1:] > order[:-1]).all()):
                return table
            return table.take(pa.array(order))
    return table
