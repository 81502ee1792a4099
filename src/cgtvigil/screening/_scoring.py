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
    order = np.lexsort((e, n))
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
    un: np.ndarray, ue: np.ndarray, weight: np.ndarray, back: np.ndarray, spec: SignalSpec
) -> tuple[dict[str, np.ndarray], PriorReport]:
    prior_report = _fit_prior(un, ue, weight, spec)
    g = ebgm(un, ue, prior_report.prior)
    return {"ebgm": g.ebgm[back], "eb05": g.lower[back], "eb95": g.upper[back]}, prior_report


def score_pairs(
    counts: pa.Table, spec: SignalSpec, *, additional_monitoring: np.ndarray | None = None
) -> tuple[pa.Table, PriorReport | None]:
    """Score pair counts (``drug, event, n, n_drug, n_event, n_total`` [+ ``e_strat``]).

    Returns the result table (counts, a-d, expected, every requested statistic and the
    ``sdr_*`` rule flags) and the prior report when EBGM was requested.
    """
    n = counts.column("n").to_numpy(zero_copy_only=False).astype(np.float64)
    n_drug = counts.column("n_drug").to_numpy(zero_copy_only=False).astype(np.float64)
    n_event = counts.column("n_event").to_numpy(zero_copy_only=False).astype(np.float64)
    n_total = counts.column("n_total").to_numpy(zero_copy_only=False).astype(np.float64)
    a, b, c = n, n_drug - n, n_event - n
    d = n_total - n_drug - n_event + n
    tables = ContingencyTables.from_counts(a, b, c, d)
    crude = tables.expected
    expected = (
        counts.column("e_strat").to_numpy(zero_copy_only=False).astype(np.float64)
        if "e_strat" in counts.column_names
        else crude
    )
    cols: dict[str, Any] = {
        "drug": counts.column("drug"),
        "event": counts.column("event"),
        "n": n.astype(np.int64),
        "a": a.astype(np.int64),
        "b": b.astype(np.int64),
        "c": c.astype(np.int64),
        "d": d.astype(np.int64),
        "expected": expected,
        "expected_crude": crude,
    }
    numeric: dict[str, np.ndarray] = {"n": n}
    if tables.zero_cell.any() and ("prr" in spec.methods or "ror" in spec.methods):
        warnings.warn(
            f"{int(tables.zero_cell.sum())} tables have a zero cell; 0.5 was added to their cells for PRR and ROR "
            "(flagged in 'zero_cell_corrected').",
            StatisticalCaveatWarning,
            stacklevel=2,
        )
    cols["zero_cell_corrected"] = tables.zero_cell
    un, ue, weight, back = _distinct(n, expected)
    prior_report = None
    # The prior fit and EBGM run in a second thread while PRR, ROR and IC are computed:
    # NumPy and SciPy release the GIL in their array loops, so both cores work.
    with ThreadPoolExecutor(max_workers=1) as pool:
        bayes = pool.submit(_ebgm_columns, un, ue, weight, back, spec) if "ebgm" in spec.methods else None
        if "prr" in spec.methods:
            r = prr(tables, alpha=spec.alpha, yates=spec.yates)
            numeric |= {"prr": r.prr, "prr_lower": r.lower, "prr_upper": r.upper, "chi2": r.chi2}
        if "ror" in spec.methods:
            o = ror(tables, alpha=spec.alpha)
            numeric |= {"ror": o.ror, "ror_lower": o.lower, "ror_upper": o.upper}
        if "ic" in spec.methods:
            i = information_component(un, ue, alpha=spec.alpha, method=spec.ic_method)
            numeric |= {"ic": i.ic[back], "ic025": i.lower[back], "ic975": i.upper[back]}
        if bayes is not None:
            columns, prior_report = bayes.result()
            numeric |= columns
    amon = additional_monitoring if additional_monitoring is not None else np.zeros(len(n), dtype=bool)
    flags = apply_threshold_rules(numeric, amon)
    cols |= {k: v for k, v in numeric.items() if k != "n"}
    cols["additional_monitoring"] = amon
    cols |= flags
    table = pa.table({k: v if isinstance(v, pa.ChunkedArray | pa.Array) else pa.array(v) for k, v in cols.items()})
    return table, prior_report


def rank(table: pa.Table) -> pa.Table:
    """Order by the strongest available lower bound (EB05, IC025, ROR, PRR), then n."""
    for key in ("eb05", "ic025", "ror_lower", "prr_lower"):
        if key in table.column_names:
            score = table.column(key).to_numpy()
            score = np.where(np.isnan(score), -np.inf, score)
            order = np.lexsort((-table.column("n").to_numpy(), -score))
            table = table.combine_chunks()
            for i, field in enumerate(table.schema):  # strings as dictionaries: a cheap reorder
                if pa.types.is_string(field.type):
                    table = table.set_column(i, field.name, pc.dictionary_encode(table.column(i)))
            return table.take(pa.array(order))
    return table
