"""From pair counts to the result table: the four methods, the prior fit and the SDR rules."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from cgtvigil.errors import StatisticalCaveatWarning
from cgtvigil.model import SignalSpec
from cgtvigil.signals import (
    ContingencyTables,
    GammaMixturePrior,
    GammaMixturePriorFitter,
    apply_threshold_rules,
    ebgm,
    information_component,
    prior_log_likelihood,
    prr,
    ror,
    squash,
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


def _fit_prior(n: np.ndarray, e: np.ndarray, spec: SignalSpec) -> PriorReport:
    keep = (n >= 1) & (e > 0)
    nn, ee = n[keep], e[keep]
    if spec.prior is not None:
        prior = GammaMixturePrior(*spec.prior)
        return PriorReport(
            prior, False, prior_log_likelihood(prior, nn, ee), {"source": "given in spec"}, False, int(keep.sum())
        )
    use_squash = spec.squash == "on" or (spec.squash == "auto" and len(nn) > spec.squash_above)
    if use_squash:
        s = squash(nn, ee)
        fitter = GammaMixturePriorFitter().fit(s.n, s.e, s.weight)
    else:
        fitter = GammaMixturePriorFitter().fit(nn, ee)
    ll = prior_log_likelihood(fitter.prior_, nn, ee)
    return PriorReport(fitter.prior_, True, ll, fitter.convergence_, use_squash, int(keep.sum()))


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
    if "prr" in spec.methods:
        r = prr(tables, alpha=spec.alpha, yates=spec.yates)
        numeric |= {"prr": r.prr, "prr_lower": r.lower, "prr_upper": r.upper, "chi2": r.chi2}
    if "ror" in spec.methods:
        o = ror(tables, alpha=spec.alpha)
        numeric |= {"ror": o.ror, "ror_lower": o.lower, "ror_upper": o.upper}
    if "ic" in spec.methods:
        i = information_component(n, expected, alpha=spec.alpha, method=spec.ic_method)
        numeric |= {"ic": i.ic, "ic025": i.lower, "ic975": i.upper}
    prior_report = None
    if "ebgm" in spec.methods:
        prior_report = _fit_prior(n, expected, spec)
        g = ebgm(n, expected, prior_report.prior)
        numeric |= {"ebgm": g.ebgm, "eb05": g.lower, "eb95": g.upper}
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
            return table.sort_by([(key, "descending"), ("n", "descending")])
    return table
